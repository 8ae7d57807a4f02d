SELECT contact_limit FROM workspaces WHERE id = %(workspace_id)s;
