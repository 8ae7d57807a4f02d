-- 0003: dry runs are recorded in import_runs too, with status 'dry_run' (their report, nothing
-- written). The idempotency index and the replay lookups only ever consider 'succeeded' runs,
-- so a dry run is never replayed as a committed one.
ALTER TABLE import_runs DROP CONSTRAINT IF EXISTS import_runs_status_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_status_check
    CHECK (status IN ('succeeded', 'failed', 'dry_run'));
