-- Whether the newest part of schema.sql is in place (older databases get upgraded).
SELECT to_regclass('api_rate_limits') IS NOT NULL AS ready;
