-- The merge input of a short batch as a subquery over one JSON array parameter, in place of the
-- merge_rows temp table (no catalog writes, no COPY round trip). Columns as in merge_rows;
-- custom_fields arrives as JSON text and tags as an array literal, as in the COPY. A psycopg2.sql
-- template: merge_rows is the parameter ($2 when prepared).
(
    SELECT
        j.lead_id, j.first_name, j.last_name, j.company, j.title, j.phone, j.linkedin_url,
        j.website, j.notes, j.source, j.status,
        j.custom_fields::jsonb AS custom_fields,
        j.tags::text[] AS tags
    FROM jsonb_to_recordset({merge_rows}::jsonb) AS j (
        lead_id bigint,
        first_name text, last_name text, company text, title text, phone text,
        linkedin_url text, website text, notes text, source text, status text,
        custom_fields text, tags text
    )
)
