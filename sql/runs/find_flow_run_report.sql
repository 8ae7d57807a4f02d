-- The committed run of a workspace recorded by this flow run, if any (a retried load task
-- whose COMMIT went through although its connection broke before the answer came back).
SELECT id, report
FROM import_runs
WHERE workspace_id = %(workspace_id)s
  AND flow_run_id = %(flow_run_id)s
  AND status = 'succeeded';
