-- Replace the fields of one active lead (the API's PATCH, values already validated and merged).
UPDATE leads SET
    email = %(email)s,
    first_name = %(first_name)s,
    last_name = %(last_name)s,
    company = %(company)s,
    title = %(title)s,
    phone = %(phone)s,
    linkedin_url = %(linkedin_url)s,
    website = %(website)s,
    notes = %(notes)s,
    source = %(source)s,
    status = %(status)s,
    custom_fields = %(custom_fields)s,
    tags = %(tags)s::text[],
    updated_at = now()
WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND deleted_at IS NULL
RETURNING id, email, first_name, last_name, company, title, phone, linkedin_url, website, notes,
          source, status, custom_fields, tags, created_at, updated_at, deleted_at;
