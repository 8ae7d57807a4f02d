-- The active keys a revoke would match (see api_key_revoke.sql).
SELECT k.id, w.slug, k.prefix
FROM api_keys AS k
JOIN workspaces AS w ON w.id = k.workspace_id
WHERE k.revoked_at IS NULL
  AND (k.id = %(id)s OR k.key_hash = %(key_hash)s OR k.prefix = %(prefix)s)
  AND (%(slug)s::text IS NULL OR w.slug = %(slug)s)
ORDER BY k.id;
