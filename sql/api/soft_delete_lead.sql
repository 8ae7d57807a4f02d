-- Soft delete one active lead of the workspace by id and lower its campaigns' counts
-- (membership rows stay), as soft_delete_leads.sql does by email.
WITH deleted AS (
    UPDATE leads SET deleted_at = now(), updated_at = now()
    WHERE id = %(id)s AND workspace_id = %(workspace_id)s AND deleted_at IS NULL
    RETURNING id, email, first_name, last_name, company, title, phone, linkedin_url, website,
              notes, source, status, custom_fields, tags, created_at, updated_at, deleted_at
), counted AS (
    UPDATE campaigns AS c SET lead_count = c.lead_count - 1
    FROM campaign_leads AS cl
    JOIN deleted AS d ON d.id = cl.lead_id
    WHERE c.id = cl.campaign_id AND c.workspace_id = %(workspace_id)s
)
SELECT * FROM deleted;
