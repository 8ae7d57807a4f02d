-- Run under the schema lock: the migrations applied to this database (sql/migrations/
-- NNNN_name.sql), one row each, and the newest of them. The CREATE also makes this backend
-- process the catalog changes committed while it waited on the lock (an advisory lock does not),
-- so the SELECT sees a table another migrating transaction just created, never a stale "absent".
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
SELECT coalesce(max(version), 0) AS version FROM schema_migrations;
