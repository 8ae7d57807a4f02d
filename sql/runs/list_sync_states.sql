-- Every sync's stored state, of one workspace or (slug null) of all, by workspace and name.
SELECT w.slug, s.sync_name, s.cursor_column, s.watermark, s.run_id, s.updated_at
FROM sync_state AS s
JOIN workspaces AS w ON w.id = s.workspace_id
WHERE %(slug)s::text IS NULL OR w.slug = %(slug)s
ORDER BY w.slug, s.sync_name;
