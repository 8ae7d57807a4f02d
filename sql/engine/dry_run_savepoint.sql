-- A dry run's writes are undone back to here; its run record is written after.
SAVEPOINT leads_dry_run;
