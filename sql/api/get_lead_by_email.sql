-- The active lead of the workspace with this (normalised) email.
SELECT id, email, first_name, last_name, company, title, phone, linkedin_url, website, notes,
       source, status, custom_fields, tags, created_at, updated_at, deleted_at
FROM leads
WHERE workspace_id = %(workspace_id)s AND email = %(email)s AND deleted_at IS NULL;
