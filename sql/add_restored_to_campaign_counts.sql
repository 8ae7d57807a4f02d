-- Each campaign gains the number of its members restored by this batch.
UPDATE campaigns AS c SET lead_count = c.lead_count + m.restored
FROM (
    SELECT cl.campaign_id, count(*) AS restored
    FROM campaign_leads AS cl
    JOIN merge_rows AS r ON r.lead_id = cl.lead_id
    GROUP BY cl.campaign_id
) AS m
WHERE c.id = m.campaign_id AND c.workspace_id = %(workspace_id)s;
