SELECT count(*) FROM leads WHERE workspace_id = %(workspace_id)s AND deleted_at IS NULL;
