-- existing_leads.sql for a short list of emails, passed as one array literal: no temp table,
-- and each partial index is probed once per email. The indexes read the array through a
-- scalar subquery, so the planner takes it for a parameter: given the literal itself, it
-- estimates each of its ~1000 elements (about 1 ms of planning, for ~6 ms of execution).
WITH batch AS (
    SELECT %(emails)s::text[] AS emails
), active AS (
    -- The id only when asked for: with false, the index alone answers (no heap visits).
    SELECT l.email, CASE WHEN %(active_ids)s THEN l.id END AS active_id
    FROM leads AS l
    WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NULL
      AND l.email = ANY((SELECT b.emails FROM batch AS b)::text[])
), deleted AS (
    -- Only for the emails no active lead has: one with an active lead is never restored.
    SELECT DISTINCT ON (l.email) l.email, l.id
    FROM leads AS l
    WHERE l.workspace_id = %(workspace_id)s AND l.deleted_at IS NOT NULL
      AND l.email = ANY((
          SELECT array_agg(e.email) FROM batch AS b, unnest(b.emails) AS e (email)
          WHERE e.email NOT IN (SELECT a.email FROM active AS a)
      )::text[])
    ORDER BY l.email, l.deleted_at DESC, l.id DESC
)
SELECT
    coalesce(a.email, d.email) AS email,
    a.email IS NOT NULL AS has_active,
    a.active_id,
    d.id AS restore_id
FROM active AS a
FULL JOIN deleted AS d ON d.email = a.email;
