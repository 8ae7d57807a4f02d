-- Workspaces by slug (one, or all when slug is null) with their active leads, counted on the
-- partial unique index of active leads.
SELECT w.id, w.slug, w.name, w.contact_limit, w.created_at,
       (SELECT count(*) FROM leads AS l
        WHERE l.workspace_id = w.id AND l.deleted_at IS NULL) AS active_leads
FROM workspaces AS w
WHERE %(slug)s::text IS NULL OR w.slug = %(slug)s
ORDER BY w.slug;
