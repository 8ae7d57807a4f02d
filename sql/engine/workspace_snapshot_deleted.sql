-- The second half of the snapshot: for each email with soft-deleted leads, the one a restore
-- would undelete (most recently deleted, then highest id), from its partial index. A
-- psycopg2.sql template (COPY takes no parameters), limit as in the first half.
COPY (
    SELECT DISTINCT ON (l.email) l.email, l.id
    FROM leads AS l
    WHERE l.workspace_id = {workspace_id} AND l.deleted_at IS NOT NULL
    ORDER BY l.email, l.deleted_at DESC, l.id DESC
    LIMIT {limit}
) TO STDOUT WITH (FORMAT csv)
