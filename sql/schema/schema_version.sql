-- ensure_schema's check: the newest migration recorded in schema_migrations, 0 when that table
-- does not exist (a new database, or one made by a release before numbered migrations). One
-- round trip that cannot fail on the missing table: PL/pgSQL plans the inner SELECT only when it
-- runs, and hands the number over in a transaction-local setting.
DO $$
BEGIN
    PERFORM set_config('leads_import.schema_version', '0', true);
    IF to_regclass('schema_migrations') IS NOT NULL THEN
        PERFORM set_config(
            'leads_import.schema_version',
            (SELECT coalesce(max(version), 0) FROM schema_migrations)::text,
            true
        );
    END IF;
END
$$;
SELECT current_setting('leads_import.schema_version')::integer AS version;
