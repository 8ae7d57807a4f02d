-- Advance a named sync's watermark, in the same transaction as the leads of its run.
INSERT INTO sync_state (workspace_id, sync_name, cursor_column, watermark, run_id, updated_at)
VALUES (%(workspace_id)s, %(sync_name)s, %(cursor_column)s, %(watermark)s, %(run_id)s, now())
ON CONFLICT (workspace_id, sync_name) DO UPDATE
SET cursor_column = EXCLUDED.cursor_column,
    watermark = EXCLUDED.watermark,
    run_id = EXCLUDED.run_id,
    updated_at = EXCLUDED.updated_at;
