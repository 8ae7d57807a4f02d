-- One campaign of the workspace by id.
SELECT id, name, lead_count
FROM campaigns
WHERE id = %(id)s AND workspace_id = %(workspace_id)s;
