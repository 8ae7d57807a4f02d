-- The most recent runs, newest first, of one workspace or (slug null) of all.
SELECT r.id, w.slug, r.kind, r.source, r.status, r.created, r.restored, r.updated,
       r.duplicates, r.errors, r.total, r.error, r.idempotency_key, r.flow_run_id,
       r.started_at, r.finished_at
FROM import_runs AS r
JOIN workspaces AS w ON w.id = r.workspace_id
WHERE %(slug)s::text IS NULL OR w.slug = %(slug)s
ORDER BY r.id DESC
LIMIT %(limit)s;
