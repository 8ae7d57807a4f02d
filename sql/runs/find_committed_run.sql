-- The committed run of a workspace that used this idempotency key, if any.
SELECT id, payload_sha256, report
FROM import_runs
WHERE workspace_id = %(workspace_id)s
  AND idempotency_key = %(idempotency_key)s
  AND status = 'succeeded';
