-- Whether the newest part of schema.sql is in place (older databases get upgraded).
SELECT to_regclass('sync_state') IS NOT NULL AS ready;
