-- Change what was given (set_name, set_limit); null slugs match nothing.
UPDATE workspaces
SET name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
    contact_limit = CASE WHEN %(set_limit)s THEN %(contact_limit)s::integer ELSE contact_limit END
WHERE slug = %(slug)s
RETURNING id, slug, contact_limit;
