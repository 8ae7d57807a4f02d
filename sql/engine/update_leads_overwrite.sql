-- on_existing = overwrite: each field the row gives replaces the stored one; custom_fields is
-- stored || given (given keys win); tags, when given, replace the stored list. Only leads that
-- change are written (and returned), so `updated` counts real changes. A psycopg2.sql
-- template: merge_input is the merge_rows temp table or the subquery of merge_rows_json.sql
-- (workspace_id a parameter: named, or $1 when prepared)
WITH merged AS (
    SELECT
        l.id,
        coalesce(r.first_name, l.first_name) AS first_name,
        coalesce(r.last_name, l.last_name) AS last_name,
        coalesce(r.company, l.company) AS company,
        coalesce(r.title, l.title) AS title,
        coalesce(r.phone, l.phone) AS phone,
        coalesce(r.linkedin_url, l.linkedin_url) AS linkedin_url,
        coalesce(r.website, l.website) AS website,
        coalesce(r.notes, l.notes) AS notes,
        coalesce(r.source, l.source) AS source,
        coalesce(r.status, l.status) AS status,
        l.custom_fields || coalesce(r.custom_fields, jsonb_build_object()) AS custom_fields,
        CASE WHEN cardinality(r.tags) > 0 THEN r.tags ELSE l.tags END AS tags
    FROM {merge_input} AS r
    JOIN leads AS l ON l.id = r.lead_id
    WHERE l.workspace_id = {workspace_id} AND l.deleted_at IS NULL
)
UPDATE leads AS l SET
    first_name = m.first_name, last_name = m.last_name, company = m.company, title = m.title,
    phone = m.phone, linkedin_url = m.linkedin_url, website = m.website, notes = m.notes,
    source = m.source, status = m.status, custom_fields = m.custom_fields, tags = m.tags,
    updated_at = now()
FROM merged AS m
WHERE l.id = m.id
  AND (m.first_name, m.last_name, m.company, m.title, m.phone, m.linkedin_url, m.website,
       m.notes, m.source, m.status, m.custom_fields, m.tags)
      IS DISTINCT FROM
      (l.first_name, l.last_name, l.company, l.title, l.phone, l.linkedin_url, l.website,
       l.notes, l.source, l.status, l.custom_fields, l.tags)
RETURNING l.id;
