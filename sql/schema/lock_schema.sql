-- Serialises concurrent schema setup (CREATE ... IF NOT EXISTS races on the catalog otherwise).
SELECT pg_advisory_xact_lock(hashtextextended('leads-import:schema', 0));
