-- Soft delete the active leads with these emails and lower their campaigns' counts.
WITH deleted AS (
    UPDATE leads SET deleted_at = now(), updated_at = now()
    WHERE workspace_id = %(workspace_id)s
      AND email = ANY (%(emails)s::text[])
      AND deleted_at IS NULL
    RETURNING id, email
), counted AS (
    UPDATE campaigns AS c SET lead_count = c.lead_count - m.deleted
    FROM (
        SELECT cl.campaign_id, count(*) AS deleted
        FROM campaign_leads AS cl JOIN deleted AS d ON d.id = cl.lead_id
        GROUP BY cl.campaign_id
    ) AS m
    WHERE c.id = m.campaign_id AND c.workspace_id = %(workspace_id)s
)
SELECT email FROM deleted ORDER BY email;
