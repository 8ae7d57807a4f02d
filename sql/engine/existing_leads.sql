-- One row per batch email found in the workspace: is there an active lead, and which
-- soft-deleted lead would be restored (most recently deleted, then highest id).
-- Active and soft-deleted leads are looked up separately so each uses its partial index.
WITH active AS (
    -- The id only when asked for: with false, the index alone answers (no heap visits).
    SELECT l.email, CASE WHEN %(active_ids)s THEN l.id END AS active_id
    FROM leads AS l
    JOIN import_emails AS e ON e.email = l.email
    WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NULL
), deleted AS (
    SELECT DISTINCT ON (l.email) l.email, l.id
    FROM leads AS l
    JOIN import_emails AS e ON e.email = l.email
    WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NOT NULL
    ORDER BY l.email, l.deleted_at DESC, l.id DESC
)
SELECT
    coalesce(a.email, d.email) AS email,
    a.email IS NOT NULL AS has_active,
    a.active_id,
    d.id AS restore_id
FROM active AS a
FULL JOIN deleted AS d ON d.email = a.email;
