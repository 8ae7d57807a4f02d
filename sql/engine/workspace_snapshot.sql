-- The workspace's leads as the classification needs them, one row per email: is there an
-- active lead (and its id), and which soft-deleted lead would be restored (most recently
-- deleted, then highest id). Read once, under the workspace lock, by a streaming import;
-- each half uses its partial index. A psycopg2.sql template (COPY takes no parameters).
COPY (
    WITH active AS (
        SELECT l.email, l.id
        FROM leads AS l
        WHERE l.workspace_id = {workspace_id} AND l.deleted_at IS NULL
    ), deleted AS (
        SELECT DISTINCT ON (l.email) l.email, l.id
        FROM leads AS l
        WHERE l.workspace_id = {workspace_id} AND l.deleted_at IS NOT NULL
        ORDER BY l.email, l.deleted_at DESC, l.id DESC
    )
    SELECT
        coalesce(a.email, d.email) AS email,
        a.email IS NOT NULL AS has_active,
        a.id AS active_id,
        d.id AS restore_id
    FROM active AS a
    FULL JOIN deleted AS d ON d.email = a.email
) TO STDOUT WITH (FORMAT csv)
