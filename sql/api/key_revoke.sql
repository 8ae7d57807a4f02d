-- Revoke one API key by id (a revoked key stays, for the record).
UPDATE api_keys SET revoked_at = now()
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING id;
