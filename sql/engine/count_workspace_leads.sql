-- How many leads the workspace holds, counted up to a cap (each half on its partial index):
-- whether a snapshot of them fits in memory.
SELECT
    (SELECT count(*) FROM (
        SELECT 1 FROM leads
        WHERE workspace_id = %(workspace_id)s AND deleted_at IS NULL
        LIMIT %(cap)s
    ) AS active)
    + (SELECT count(*) FROM (
        SELECT 1 FROM leads
        WHERE workspace_id = %(workspace_id)s AND deleted_at IS NOT NULL
        LIMIT %(cap)s
    ) AS deleted);
