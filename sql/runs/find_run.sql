-- One run with everything it recorded (`leads runs show`).
SELECT r.id, w.slug, r.kind, r.source, r.status, r.created, r.restored, r.updated,
       r.duplicates, r.errors, r.total, r.error, r.idempotency_key, r.flow_run_id::text,
       r.started_at, r.finished_at, r.parameters, r.report, r.timings
FROM import_runs AS r
JOIN workspaces AS w ON w.id = r.workspace_id
WHERE r.id = %(run_id)s;
