INSERT INTO workspaces (slug, name, contact_limit)
VALUES (%(slug)s, %(name)s, %(contact_limit)s)
ON CONFLICT (slug) DO NOTHING
RETURNING id, slug, contact_limit;
