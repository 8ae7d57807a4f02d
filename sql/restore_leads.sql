-- The restore merge of SPEC section 5, one statement per batch: given fields replace stored
-- ones, custom_fields is stored || given (given keys win), tags are stored then new given ones.
UPDATE leads AS l SET
    first_name = coalesce(r.first_name, l.first_name),
    last_name = coalesce(r.last_name, l.last_name),
    company = coalesce(r.company, l.company),
    title = coalesce(r.title, l.title),
    phone = coalesce(r.phone, l.phone),
    linkedin_url = coalesce(r.linkedin_url, l.linkedin_url),
    website = coalesce(r.website, l.website),
    notes = coalesce(r.notes, l.notes),
    source = coalesce(r.source, l.source),
    status = coalesce(r.status, l.status),
    custom_fields = l.custom_fields || coalesce(r.custom_fields, '{}'::jsonb),
    tags = l.tags || ARRAY(
        SELECT g.tag FROM unnest(r.tags) WITH ORDINALITY AS g (tag, n)
        WHERE g.tag <> ALL (l.tags) ORDER BY g.n
    ),
    deleted_at = NULL,
    updated_at = now()
FROM merge_rows AS r
WHERE l.id = r.lead_id
  AND l.workspace_id = %(workspace_id)s
  AND l.deleted_at IS NOT NULL;
