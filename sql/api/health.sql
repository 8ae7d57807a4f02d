-- The health check: the database answers a query (GET /api/v1/health).
SELECT 1
