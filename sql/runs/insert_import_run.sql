INSERT INTO import_runs (
    workspace_id, kind, source, parameters, idempotency_key, payload_sha256, status,
    created, restored, updated, duplicates, errors, total, report, error, timings, flow_run_id,
    started_at
) VALUES (
    %(workspace_id)s, %(kind)s, %(source)s, %(parameters)s, %(idempotency_key)s,
    %(payload_sha256)s, %(status)s, %(created)s, %(restored)s, %(updated)s, %(duplicates)s,
    %(errors)s, %(total)s, %(report)s, %(error)s, %(timings)s, %(flow_run_id)s, %(started_at)s
)
RETURNING id;
