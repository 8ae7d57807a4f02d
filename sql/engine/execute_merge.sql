-- Run a merge statement of prepare_merge.sql over one batch's merge rows.
EXECUTE {name} (%(workspace_id)s, %(merge_rows)s)
