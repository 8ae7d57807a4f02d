-- Undo a dry run's writes (the workspace lock, taken before the savepoint, stays held).
ROLLBACK TO SAVEPOINT leads_dry_run;
