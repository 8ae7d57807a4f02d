-- Add active leads of the campaign's workspace as members (other ids are ignored), raise
-- lead_count by the members added, and return the campaign with what happened to each id.
WITH wanted AS (
    SELECT DISTINCT unnest(%(lead_ids)s::bigint[]) AS lead_id
), eligible AS (
    SELECT l.id
    FROM leads AS l
    JOIN wanted AS w ON w.lead_id = l.id
    WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NULL
), added AS (
    INSERT INTO campaign_leads (campaign_id, lead_id)
    SELECT %(campaign_id)s, e.id FROM eligible AS e
    ON CONFLICT (campaign_id, lead_id) DO NOTHING
    RETURNING lead_id
), counted AS (
    UPDATE campaigns AS c SET lead_count = c.lead_count + (SELECT count(*) FROM added)
    WHERE c.id = %(campaign_id)s AND c.workspace_id = %(workspace_id)s
    RETURNING c.id, c.name, c.lead_count
)
SELECT c.id, c.name, c.lead_count,
       ARRAY(SELECT lead_id FROM added ORDER BY lead_id) AS added,
       ARRAY(SELECT id FROM eligible ORDER BY id) AS eligible
FROM counted AS c;
