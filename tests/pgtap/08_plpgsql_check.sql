-- Static checks of every PL/pgSQL function of both schemas with
-- plpgsql_check: no errors (unknown columns, type mismatches, bad SQL ...).
-- Trigger functions are checked once per trigger that uses them, against
-- that trigger's table and transition tables.
BEGIN;
SELECT plan(6);

-- The functions plan their queries as they run: under a tenant context, as
-- every caller does (require_tenant() in a WHERE clause is evaluated while
-- planning, and raises SL401 when there is no context at all).
SELECT scoreledger_private.enter_context(tests.uuid_of('tenant', 801), tests.uuid_of('actor', 801));
-- record_documents works on the session's temp tables: create them, as its
-- first call would, so that the checker can see their columns.
SELECT scoreledger_private.ensure_recording_tables();

CREATE FUNCTION tests.plpgsql_check_targets()
RETURNS TABLE (fn regprocedure, relid regclass, newtable name, oldtable name, label text)
LANGUAGE sql STABLE AS $$
  SELECT p.oid::regprocedure, coalesce(t.tgrelid, 0)::regclass, t.tgnewtable, t.tgoldtable,
         p.oid::regprocedure::text || coalesce(' on ' || t.tgrelid::regclass::text || ' (' || t.tgname || ')', '')
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
  LEFT JOIN pg_trigger t ON t.tgfoid = p.oid AND NOT t.tgisinternal
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
$$;

CREATE FUNCTION tests.plpgsql_errors()
RETURNS TABLE (label text, lineno integer, message text)
LANGUAGE sql VOLATILE AS $$
  SELECT x.label, r.lineno, r.message
  FROM tests.plpgsql_check_targets() x
  CROSS JOIN LATERAL plpgsql_check_function_tb(x.fn, x.relid, fatal_errors => false,
                                               newtable => x.newtable, oldtable => x.oldtable) r
  WHERE r.level = 'error'
$$;

SELECT ok((SELECT count(DISTINCT fn) FROM tests.plpgsql_check_targets()) >= 30,
          'the check covers the PL/pgSQL functions of both schemas (sanity)');
SELECT is_empty($$
  SELECT x.label FROM tests.plpgsql_check_targets() x
  WHERE (SELECT prorettype FROM pg_proc WHERE oid = x.fn) = 'trigger'::regtype AND x.relid = 0
$$, 'every trigger function is attached to a trigger, so it can be checked against a table');
SELECT is_empty($$SELECT label || ' line ' || coalesce(lineno::text, '?') || ': ' || message FROM tests.plpgsql_errors()$$,
                'plpgsql_check reports no error in any PL/pgSQL function of scoreledger and scoreledger_private');

-- Self-test: a broken function and a broken trigger function are reported.
CREATE FUNCTION scoreledger_private.plpgsql_check_broken() RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  RETURN (SELECT s.no_such_column FROM scoreledger_private.submissions s LIMIT 1);
END $$;
CREATE FUNCTION scoreledger_private.tg_plpgsql_check_broken() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.no_such_column THEN RETURN NULL; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER plpgsql_check_broken BEFORE INSERT ON scoreledger_private.answers
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_plpgsql_check_broken();
SELECT ok(EXISTS (SELECT 1 FROM tests.plpgsql_errors() WHERE label = 'scoreledger_private.plpgsql_check_broken()'),
          'self-test: an unknown column in a function is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.plpgsql_errors()
                  WHERE label LIKE 'scoreledger_private.tg_plpgsql_check_broken() on scoreledger_private.answers%'),
          'self-test: an unknown column of NEW in a trigger function is reported');
DROP TRIGGER plpgsql_check_broken ON scoreledger_private.answers;
DROP FUNCTION scoreledger_private.tg_plpgsql_check_broken(), scoreledger_private.plpgsql_check_broken();
SELECT is((SELECT count(*) FROM tests.plpgsql_errors()), 0::bigint, 'with the planted functions gone no error remains');

SELECT * FROM finish();
ROLLBACK;
