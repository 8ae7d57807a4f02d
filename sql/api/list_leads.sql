-- One page of the workspace's active leads, newest first. Null filters match everything:
-- statuses (any of), tags (all of), pattern (an ILIKE pattern over email, first, last and full
-- name, and company).
SELECT id, email, first_name, last_name, company, title, phone, linkedin_url, website, notes,
       source, status, custom_fields, tags, created_at, updated_at, deleted_at
FROM leads AS l
WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR l.status = ANY (%(statuses)s::text[]))
  AND (%(tags)s::text[] IS NULL OR l.tags @> %(tags)s::text[])
  AND (%(pattern)s::text IS NULL
       OR l.email ILIKE %(pattern)s
       OR l.first_name ILIKE %(pattern)s
       OR l.last_name ILIKE %(pattern)s
       OR concat_ws(' ', l.first_name, l.last_name) ILIKE %(pattern)s
       OR l.company ILIKE %(pattern)s)
ORDER BY l.id DESC
LIMIT %(limit)s OFFSET %(offset)s;
