-- =====================================================================
-- Tenancy: the transaction-local tenant/actor context, the tenant
-- registry, and row-level security on every tenant-owned table.
-- =====================================================================

-- The context lives in three transaction-local settings that only
-- enter_context writes: the tenant, the actor, and a marker holding the
-- start time of the transaction that set them and the tenant it set. A
-- setting that outlived its transaction (a session-level SET by the
-- application, which survives COMMIT and would follow a pooled connection
-- to its next client) has a stale marker and reads as no context; so does
-- a tenant setting changed since (a value that is not a uuid would
-- otherwise fail every view with 22P02). One inlinable expression of
-- string comparisons, no regular expression: RLS policies and the bulk
-- paths evaluate it per probe (a regex made it 7x dearer, 3.4 us a call).
CREATE OR REPLACE FUNCTION scoreledger.current_tenant()
RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN current_setting('scoreledger.context', true)
                   = 'tx:' || extract(epoch FROM now())::text || '/' || current_setting('scoreledger.tenant_id', true)
              THEN nullif(current_setting('scoreledger.tenant_id', true), '')::uuid END
$$;
COMMENT ON FUNCTION scoreledger.current_tenant() IS
  'The tenant set by set_context for the current transaction, or null (also when a setting was made any other way).';
GRANT EXECUTE ON FUNCTION scoreledger.current_tenant() TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.current_actor()
RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  -- An actor counts only within a live tenant context.
  SELECT CASE WHEN scoreledger.current_tenant() IS NOT NULL
               AND current_setting('scoreledger.actor_id', true)
                   ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
              THEN current_setting('scoreledger.actor_id', true)::uuid END
$$;
COMMENT ON FUNCTION scoreledger.current_actor() IS
  'The acting user set by set_context for the current transaction, or null.';
GRANT EXECUTE ON FUNCTION scoreledger.current_actor() TO scoreledger_app;

-- The one writer of the context (set_context, and check's walk over the
-- tenants). Not granted to the application: it validates nothing.
CREATE OR REPLACE FUNCTION scoreledger_private.enter_context(tenant_id uuid, actor_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  -- The marker's form is the one current_tenant() compares with.
  SELECT set_config('scoreledger.tenant_id', coalesce(tenant_id::text, ''), true),
         set_config('scoreledger.actor_id', coalesce(actor_id::text, ''), true),
         set_config('scoreledger.context', 'tx:' || extract(epoch FROM now())::text || '/' || coalesce(tenant_id::text, ''),
                    true)
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.require_tenant()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tenant uuid := scoreledger.current_tenant();
BEGIN
  IF tenant IS NULL THEN
    PERFORM scoreledger_private.fail('SL401', 'no tenant context: call scoreledger.set_context(tenant_id, actor_id) in this transaction first');
  END IF;
  RETURN tenant;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.require_actor()
RETURNS uuid
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  actor uuid := scoreledger.current_actor();
BEGIN
  PERFORM scoreledger_private.require_tenant();
  IF actor IS NULL THEN
    PERFORM scoreledger_private.fail('SL401', 'no actor: call scoreledger.set_context(tenant_id, actor_id) with the acting user');
  END IF;
  RETURN actor;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.set_context(tenant_id uuid, actor_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF tenant_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL401', 'set_context needs a tenant_id');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = set_context.tenant_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('tenant %s does not exist', tenant_id));
  END IF;
  -- Transaction-local: the context dies with the transaction, so a pooled
  -- connection handed to the next client carries nothing over.
  PERFORM scoreledger_private.enter_context(tenant_id, actor_id);
END
$$;
COMMENT ON FUNCTION scoreledger.set_context(uuid, uuid) IS
  'Sets the tenant (and acting user) for the current transaction only. SL404 if the tenant does not exist.';
GRANT EXECUTE ON FUNCTION scoreledger.set_context(uuid, uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.create_tenant(name text, tenant_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  existing scoreledger_private.tenants;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.create_tenant', 'registry');
  IF name IS NULL OR name !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'name: must be a non-empty string');
  END IF;
  PERFORM scoreledger_private.require_text_within('name', btrim(name, E' \t\r\n'), scoreledger_private.input_limit('name_chars'));
  INSERT INTO scoreledger_private.tenants (tenant_id, name)
  VALUES (coalesce(create_tenant.tenant_id, gen_random_uuid()), btrim(create_tenant.name, E' \t\r\n'))
  ON CONFLICT DO NOTHING;
  SELECT * INTO existing FROM scoreledger_private.tenants t WHERE t.name = btrim(create_tenant.name, E' \t\r\n');
  IF existing.tenant_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL409', format('tenant id %s is already used by another tenant', tenant_id));
  END IF;
  IF create_tenant.tenant_id IS NOT NULL AND existing.tenant_id <> create_tenant.tenant_id THEN
    PERFORM scoreledger_private.fail('SL409',
      format('tenant %L already exists with id %s, not %s', existing.name, existing.tenant_id, tenant_id));
  END IF;
  RETURN existing.tenant_id;
END
$$;
COMMENT ON FUNCTION scoreledger.create_tenant(text, uuid) IS
  'Creates a tenant, idempotent on name; returns its id. Needs no context.';
GRANT EXECUTE ON FUNCTION scoreledger.create_tenant(text, uuid) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.tenants AS
  SELECT t.tenant_id, t.name,
         -- A tenant's governance policy is its own business.
         CASE WHEN t.tenant_id = scoreledger.current_tenant() THEN t.require_approval END AS require_approval,
         CASE WHEN t.tenant_id = scoreledger.current_tenant() THEN t.enforce_capabilities END AS enforce_capabilities,
         t.created_at
  FROM scoreledger_private.tenants t;
COMMENT ON VIEW scoreledger.tenants IS
  'The tenant registry: ids and names of all tenants; the policy columns only for the current tenant.';
GRANT SELECT ON scoreledger.tenants TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Row-level security: each domain file enables it, forced, on its own
-- tables with this helper, right below its banner. Forced, so the owner
-- (and every SECURITY DEFINER function) sees one tenant at a time. With no
-- context, current_tenant() is null and no row matches: fail-closed.
-- `check` reports any private table without it.
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION scoreledger_private.enable_tenant_rls(tbl regclass)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $fn$
BEGIN
  EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', tbl);
  EXECUTE format($p$CREATE POLICY tenant_isolation ON %s
                    USING (tenant_id = (SELECT scoreledger.current_tenant()))
                    WITH CHECK (tenant_id = (SELECT scoreledger.current_tenant()))$p$, tbl);
END
$fn$;

-- The registry is readable by all (ids and names are needed before any
-- context exists) but only writable by create_tenant and, for its own row,
-- by the tenant's policy functions.
ALTER TABLE scoreledger_private.tenants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_read ON scoreledger_private.tenants FOR SELECT USING (true);
CREATE POLICY registry_insert ON scoreledger_private.tenants FOR INSERT WITH CHECK (true);
CREATE POLICY own_row_update ON scoreledger_private.tenants FOR UPDATE
  USING (tenant_id = (SELECT scoreledger.current_tenant()))
  WITH CHECK (tenant_id = (SELECT scoreledger.current_tenant()));

ALTER TABLE scoreledger_private.sql_definitions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY definitions_all ON scoreledger_private.sql_definitions USING (true) WITH CHECK (true);

-- ---------------------------------------------------------------------
-- Isolation (contract section 10): the writers take their locks (the
-- evaluation version's advisory lock, the batch row) and then rely on the
-- next statement's snapshot seeing everything committed before the lock was
-- granted. Only READ COMMITTED takes a snapshot per statement; under
-- REPEATABLE READ or SERIALIZABLE the snapshot of the transaction's first
-- statement would be scored against (a silently wrong score, or 40001).
-- So every writing API function calls this first, before any work or lock
-- (begin_writing_call, sql/30_scoring.sql), and refuses with SL409 naming
-- the level it needs. Reads stay allowed at
-- every level: a consistent older snapshot is a correct read.
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION scoreledger_private.require_read_committed(fn text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
    PERFORM scoreledger_private.fail('SL409', format(
      '%s needs READ COMMITTED isolation; this transaction is %s', fn,
      upper(pg_catalog.current_setting('transaction_isolation'))));
  END IF;
END
$$;
