-- The stored state of a named sync of a workspace (no row before its first committed run).
SELECT cursor_column, watermark
FROM sync_state
WHERE workspace_id = %(workspace_id)s AND sync_name = %(sync_name)s;
