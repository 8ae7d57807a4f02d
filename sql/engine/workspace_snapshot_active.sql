-- The workspace's active leads (email, id), one per email: the first half of the snapshot a
-- streaming import classifies against, read once under the workspace lock. A plain scan; the
-- two halves are joined by the client (transforms.classify.existing_from_halves), which is
-- cheaper than a FULL JOIN here. A psycopg2.sql template (COPY takes no parameters); limit is
-- one more than the leads a snapshot may hold (or ALL), which tells a workspace too large.
COPY (
    SELECT l.email, l.id
    FROM leads AS l
    WHERE l.workspace_id = {workspace_id} AND l.deleted_at IS NULL
    LIMIT {limit}
) TO STDOUT WITH (FORMAT csv)
