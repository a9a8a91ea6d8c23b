-- =====================================================================
-- Guards and the loader: the guard registry, the two generic guards, and
-- the removal of every definition that sql/ no longer makes.
--
-- Guards as a registry. Each domain file declares the triggers that guard
-- its invariants right where it creates them; the registry keeps the
-- function behind each trigger and a digest of its definition, and
-- `check` (sql/90_check.sql) reports any guard that is missing, disabled,
-- pointed at another function or whose function was replaced since load.
-- =====================================================================

ALTER TABLE scoreledger_private.guards ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_all ON scoreledger_private.guards USING (true) WITH CHECK (true);
ALTER TABLE scoreledger_private.loaded_functions ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY registry_all ON scoreledger_private.loaded_functions USING (true) WITH CHECK (true);

-- A guard's digest: its trigger's definition (table, timing, events,
-- WHEN, level) and its function's (body, volatility, SECURITY,
-- search_path), as "trigger:function", so CREATE OR REPLACE of either
-- shows, and which one.
CREATE OR REPLACE FUNCTION scoreledger_private.guard_digest(trigger_oid oid)
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT md5(pg_catalog.pg_get_triggerdef(t.oid)) || ':' || md5(pg_catalog.pg_get_functiondef(t.tgfoid))
  FROM pg_catalog.pg_trigger t WHERE t.oid = trigger_oid
$$;

-- Called by the loader (as the owner) right after a CREATE TRIGGER.
-- Rows not declared again by the latest load are dropped by the loader.
CREATE OR REPLACE FUNCTION scoreledger_private.declare_guard(tbl regclass, trigger_name text, purpose text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
  trg pg_catalog.pg_trigger;
BEGIN
  SELECT t.* INTO trg FROM pg_catalog.pg_trigger t
  WHERE t.tgrelid = tbl AND t.tgname = declare_guard.trigger_name AND NOT t.tgisinternal;
  IF trg.oid IS NULL THEN
    PERFORM scoreledger_private.fail('SL404', format('declare_guard: no trigger %s on %s', trigger_name, tbl));
  END IF;
  INSERT INTO scoreledger_private.guards AS g (table_name, trigger_name, function_name, definition_md5, purpose, declared_in)
  VALUES (tbl::text, declare_guard.trigger_name, trg.tgfoid::regprocedure::text, scoreledger_private.guard_digest(trg.oid),
          purpose, pg_catalog.pg_current_xact_id())
  ON CONFLICT (table_name, trigger_name) DO UPDATE
    SET function_name = excluded.function_name, definition_md5 = excluded.definition_md5,
        purpose = excluded.purpose, declared_in = excluded.declared_in;
END
$$;

-- Every guard whose catalog state differs from its declaration, and every
-- trigger on a private table that no file declared: what is wrong.
CREATE OR REPLACE FUNCTION scoreledger_private.guard_problems()
RETURNS TABLE (table_name text, trigger_name text, problem text)
LANGUAGE sql STABLE
AS $$
  SELECT g.table_name, g.trigger_name,
         CASE WHEN t.oid IS NULL THEN 'missing'
              WHEN t.tgenabled NOT IN ('O', 'A') THEN 'disabled'
              WHEN t.tgfoid::regprocedure::text <> g.function_name THEN 'calls ' || t.tgfoid::regprocedure::text
              WHEN split_part(scoreledger_private.guard_digest(t.oid), ':', 1) <> split_part(g.definition_md5, ':', 1)
                THEN 'trigger redefined since load'
              ELSE 'function replaced since load' END
  FROM scoreledger_private.guards g
  LEFT JOIN pg_catalog.pg_trigger t
    ON t.tgrelid = to_regclass(g.table_name) AND t.tgname = g.trigger_name AND NOT t.tgisinternal
  WHERE t.oid IS NULL OR t.tgenabled NOT IN ('O', 'A') OR t.tgfoid::regprocedure::text <> g.function_name
     OR scoreledger_private.guard_digest(t.oid) <> g.definition_md5
  UNION ALL
  SELECT t.tgrelid::regclass::text, t.tgname, 'not a registered guard'
  FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND NOT t.tgisinternal
    AND NOT EXISTS (SELECT 1 FROM scoreledger_private.guards g
                    WHERE g.table_name = t.tgrelid::regclass::text AND g.trigger_name = t.tgname)
$$;

-- ---------------------------------------------------------------------
-- The two generic guards, shared by the domain files.
-- ---------------------------------------------------------------------

-- Rows that never change once written (published content, a batch's
-- rows on TRUNCATE): UPDATE, DELETE and TRUNCATE refused, for the owner too.
CREATE OR REPLACE FUNCTION scoreledger_private.tg__immutable()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423',
    format('%s rows are immutable (%s refused)', TG_TABLE_NAME, lower(TG_OP)));
  RETURN NULL;
END
$$;

-- Every append-only table (score history, batch events, governance
-- events): UPDATE, DELETE and TRUNCATE refused, for the owner too.
CREATE OR REPLACE FUNCTION scoreledger_private.tg__append_only()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423',
    format('%s: append-only (%s refused)', replace(TG_TABLE_NAME, '_', ' '), lower(TG_OP)));
  RETURN NULL;
END
$$;

-- The loader runs every sql/ file in one transaction, then calls this:
-- every function, view and trigger of the two schemas that the
-- files did not (re)create in this transaction is a leftover of an older
-- version and is dropped, so no file ever carries DROP … IF EXISTS for
-- yesterday's names. CREATE OR REPLACE rewrites the catalog row even when
-- nothing changed, so "written by this transaction" is exactly "defined by
-- the files". No CASCADE: a leftover that something still uses stops the
-- load with the dependency named.
CREATE OR REPLACE FUNCTION scoreledger_private.drop_stale_definitions()
RETURNS SETOF text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  this_load xid := (pg_catalog.pg_current_xact_id()::text::bigint % 4294967296)::text::xid;
  stale record;
BEGIN
  DELETE FROM scoreledger_private.guards g WHERE g.declared_in <> pg_catalog.pg_current_xact_id();
  -- Triggers first, then views, then functions: the order in which the
  -- later ones are freed of what uses them. (Policies need no sweep: the
  -- loader drops them all before the files create them afresh.)
  FOR stale IN
    SELECT 1 AS step, 'trigger' AS kind, t.tgname AS object_name, t.tgrelid::regclass AS rel, NULL::regprocedure AS fn
    FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
    WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
      AND NOT t.tgisinternal AND t.xmin <> this_load
    UNION ALL
    SELECT 3, 'view', NULL, c.oid::regclass, NULL
    FROM pg_catalog.pg_class c
    WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
      AND c.relkind = 'v' AND c.xmin <> this_load
    UNION ALL
    SELECT 4, 'function', NULL, NULL, p.oid::regprocedure
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
      AND p.xmin <> this_load
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    ORDER BY 1
  LOOP
    CASE stale.kind
      WHEN 'trigger' THEN EXECUTE format('DROP TRIGGER %I ON %s', stale.object_name, stale.rel);
      WHEN 'view' THEN EXECUTE format('DROP VIEW %s', stale.rel);
      ELSE EXECUTE format('DROP FUNCTION %s', stale.fn);
    END CASE;
    RETURN NEXT format('%s %s', stale.kind, coalesce(stale.object_name || ' on ' || stale.rel::text, stale.rel::text, stale.fn::text));
  END LOOP;
  -- What the load left, function by function, for check to compare with.
  DELETE FROM scoreledger_private.loaded_functions;
  INSERT INTO scoreledger_private.loaded_functions (function_name, definition_md5)
  SELECT p.oid::regprocedure::text, md5(pg_catalog.pg_get_functiondef(p.oid))
  FROM pg_catalog.pg_proc p
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace) AND p.prokind = 'f'
    AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e');
END
$$;

-- Every function of the two schemas whose definition differs from what the
-- latest load left (replaced, dropped, or added by hand since).
CREATE OR REPLACE FUNCTION scoreledger_private.changed_functions()
RETURNS TABLE (function_name text, problem text)
LANGUAGE sql STABLE
AS $$
  WITH now_defined AS (
    SELECT p.oid::regprocedure::text AS function_name, md5(pg_catalog.pg_get_functiondef(p.oid)) AS definition_md5
    FROM pg_catalog.pg_proc p
    WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace) AND p.prokind = 'f'
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  )
  SELECT coalesce(n.function_name, l.function_name),
         CASE WHEN n.function_name IS NULL THEN 'dropped' WHEN l.function_name IS NULL THEN 'added'
              ELSE 'replaced' END
  FROM now_defined n FULL JOIN scoreledger_private.loaded_functions l ON l.function_name = n.function_name
  WHERE n.definition_md5 IS DISTINCT FROM l.definition_md5
$$;
