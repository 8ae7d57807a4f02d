-- API keys, newest first, of one workspace (slug) or of all when the slug is null.
SELECT k.id, w.slug, k.prefix, k.name, k.created_at, k.revoked_at
FROM api_keys AS k
JOIN workspaces AS w ON w.id = k.workspace_id
WHERE %(slug)s::text IS NULL OR w.slug = %(slug)s
ORDER BY k.id DESC;
