-- Forget a named sync's watermark: its next run reads every row again.
DELETE FROM sync_state
WHERE workspace_id = %(workspace_id)s AND sync_name = %(sync_name)s
RETURNING cursor_column, watermark;
