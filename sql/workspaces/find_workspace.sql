SELECT id, slug, contact_limit FROM workspaces WHERE slug = %(slug)s;
