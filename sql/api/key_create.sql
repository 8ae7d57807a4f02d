-- A new API key of a workspace (only its hash and display prefix are stored).
INSERT INTO api_keys (workspace_id, key_hash, prefix, name)
VALUES (%(workspace_id)s, %(key_hash)s, %(prefix)s, %(name)s)
RETURNING id, created_at;
