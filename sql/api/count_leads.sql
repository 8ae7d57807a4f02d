-- How many active leads api_list_leads.sql pages through (same filters).
SELECT count(*)
FROM leads AS l
WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NULL
  AND (%(statuses)s::text[] IS NULL OR l.status = ANY (%(statuses)s::text[]))
  AND (%(tags)s::text[] IS NULL OR l.tags @> %(tags)s::text[])
  AND (%(pattern)s::text IS NULL
       OR l.email ILIKE %(pattern)s
       OR l.first_name ILIKE %(pattern)s
       OR l.last_name ILIKE %(pattern)s
       OR concat_ws(' ', l.first_name, l.last_name) ILIKE %(pattern)s
       OR l.company ILIKE %(pattern)s);
