-- Admit one API request in one statement: look the key up by its hash (null: no key) and count
-- the request against the key's rate-limit bucket, or the client address's when the key is
-- missing, unknown or revoked.
--
-- The sliding window: the bucket's row holds the times of the requests it let through. The
-- upsert drops those older than the window and, when fewer than the limit remain, records this
-- one; it holds the row's lock, so concurrent requests from any API process are counted one
-- after the other and never both take the last slot. A refused request is not recorded.
-- The transaction does not wait for its WAL flush (a crash may forget a few hits).
--
-- Prepared once per connection (planning costs more than running it): parameters $1 the key's
-- hash (null: no key), $2 the client's bucket, $3 the limit, $4 the window in seconds; run it
-- with api_admit_execute.sql.
PREPARE leads_api_admit (text, text, integer, float8) AS
WITH async_commit AS (
    SELECT set_config('synchronous_commit', 'off', true)
), key AS (
    SELECT k.id AS key_id, w.id AS workspace_id, w.slug, w.contact_limit
    FROM api_keys AS k
    JOIN workspaces AS w ON w.id = k.workspace_id
    WHERE k.key_hash = $1 AND k.revoked_at IS NULL
), now AS (
    SELECT clock_timestamp() AS at, make_interval(secs => $4) AS window
), hit AS (
    INSERT INTO api_rate_limits AS r (bucket, hits, allowed)
    SELECT coalesce('key:' || (SELECT key_id FROM key), $2), ARRAY[now.at], true
    FROM now
    ON CONFLICT (bucket) DO UPDATE SET (hits, allowed) = (
        SELECT
            CASE WHEN count(h.at) < $3
                THEN coalesce(array_agg(h.at ORDER BY h.at) FILTER (WHERE h.at IS NOT NULL), '{}')
                    || max(now.at)
                ELSE coalesce(array_agg(h.at ORDER BY h.at) FILTER (WHERE h.at IS NOT NULL), '{}')
            END,
            count(h.at) < $3
        FROM now
        LEFT JOIN unnest(r.hits) AS h (at) ON h.at > now.at - now.window
    )
    RETURNING r.allowed, cardinality(r.hits) AS used, r.hits[1] AS oldest
)
SELECT
    hit.allowed,
    hit.used,
    extract(epoch FROM hit.oldest + make_interval(secs => $4))::float8,
    extract(epoch FROM clock_timestamp())::float8,
    key.key_id,
    key.workspace_id,
    key.slug,
    key.contact_limit
FROM hit
CROSS JOIN async_commit
LEFT JOIN key ON true;
