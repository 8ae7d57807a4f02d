-- The restore merge of SPEC section 5, one statement per batch: given fields replace stored
-- ones, custom_fields is stored || given (given keys win), tags are stored then new given ones.
-- Each campaign then gains the number of its members restored. A psycopg2.sql template:
-- merge_input is the merge_rows temp table or the subquery of merge_rows_json.sql, and
-- workspace_id a parameter (named, or $1 when prepared).
WITH restored AS (
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
        custom_fields = l.custom_fields || coalesce(r.custom_fields, jsonb_build_object()),
        tags = l.tags || ARRAY(
            SELECT g.tag FROM unnest(r.tags) WITH ORDINALITY AS g (tag, n)
            WHERE g.tag <> ALL (l.tags) ORDER BY g.n
        ),
        deleted_at = NULL,
        updated_at = now()
    FROM {merge_input} AS r
    WHERE l.id = r.lead_id
      AND l.workspace_id = {workspace_id}
      AND l.deleted_at IS NOT NULL
    RETURNING l.id
), counted AS (
    UPDATE campaigns AS c SET lead_count = c.lead_count + m.restored
    FROM (
        SELECT cl.campaign_id, count(*) AS restored
        FROM campaign_leads AS cl
        JOIN restored AS x ON x.id = cl.lead_id
        GROUP BY cl.campaign_id
    ) AS m
    WHERE c.id = m.campaign_id AND c.workspace_id = {workspace_id}
)
SELECT count(*) FROM restored;
