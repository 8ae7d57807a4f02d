-- Serialises imports into one workspace until the transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('leads-import:workspace:' || %(workspace_id)s::text, 0));
