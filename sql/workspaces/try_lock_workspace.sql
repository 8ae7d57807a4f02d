-- The workspace's import lock if no other transaction holds it (true), without waiting.
SELECT pg_try_advisory_xact_lock(hashtextextended('leads-import:workspace:' || %(workspace_id)s::text, 0));
