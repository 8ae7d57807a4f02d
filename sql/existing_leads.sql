-- One row per batch email found in the workspace: is there an active lead, and which
-- soft-deleted lead would be restored (most recently deleted, then highest id).
SELECT
    l.email,
    bool_or(l.deleted_at IS NULL) AS has_active,
    (array_agg(l.id ORDER BY l.deleted_at DESC, l.id DESC)
        FILTER (WHERE l.deleted_at IS NOT NULL))[1] AS restore_id
FROM leads AS l
JOIN import_emails AS e ON e.email = l.email
WHERE l.workspace_id = %(workspace_id)s
GROUP BY l.email;
