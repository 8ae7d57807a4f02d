-- 0002: the foreign key on leads.workspace_id gives way to an equivalent guarantee that costs
-- less per bulk-loaded row (SPEC section 2; figures in sql/migrations/README.md). The foreign key
-- checks every inserted row with its own query; here one check per statement covers the
-- distinct workspace ids of the statement's new rows (a transition table). Both halves stay in
-- the database:
--
-- * leads: an INSERT (or COPY) whose rows name a missing workspace, or an UPDATE of
--   leads.workspace_id to one, fails with SQLSTATE 23503 (foreign_key_violation). The check
--   locks the workspaces it relies on FOR KEY SHARE, as the foreign key's own check does, so a
--   concurrent DELETE or re-key of them waits for this transaction to end, and one that
--   committed first leaves the workspace absent here (or, in REPEATABLE READ and SERIALIZABLE,
--   fails the lock with a serialization failure).
-- * workspaces: a DELETE, a change of id or a TRUNCATE of a workspace that leads (active or
--   soft-deleted) still name fails with 23503. The check runs after the row is locked, in a
--   fresh READ COMMITTED snapshot, so it sees the leads of a transaction it waited for.
--   REPEATABLE READ and SERIALIZABLE keep their older snapshot, in which such leads can be
--   invisible (the foreign key's C code can look past it; PL/pgSQL cannot), so there a
--   workspace cannot be deleted, re-keyed or truncated at all (SQLSTATE 25000): do it in a
--   READ COMMITTED transaction.
--
-- The other tables keep their real foreign keys (only leads is bulk-loaded), so a workspace
-- with campaigns, runs, syncs or API keys is still kept by those. The functions run as their
-- owner (SECURITY DEFINER, search path pinned below), like the foreign key's checks, which
-- run as the table owner: a role allowed to insert leads needs no UPDATE right on workspaces
-- to lock them.
ALTER TABLE leads DROP CONSTRAINT IF EXISTS leads_workspace_id_fkey;

-- The leads half: every workspace a statement's new or re-keyed leads name exists (locked).
CREATE OR REPLACE FUNCTION leads_workspace_exists() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    named bigint[];
    locked bigint[];
    missing bigint;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN  -- AFTER INSERT, with the transition table new_leads
        named := ARRAY(SELECT DISTINCT workspace_id FROM new_leads);
    ELSE  -- AFTER UPDATE OF workspace_id, for a row whose workspace_id changed
        named := ARRAY[NEW.workspace_id];
    END IF;
    IF cardinality(named) = 0 THEN
        RETURN NULL;
    END IF;
    -- One statement both finds and locks them: nothing can come or go between the two.
    locked := ARRAY(
        SELECT id FROM workspaces WHERE id = ANY (named) ORDER BY id FOR KEY SHARE
    );
    IF cardinality(locked) < cardinality(named) THEN
        SELECT min(n) INTO missing FROM unnest(named) AS n WHERE n <> ALL (locked);
        RAISE EXCEPTION
            'insert or update on table "leads" names a workspace that does not exist'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format(
                      'Key (workspace_id)=(%s) is not present in table "workspaces".', missing),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME, COLUMN = 'workspace_id',
                  CONSTRAINT = 'leads_workspace_exists';
    END IF;
    RETURN NULL;
END
$$;

-- The workspaces half: no workspace that leads still name is deleted, re-keyed or truncated.
CREATE OR REPLACE FUNCTION workspaces_keep_leads() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
    kept bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN  -- after every table of the statement is emptied
        SELECT workspace_id INTO kept FROM leads LIMIT 1;
    ELSIF EXISTS (SELECT FROM leads WHERE workspace_id = OLD.id AND deleted_at IS NULL)
        OR EXISTS (SELECT FROM leads WHERE workspace_id = OLD.id AND deleted_at IS NOT NULL)
    THEN  -- two probes, so each uses its partial index (leads has no plain workspace_id index)
        kept := OLD.id;
    END IF;
    IF kept IS NOT NULL THEN
        RAISE EXCEPTION
            'delete, re-key or truncate of "workspaces" would leave leads without their workspace'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "leads".', kept),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'workspaces_keep_leads';
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION
            'a workspace can only be deleted, re-keyed or truncated in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state',
                  DETAIL = format('This transaction is %s: leads committed after its snapshot '
                                  'would be invisible to the check that the workspace has none.',
                                  upper(current_setting('transaction_isolation'))),
                  SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME,
                  CONSTRAINT = 'workspaces_keep_leads';
    END IF;
    RETURN NULL;
END
$$;

-- A SECURITY DEFINER function must not resolve names through the caller's search path: pin it
-- to the schema these tables live in (the one the migrations run in), temporary tables last.
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION leads_workspace_exists() SET search_path = %I, pg_temp',
                   current_schema());
    EXECUTE format('ALTER FUNCTION workspaces_keep_leads() SET search_path = %I, pg_temp',
                   current_schema());
END
$$;

DROP TRIGGER IF EXISTS leads_workspace_exists ON leads;
CREATE TRIGGER leads_workspace_exists
    AFTER INSERT ON leads REFERENCING NEW TABLE AS new_leads
    FOR EACH STATEMENT EXECUTE FUNCTION leads_workspace_exists();

-- Row level, and only for rows whose workspace_id changes: the engine's UPDATEs (restores,
-- merges) never set it, so they pay nothing. (A trigger with a column list cannot have
-- transition tables.)
DROP TRIGGER IF EXISTS leads_workspace_exists_on_update ON leads;
CREATE TRIGGER leads_workspace_exists_on_update
    AFTER UPDATE OF workspace_id ON leads
    FOR EACH ROW WHEN (OLD.workspace_id IS DISTINCT FROM NEW.workspace_id)
    EXECUTE FUNCTION leads_workspace_exists();

DROP TRIGGER IF EXISTS workspaces_keep_leads_on_delete ON workspaces;
CREATE TRIGGER workspaces_keep_leads_on_delete
    AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspaces_keep_leads();

DROP TRIGGER IF EXISTS workspaces_keep_leads_on_rekey ON workspaces;
CREATE TRIGGER workspaces_keep_leads_on_rekey
    AFTER UPDATE OF id ON workspaces
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION workspaces_keep_leads();

-- With the foreign key, TRUNCATE workspaces CASCADE emptied leads too; now it would not, so it
-- is refused while leads has rows (TRUNCATE leads, workspaces together still works).
DROP TRIGGER IF EXISTS workspaces_keep_leads_on_truncate ON workspaces;
CREATE TRIGGER workspaces_keep_leads_on_truncate
    AFTER TRUNCATE ON workspaces
    FOR EACH STATEMENT EXECUTE FUNCTION workspaces_keep_leads();
