-- Serialises schema set-up and migrations: held until the migrating transaction ends, so a
-- concurrent init waits here and then reads the version that transaction committed.
SELECT pg_advisory_xact_lock(hashtextextended('leads-import:schema', 0));
