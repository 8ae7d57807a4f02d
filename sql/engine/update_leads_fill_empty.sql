-- on_existing = fill_empty: a field the row gives is stored only where the lead has none (null
-- or ''); custom_fields gains the keys it lacks (stored keys win); tags are set only when the
-- lead has none. Only leads that change are written (and returned). A psycopg2.sql template:
-- merge_input is the merge_rows temp table or the subquery of merge_rows_json.sql, and
-- workspace_id a parameter (named, or $1 when prepared).
WITH merged AS (
    SELECT
        l.id,
        coalesce(nullif(l.first_name, ''), r.first_name) AS first_name,
        coalesce(nullif(l.last_name, ''), r.last_name) AS last_name,
        coalesce(nullif(l.company, ''), r.company) AS company,
        coalesce(nullif(l.title, ''), r.title) AS title,
        coalesce(nullif(l.phone, ''), r.phone) AS phone,
        coalesce(nullif(l.linkedin_url, ''), r.linkedin_url) AS linkedin_url,
        coalesce(nullif(l.website, ''), r.website) AS website,
        coalesce(nullif(l.notes, ''), r.notes) AS notes,
        coalesce(nullif(l.source, ''), r.source) AS source,
        l.status,
        coalesce(r.custom_fields, jsonb_build_object()) || l.custom_fields AS custom_fields,
        CASE WHEN cardinality(l.tags) = 0 THEN r.tags ELSE l.tags END AS tags
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
