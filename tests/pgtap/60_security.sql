-- Security review (docs/security.md), as catalog checks that fail when a
-- table, view, function or grant opens a hole -- each one proven able to
-- fail by a deliberately bad object planted (and rolled back) below:
--   * every table row-level-security enabled AND forced, its owner bound;
--   * no view bypasses the policies (security_invoker, or an owner that is
--     subject to the policy of every table it reads);
--   * every SECURITY DEFINER function pins its search_path (with pg_temp
--     last), is not executable by PUBLIC and is owned by a role RLS binds;
--   * the app role writes nothing directly, owns nothing, belongs to no
--     role, creates nothing in our schemas, and calls no cross-tenant
--     operator function;
--   * every view of schema scoreledger (found in the catalog, so a new view
--     is swept too) shows tenant A no row of tenant B, and nothing without
--     a context;
--   * code the application plants in its own temporary schema never runs
--     with the owner's rights;
--   * plpgsql_check: no error and no SQL-injection warning.
-- The pooled-connection tests are in tests/py/test_security.py.
BEGIN;
SELECT plan(53);

-- =====================================================================
-- Helpers (created here, rolled back with everything else)
-- =====================================================================

CREATE FUNCTION tests.sec_our_schemas() RETURNS oid[] LANGUAGE sql STABLE AS $$
  SELECT ARRAY['scoreledger'::regnamespace::oid, 'scoreledger_private'::regnamespace::oid]
$$;

-- Superusers and BYPASSRLS roles are not subject to row level security.
CREATE FUNCTION tests.sec_bypasses_rls(role oid) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT r.rolsuper OR r.rolbypassrls FROM pg_roles r WHERE r.oid = role
$$;

CREATE FUNCTION tests.sec_is_security_invoker(options text[]) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(bool_or(o ~* '^security_invoker=(true|on|yes|1)$'), false) FROM unnest(options) o
$$;

-- Tables of our schemas whose rows the policies do not guard for everyone
-- but superusers: RLS not enabled, not forced, or an owner that bypasses it.
CREATE FUNCTION tests.sec_unguarded_tables() RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass::text || CASE
           WHEN NOT c.relrowsecurity THEN ': row level security not enabled'
           WHEN NOT c.relforcerowsecurity THEN ': row level security not forced (its owner is not bound)'
           ELSE ': owned by ' || c.relowner::regrole::text || ', which bypasses row level security' END
  FROM pg_class c
  WHERE c.relnamespace = ANY (tests.sec_our_schemas()) AND c.relkind IN ('r', 'p')
    AND NOT (c.relrowsecurity AND c.relforcerowsecurity AND NOT tests.sec_bypasses_rls(c.relowner))
  ORDER BY 1
$$;

-- Views that read rows without the policies applying. A view reads its
-- relations with its owner's rights (unless security_invoker), so the owner
-- must be subject to RLS, and each table it reads must hold that owner to
-- a policy: RLS enabled, and forced when the owner is the table's owner.
-- A materialized view is a copy: no policy applies to it at all.
CREATE FUNCTION tests.sec_views_bypassing_rls() RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT v.oid::regclass::text || ': a materialized view (row level security cannot apply)'
  FROM pg_class v
  WHERE v.relnamespace = ANY (tests.sec_our_schemas()) AND v.relkind = 'm'
  UNION ALL
  SELECT v.oid::regclass::text || ': owned by ' || v.relowner::regrole::text || ', which bypasses row level security'
  FROM pg_class v
  WHERE v.relnamespace = ANY (tests.sec_our_schemas()) AND v.relkind = 'v'
    AND NOT tests.sec_is_security_invoker(v.reloptions) AND tests.sec_bypasses_rls(v.relowner)
  UNION ALL
  SELECT DISTINCT v.oid::regclass::text || ': reads ' || t.oid::regclass::text || x.reason
  FROM pg_class v
  JOIN pg_rewrite rw ON rw.ev_class = v.oid
  JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
  JOIN pg_class t ON t.oid = d.refobjid AND t.oid <> v.oid
  CROSS JOIN LATERAL (SELECT CASE
      WHEN t.relkind = 'v' AND NOT t.relnamespace = ANY (tests.sec_our_schemas())
        THEN ', a view outside the checked schemas'
      WHEN t.relkind IN ('r', 'p', 'f', 'm') AND NOT t.relrowsecurity
        THEN ', which has no row level security'
      WHEN t.relkind IN ('r', 'p', 'f', 'm') AND t.relowner = v.relowner AND NOT t.relforcerowsecurity
        THEN ', which it owns without forced row level security'
    END AS reason) x
  WHERE v.relnamespace = ANY (tests.sec_our_schemas()) AND v.relkind = 'v'
    AND NOT tests.sec_is_security_invoker(v.reloptions) AND x.reason IS NOT NULL
  ORDER BY 1
$$;

-- SECURITY DEFINER functions of our schemas and what is wrong with them.
CREATE FUNCTION tests.sec_definer_problems()
RETURNS TABLE (fn text, problem text) LANGUAGE sql STABLE AS $$
  SELECT p.oid::regprocedure::text, x.problem
  FROM pg_proc p
  CROSS JOIN LATERAL (VALUES
    (CASE WHEN NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
          THEN 'search_path not pinned' END),
    (CASE WHEN has_function_privilege('public', p.oid, 'EXECUTE') THEN 'PUBLIC may execute it' END),
    (CASE WHEN tests.sec_bypasses_rls(p.proowner)
          THEN 'owned by ' || p.proowner::regrole::text || ', which bypasses row level security' END)
  ) AS x(problem)
  WHERE p.pronamespace = ANY (tests.sec_our_schemas()) AND p.prosecdef AND x.problem IS NOT NULL
  ORDER BY 1, 2
$$;

-- SECURITY DEFINER functions whose pinned search_path does not end with an
-- explicit pg_temp, or lists before it a schema the application can create
-- objects in. PostgreSQL searches the session's temporary schema FIRST for
-- relations and types unless pg_temp is listed -- search_path = '' included
-- -- so a caller's temporary domain named uuid, text or jsonb would replace
-- the built-in type in the function's body (and run its CHECK as the owner).
CREATE FUNCTION tests.sec_definers_temp_not_last() RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT p.oid::regprocedure::text || ' (' || coalesce(s.cfg, 'no search_path') || ')'
  FROM pg_proc p
  LEFT JOIN LATERAL (SELECT c FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%' LIMIT 1) AS s(cfg) ON true
  LEFT JOIN LATERAL (SELECT array_agg(btrim(e, ' "') ORDER BY n) AS path
                     FROM unnest(string_to_array(substr(s.cfg, length('search_path=') + 1), ',')) WITH ORDINALITY u(e, n)) sp
    ON s.cfg IS NOT NULL
  WHERE p.pronamespace = ANY (tests.sec_our_schemas()) AND p.prosecdef
    AND (sp.path IS NULL OR sp.path[cardinality(sp.path)] IS DISTINCT FROM 'pg_temp'
         OR EXISTS (SELECT 1 FROM unnest(sp.path[1:cardinality(sp.path) - 1]) e
                    WHERE e <> 'pg_catalog'
                      AND (to_regnamespace(e) IS NULL OR has_schema_privilege('scoreledger_app', e, 'CREATE'))))
  ORDER BY 1
$$;

-- Write privileges of scoreledger_app on any table, view or sequence of
-- this database (temporary schemas and the system catalogs aside: PUBLIC
-- may UPDATE pg_settings, which is SET), at table or column level.
CREATE FUNCTION tests.sec_app_write_privileges() RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass::text || ': ' || priv
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS priv
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname !~ '^pg_(toast_)?temp_'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND has_table_privilege('scoreledger_app', c.oid, priv)
  UNION ALL
  SELECT c.oid::regclass::text || ': column ' || priv
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'REFERENCES']) AS priv
  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname !~ '^pg_(toast_)?temp_'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND NOT has_table_privilege('scoreledger_app', c.oid, priv)
    AND has_any_column_privilege('scoreledger_app', c.oid, priv)
  UNION ALL
  SELECT c.oid::regclass::text || ': sequence USAGE/UPDATE'
  FROM pg_class c
  WHERE c.relnamespace = ANY (tests.sec_our_schemas()) AND c.relkind = 'S'
    AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege('scoreledger_app', c.oid, 'USAGE, UPDATE') END
  ORDER BY 1
$$;

-- plpgsql_check over every PL/pgSQL function (per trigger for trigger
-- functions): errors, and the security warnings (SQL injection in dynamic
-- SQL: an unsanitised text variable concatenated into an EXECUTE).
CREATE FUNCTION tests.sec_plpgsql_findings()
RETURNS TABLE (label text, level text, lineno integer, message text) LANGUAGE sql VOLATILE AS $$
  SELECT p.oid::regprocedure::text || coalesce(' on ' || t.tgrelid::regclass::text, ''), r.level, r.lineno, r.message
  FROM pg_proc p
  JOIN pg_language l ON l.oid = p.prolang AND l.lanname = 'plpgsql'
  LEFT JOIN pg_trigger t ON t.tgfoid = p.oid AND NOT t.tgisinternal
  CROSS JOIN LATERAL plpgsql_check_function_tb(p.oid, coalesce(t.tgrelid, 0), fatal_errors => false,
                                               other_warnings => false, extra_warnings => false,
                                               performance_warnings => false, security_warnings => true,
                                               newtable => t.tgnewtable, oldtable => t.tgoldtable) r
  WHERE p.pronamespace = ANY (tests.sec_our_schemas()) AND r.level IN ('error', 'security')
$$;

-- ---------------------------------------------------------------------
-- The per-view sweep: every view of schema scoreledger, read by the
-- current role and context, row by row (as jsonb), into view_rows.
-- ---------------------------------------------------------------------
CREATE TEMP TABLE view_rows (phase text NOT NULL, view_name text NOT NULL, row_json jsonb NOT NULL);
GRANT ALL ON view_rows TO PUBLIC;

-- Views that are global by design (docs/security.md): the tenant registry,
-- the error registry and the input bounds. Every other view holds tenant data.
CREATE FUNCTION tests.sec_global_views() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
  SELECT ARRAY['scoreledger.tenants', 'scoreledger.error_codes', 'scoreledger.input_limits']
$$;

CREATE FUNCTION tests.sec_tenant_views() RETURNS SETOF text LANGUAGE sql STABLE AS $$
  SELECT c.oid::regclass::text FROM pg_class c
  WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind IN ('v', 'm')
    AND c.oid::regclass::text <> ALL (tests.sec_global_views())
  ORDER BY 1
$$;

CREATE FUNCTION tests.sec_snapshot_views(phase text) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  v regclass;
  n integer := 0;
BEGIN
  DELETE FROM pg_temp.view_rows r WHERE r.phase = sec_snapshot_views.phase;
  FOR v IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind IN ('v', 'm') ORDER BY c.relname LOOP
    EXECUTE format('INSERT INTO pg_temp.view_rows (phase, view_name, row_json) SELECT $1, $2, to_jsonb(x) FROM %s x', v)
      USING phase, v::text;
    n := n + 1;
  END LOOP;
  RETURN n;
END $$;

-- What the snapshots 'A alone' (tenant A's context before B had data), 'A',
-- 'B' (each tenant's context once both have data) and 'none' (no context)
-- show that they must not.
CREATE FUNCTION tests.sec_view_leaks() RETURNS TABLE (view_name text, problem text) LANGUAGE sql STABLE AS $$
  SELECT v.v, format('shows %s row(s) without a tenant context', count(*))
  FROM tests.sec_tenant_views() AS v(v)
  JOIN pg_temp.view_rows r ON r.view_name = v.v AND r.phase = 'none'
  GROUP BY v.v
  UNION ALL
  SELECT v.v, format('shows tenant A %s row(s) that tenant B sees, e.g. %s', count(*), min(a.row_json::text))
  FROM tests.sec_tenant_views() AS v(v)
  JOIN pg_temp.view_rows a ON a.view_name = v.v AND a.phase = 'A'
  JOIN pg_temp.view_rows b ON b.view_name = v.v AND b.phase = 'B' AND b.row_json = a.row_json
  GROUP BY v.v
  UNION ALL
  SELECT v.v, 'shows tenant A other rows once tenant B has data'
  FROM tests.sec_tenant_views() AS v(v)
  WHERE EXISTS ((SELECT r.row_json FROM pg_temp.view_rows r WHERE r.view_name = v.v AND r.phase = 'A'
                 EXCEPT ALL
                 SELECT r.row_json FROM pg_temp.view_rows r WHERE r.view_name = v.v AND r.phase = 'A alone')
                UNION ALL
                (SELECT r.row_json FROM pg_temp.view_rows r WHERE r.view_name = v.v AND r.phase = 'A alone'
                 EXCEPT ALL
                 SELECT r.row_json FROM pg_temp.view_rows r WHERE r.view_name = v.v AND r.phase = 'A'))
  ORDER BY 1, 2
$$;

-- One tenant's data, through the API as the application: a row in every
-- view of tenant data (a new view needs its row here). Names carry the
-- seed, so that no row of one tenant can equal a row of the other.
CREATE FUNCTION tests.sec_populate(seed int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  sub uuid;
  batch uuid;
  queue uuid;
  review_item uuid;
  judge text := 'judge ' || seed;
BEGIN
  PERFORM tests.make_evaluation(seed);
  PERFORM scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('remedial', seed),
    'title', 'Remedial ' || seed, 'evaluation_id', tests.uuid_of('evaluation', seed)));
  PERFORM scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('assignment', seed),
    'title', 'Assignment ' || seed, 'evaluation_id', tests.uuid_of('evaluation', seed),
    'intervention_after_fails', 1, 'remedial_assignment_id', tests.uuid_of('remedial', seed)));
  sub := tests.submit(seed, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], seed, tests.uuid_of('assignment', seed));
  -- A failed attempt: a rule intervention, its event and remedial work.
  PERFORM tests.submit(seed, 2, ARRAY['A'], ARRAY['C'], ARRAY['D'], seed + 5000, tests.uuid_of('assignment', seed));
  PERFORM scoreledger.start_attempt(tests.uuid_of('remedial', seed), tests.uuid_of('user', 2));
  batch := scoreledger.create_correction_batch('security sweep ' || seed, jsonb_build_array(jsonb_build_object(
    'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', seed),
    'question_version_id', tests.uuid_of('q1', seed))));
  PERFORM scoreledger.apply_correction_batch(batch);
  PERFORM scoreledger.grant_capability(tests.uuid_of('reviewer', seed), 'approve_batch');
  -- A lowering of the policy awaiting another user's confirmation.
  PERFORM scoreledger.set_tenant_policy(true, NULL);
  PERFORM scoreledger.set_tenant_policy(false, NULL);
  PERFORM scoreledger.register_evaluator(judge,
    jsonb_build_object('tone ' || seed, '{"type": "choice", "choices": ["ok", "rude"]}'::jsonb));
  -- A number, a declared choice, and a null (skipped with a warning).
  PERFORM scoreledger.record_evaluation_result(judge, sub,
    jsonb_build_object('accuracy ' || seed, 0.9, 'tone ' || seed, 'ok', 'skipped ' || seed, NULL));
  -- A score the poison trigger refuses (section 6): the score write fails
  -- and is logged in score_write_failures; the result itself is kept.
  PERFORM scoreledger.record_evaluation_result(judge, sub, jsonb_build_object('poison ' || seed, 1));
  queue := scoreledger.create_review_queue('queue ' || seed);
  review_item := scoreledger.add_review_item(queue, sub);
  -- Authoritative and on the same name as the automated score: concordance.
  PERFORM scoreledger.save_annotation(review_item, jsonb_build_object('accuracy ' || seed, 0.8), 'submitted', true);
END $$;

-- =====================================================================
-- 1. Code planted in the application's temporary schema never runs with
--    the owner's rights. (First in the file: it needs a session in which
--    nothing has been recorded yet.)
-- =====================================================================

-- Bumped by any planted code that finds itself running as another role
-- than scoreledger_app. A sequence: its effect survives the rollbacks.
CREATE TEMP SEQUENCE ran_as_definer;
GRANT ALL ON SEQUENCE ran_as_definer TO PUBLIC;
CREATE FUNCTION pg_temp.tg_note_definer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> 'scoreledger_app' THEN
    PERFORM nextval('pg_temp.ran_as_definer');
  END IF;
  RETURN NULL;
END $$;

-- As the application: its own tables under the names of the given
-- scratch tables, each with a trigger, and handed to the owner.
CREATE FUNCTION pg_temp.plant_scratch_tables(ddl jsonb) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
  entry jsonb;
BEGIN
  FOR entry IN SELECT e FROM jsonb_array_elements(ddl) e LOOP
    EXECUTE entry->>'create';
    EXECUTE format('CREATE TRIGGER note_definer BEFORE INSERT OR UPDATE OR DELETE ON pg_temp.%I
                    FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.tg_note_definer()', entry->>'name');
    EXECUTE format('GRANT ALL ON pg_temp.%I TO scoreledger_owner', entry->>'name');
  END LOOP;
  RETURN jsonb_array_length(ddl);
END $$;

SELECT scoreledger.create_tenant('Security probe', tests.uuid_of('tenant', 600));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 600), tests.uuid_of('actor', 600));
SELECT tests.make_evaluation(600);

-- Which tables does recording leave in the session's temporary schema?
-- Their definitions, so that the application can plant look-alikes.
SAVEPOINT discover_scratch;
SELECT tests.submit(600, 1, ARRAY['B'], NULL, NULL);
SELECT coalesce(jsonb_agg(jsonb_build_object('name', c.relname, 'create', format('CREATE TEMP TABLE %I (%s)', c.relname,
         (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                   coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')), ', ' ORDER BY a.attnum)
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))) ORDER BY c.relname), '[]') AS scratch_ddl
FROM pg_class c
WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r' AND c.relowner = 'scoreledger_owner'::regrole
\gset
ROLLBACK TO SAVEPOINT discover_scratch;

SELECT ok(jsonb_array_length(:'scratch_ddl') > 0,
          'probe sanity: recording creates scratch tables in the session''s temporary schema (if it no longer does, drop this probe)');

SAVEPOINT plant_scratch;
SET LOCAL client_min_messages = error;
-- Planting may be refused (no TEMP privilege): then there is nothing to exploit.
SELECT tests.sqlstate_of(format('SELECT pg_temp.plant_scratch_tables(%L)', :'scratch_ddl'));
SELECT tests.sqlstate_of($$SELECT tests.submit(600, 2, ARRAY['B'], NULL, NULL)$$);
ROLLBACK TO SAVEPOINT plant_scratch;
-- (Asserted after the rollback: pgTAP's own record of a test would be rolled back with it.)
SELECT is((SELECT is_called FROM pg_temp.ran_as_definer), false,
          'record_submission never uses a table the application planted in its temporary schema (its trigger would run as the owner)');
SELECT tests.clear_context();

-- =====================================================================
-- 2. Row level security on every table
-- =====================================================================
SELECT is_empty($$SELECT * FROM tests.sec_unguarded_tables()$$,
                'every table of scoreledger and scoreledger_private has row level security enabled AND forced, and an owner it binds');
SELECT ok((SELECT count(*) FROM pg_class c
           WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')) >= 25,
          'sanity: the check above covered the private tables (score layer included)');

-- =====================================================================
-- 3. No view bypasses row level security
-- =====================================================================
SELECT is_empty($$SELECT * FROM tests.sec_views_bypassing_rls()$$,
                'no view bypasses row level security: each is security_invoker, or owned by a role every table it reads holds to a policy');
SELECT ok((SELECT count(*) FROM pg_class c WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind = 'v') >= 20,
          'sanity: the check above covered the API views (score layer included)');
SELECT ok((SELECT count(DISTINCT d.refobjid) FROM pg_class v
           JOIN pg_rewrite rw ON rw.ev_class = v.oid
           JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid AND d.refclassid = 'pg_class'::regclass
           WHERE v.relnamespace = 'scoreledger'::regnamespace AND v.relkind = 'v' AND d.refobjid <> v.oid) >= 15,
          'sanity: the check above followed the views to the tables they read');

-- =====================================================================
-- 4. SECURITY DEFINER functions, and who may call what
-- =====================================================================
SELECT is_empty($$SELECT fn FROM tests.sec_definer_problems() WHERE problem = 'search_path not pinned'$$,
                'every SECURITY DEFINER function of both schemas pins its search_path (proconfig)');
SELECT is_empty($$SELECT fn FROM tests.sec_definer_problems() WHERE problem = 'PUBLIC may execute it'$$,
                'PUBLIC cannot execute any SECURITY DEFINER function of both schemas');
SELECT is_empty($$SELECT fn || ': ' || problem FROM tests.sec_definer_problems() WHERE problem LIKE 'owned by%'$$,
                'every SECURITY DEFINER function is owned by a role row level security binds');
SELECT ok((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = ANY (tests.sec_our_schemas()) AND p.prosecdef) >= 30,
          'sanity: the checks above covered the API''s definer functions (score layer included)');
SELECT is_empty($$SELECT * FROM tests.sec_definers_temp_not_last()$$,
                'every SECURITY DEFINER function''s search_path ends with an explicit pg_temp (else the caller''s temporary types come first)');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
  WHERE p.pronamespace = 'scoreledger_private'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'no function of scoreledger_private is executable by PUBLIC');

-- A view calls functions with the caller's rights, so the app needs
-- EXECUTE on the private functions its views use -- these, and no more.
SELECT set_eq($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
  WHERE p.pronamespace = 'scoreledger_private'::regnamespace AND has_function_privilege('scoreledger_app', p.oid, 'EXECUTE')
$$, ARRAY['scoreledger_private.error_registry()', 'scoreledger_private.input_limits()',
          'scoreledger_private.is_passing(numeric,numeric,numeric)', 'scoreledger_private.score_text(numeric,text)'],
'scoreledger_app may execute exactly the private functions its views call (error_registry, input_limits, is_passing, score_text)');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
  WHERE p.pronamespace = 'scoreledger_private'::regnamespace AND has_function_privilege('scoreledger_app', p.oid, 'EXECUTE')
    AND (p.prosecdef OR p.provolatile <> 'i')
$$, 'those private functions are IMMUTABLE invoker-rights expressions: they read no table');

-- Operator functions read across tenants by switching the tenant setting
-- themselves (enter_context, or the settings directly): none but
-- set_context may be callable by the application.
SELECT is_empty($$
  SELECT p.oid::regprocedure::text FROM pg_proc p
  WHERE p.pronamespace = ANY (tests.sec_our_schemas())
    AND p.prosrc ~ '(set_config\s*\(\s*''scoreledger\.(tenant|actor)_id''|enter_context\s*\()'
    AND p.oid <> 'scoreledger.set_context(uuid,uuid)'::regprocedure
    AND has_function_privilege('scoreledger_app', p.oid, 'EXECUTE')
$$, 'no function that switches the tenant context itself (cross-tenant operator functions) is executable by scoreledger_app');
SELECT ok((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = ANY (tests.sec_our_schemas())
             AND p.prosrc ~ '(set_config\s*\(\s*''scoreledger\.(tenant|actor)_id''|enter_context\s*\()'
             AND p.oid <> 'scoreledger.set_context(uuid,uuid)'::regprocedure) >= 2,
          'sanity: the check above found the operator functions (check_invariants, top_up_scores)');
SELECT is(has_function_privilege('scoreledger_app', 'scoreledger.check_invariants()', 'EXECUTE'), false,
          'scoreledger_app cannot execute check_invariants (it reads every tenant)');

-- =====================================================================
-- 5. The application role
-- =====================================================================
SELECT is((SELECT rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'scoreledger_app'),
          false, 'scoreledger_app is not superuser, has no BYPASSRLS, CREATEROLE or CREATEDB');
SELECT is_empty($$SELECT * FROM tests.sec_app_write_privileges()$$,
                'scoreledger_app holds no INSERT/UPDATE/DELETE/TRUNCATE/REFERENCES/TRIGGER on any table or view of the database (nor column-level, nor on our sequences)');
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c WHERE c.relowner = 'scoreledger_app'::regrole
  UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = 'scoreledger_app'::regrole
  UNION ALL SELECT n.nspname FROM pg_namespace n WHERE n.nspowner = 'scoreledger_app'::regrole
  UNION ALL SELECT t.typname FROM pg_type t WHERE t.typowner = 'scoreledger_app'::regrole
  UNION ALL SELECT d.classid::regclass::text || ' ' || d.objid FROM pg_shdepend d
            WHERE d.deptype = 'o' AND d.refclassid = 'pg_authid'::regclass AND d.refobjid = 'scoreledger_app'::regrole
$$, 'scoreledger_app owns nothing (here, or anywhere in the cluster)');
SELECT is(pg_has_role('scoreledger_app', 'scoreledger_owner', 'MEMBER'), false,
          'scoreledger_app is not a member of scoreledger_owner');
SELECT is_empty($$SELECT m.roleid::regrole::text FROM pg_auth_members m WHERE m.member = 'scoreledger_app'::regrole$$,
                'scoreledger_app is a member of no role at all (pg_write_all_data included): it inherits nothing');
SELECT is_empty($$
  SELECT s || ': ' || priv FROM unnest(ARRAY['scoreledger', 'scoreledger_private']) s, unnest(ARRAY['CREATE']) priv
  WHERE has_schema_privilege('scoreledger_app', s, priv)
  UNION ALL
  SELECT 'scoreledger_private: USAGE' WHERE has_schema_privilege('scoreledger_app', 'scoreledger_private', 'USAGE')
$$, 'scoreledger_app can create nothing in our schemas, and cannot even look up names in the private one');
SELECT is(has_database_privilege('scoreledger_app', current_database(), 'CREATE'), false,
          'scoreledger_app cannot create schemas in the database');

-- =====================================================================
-- 6. Every view, swept as the application: tenant A sees no row of B
-- =====================================================================
-- A failing score writer, for a row in score_write_failures: a trigger that
-- refuses scores named "poison ...".
CREATE FUNCTION tests.tg_security_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'injected failure on score %', NEW.name;
END $$;
CREATE TRIGGER security_poison BEFORE INSERT ON scoreledger_private.scores FOR EACH ROW
  WHEN (NEW.name LIKE 'poison%') EXECUTE FUNCTION tests.tg_security_poison();

SELECT scoreledger.create_tenant('Security A', tests.uuid_of('tenant', 611));
SELECT scoreledger.create_tenant('Security B', tests.uuid_of('tenant', 612));

SELECT tests.authenticate_as(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT tests.sec_populate(611);
SELECT tests.sec_snapshot_views('A alone');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 612), tests.uuid_of('actor', 612));
SELECT tests.sec_populate(612);
-- B is a high-stakes tenant: its policy is its own business.
SELECT scoreledger.set_tenant_policy(true, false);
SELECT tests.sec_snapshot_views('B');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT tests.sec_snapshot_views('A');
SELECT tests.clear_context();

SELECT tests.authenticate_without_context();
SELECT tests.sec_snapshot_views('none');
SELECT tests.clear_context();

SELECT is_empty($$
  SELECT v || ' (tenant ' || p || ')' FROM tests.sec_tenant_views() v, unnest(ARRAY['A', 'B']) p
  WHERE NOT EXISTS (SELECT 1 FROM view_rows r WHERE r.view_name = v AND r.phase = p)
$$, 'the sweep''s data reaches every tenant-data view in both tenants (a new view needs a row in tests.sec_populate)');
SELECT ok((SELECT count(*) FROM tests.sec_tenant_views()) >= 18,
          'sanity: the sweep covers the tenant-data views, found in the catalog (score layer included)');
SELECT is_empty($$SELECT view_name || ': ' || problem FROM tests.sec_view_leaks() WHERE problem LIKE '%without a tenant context'$$,
                'no context: every tenant-data view shows nothing to the application');
SELECT is_empty($$SELECT view_name || ': ' || problem FROM tests.sec_view_leaks() WHERE problem LIKE '%that tenant B sees%'$$,
                'no row any view shows tenant B is shown to tenant A');
SELECT is_empty($$SELECT view_name || ': ' || problem FROM tests.sec_view_leaks() WHERE problem LIKE '%once tenant B has data'$$,
                'every view shows tenant A exactly the rows it showed before tenant B had any data');
SELECT set_eq($$SELECT DISTINCT view_name FROM view_rows WHERE phase = 'none'$$, tests.sec_global_views(),
              'without a context only the global views (tenant and error registries, input bounds) show rows');
SELECT is_empty($$
  SELECT g || ': ' || p || ' sees ' || (SELECT count(*) FROM view_rows r WHERE r.view_name = g AND r.phase = p)
  FROM unnest(tests.sec_global_views()) g, unnest(ARRAY['A', 'B']) p
  WHERE (SELECT count(*) FROM view_rows r WHERE r.view_name = g AND r.phase = p)
        <> (SELECT count(*) FROM view_rows r WHERE r.view_name = g AND r.phase = 'none')
$$, 'the global views show the same number of rows whatever the context');
-- docs/design.md and the view's comment: "ids and names only; no tenant data".
SELECT is_empty($$
  SELECT r.row_json::text FROM view_rows r
  WHERE r.phase = 'A' AND r.view_name = 'scoreledger.tenants'
    AND r.row_json->>'tenant_id' <> tests.uuid_of('tenant', 611)::text
    AND EXISTS (SELECT 1 FROM jsonb_each(r.row_json - ARRAY['tenant_id', 'name', 'created_at']) e WHERE e.value <> 'null')
$$, 'the tenant registry shows tenant A the id and name of another tenant, never its governance policy');

-- Score layer functions: A cannot reach B's objects, whatever ids it passes.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_result(%L, %L, %L)', 'judge 611',
                        tests.uuid_of('submission', 612), '{"x": 1}'),
                 'SL404', '%', 'A: an evaluation result about B''s submission raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.add_review_item(%L, %L)',
                        (SELECT row_json->>'queue_id' FROM view_rows WHERE phase = 'B' AND view_name = 'scoreledger.review_queues' LIMIT 1),
                        tests.uuid_of('submission', 611)),
                 'SL404', '%', 'A: adding an item to B''s review queue raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.save_annotation(%L, %L)',
                        (SELECT row_json->>'item_id' FROM view_rows WHERE phase = 'B' AND view_name = 'scoreledger.review_items' LIMIT 1),
                        '{"x": 1}'),
                 'SL404', '%', 'A: annotating B''s review item raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.write_evaluation_result_scores(%L)',
                        (SELECT row_json->>'result_id' FROM view_rows WHERE phase = 'B' AND view_name = 'scoreledger.evaluation_results' LIMIT 1)),
                 'SL404', '%', 'A: rewriting the scores of B''s evaluation result raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.write_annotation_scores(%L)',
                        (SELECT row_json->>'annotation_id' FROM view_rows WHERE phase = 'B' AND view_name = 'scoreledger.annotations' LIMIT 1)),
                 'SL404', '%', 'A: rewriting the scores of B''s annotation raises SL404');
-- Overwriting by id: the id names A's own (new) row, never B's.
SELECT lives_ok(format('SELECT scoreledger.record_evaluation_result(%L, %L, %L, NULL, %L)', 'judge 611',
                       tests.uuid_of('submission', 611), '{"overwritten": 1}',
                       (SELECT row_json->>'result_id' FROM view_rows WHERE phase = 'B' AND view_name = 'scoreledger.evaluation_results'
                        ORDER BY row_json->>'result_id' LIMIT 1)),
                'A: recording a result under the id of one of B''s results is A''s own write');
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 612), tests.uuid_of('actor', 612));
SELECT tests.sec_snapshot_views('B after A''s attempts');
SELECT tests.clear_context();
SELECT is_empty($$
  (SELECT view_name, row_json FROM view_rows WHERE phase = 'B' EXCEPT ALL
   SELECT view_name, row_json FROM view_rows WHERE phase = 'B after A''s attempts')
  UNION ALL
  (SELECT view_name, row_json FROM view_rows WHERE phase = 'B after A''s attempts' EXCEPT ALL
   SELECT view_name, row_json FROM view_rows WHERE phase = 'B')
$$, 'after all of A''s attempts every view shows tenant B exactly what it showed before');

-- =====================================================================
-- 7. The checks can fail: plant bad objects, see each one reported
--    (then remove them; no savepoint, which would roll back pgTAP's record
--    of these tests too)
-- =====================================================================
-- A table without row level security, and one with it enabled but not forced.
CREATE TABLE scoreledger_private.zz_planted_no_rls (tenant_id uuid PRIMARY KEY);
SET LOCAL ROLE scoreledger_owner;
CREATE TABLE scoreledger_private.zz_planted_not_forced (tenant_id uuid PRIMARY KEY);
ALTER TABLE scoreledger_private.zz_planted_not_forced ENABLE ROW LEVEL SECURITY;
-- A view of the owner over it: the owner reads it unfiltered.
CREATE VIEW scoreledger.zz_planted_owner_view AS SELECT t.tenant_id FROM scoreledger_private.zz_planted_not_forced t;
-- A function the owner creates starts private (default privileges).
CREATE FUNCTION scoreledger_private.zz_planted_owner_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1';
RESET ROLE;
-- Views owned by the superuser running this suite: one definer-rights, one security_invoker.
CREATE VIEW scoreledger.zz_planted_superuser_view AS SELECT s.submission_id FROM scoreledger_private.submissions s;
CREATE VIEW scoreledger.zz_planted_invoker_view WITH (security_invoker = true) AS
  SELECT s.submission_id FROM scoreledger_private.submissions s;
-- A superuser's definer function: no search_path, PUBLIC may execute it, and
-- it builds SQL from its argument.
CREATE FUNCTION scoreledger.zz_planted_definer(who text) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE
  n bigint;
BEGIN
  EXECUTE 'SELECT count(*) FROM scoreledger_private.submissions WHERE user_id::text = ''' || who || '''' INTO n;
  RETURN n;
END $$;
-- Grants that must never exist.
GRANT INSERT ON scoreledger_private.submissions TO scoreledger_app;
GRANT UPDATE (score) ON scoreledger_private.score_history TO scoreledger_app;
GRANT EXECUTE ON FUNCTION scoreledger_private.fail(text, text, text) TO PUBLIC;

SELECT ok((SELECT count(*) FROM tests.sec_unguarded_tables() t WHERE t LIKE 'scoreledger_private.zz_planted_%') = 2,
          'self-test: a table without row level security, and one where it is not forced, are both reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.sec_views_bypassing_rls() v WHERE v LIKE 'scoreledger.zz_planted_superuser_view: owned by%'),
          'self-test: a view owned by a superuser is reported');
SELECT ok(NOT EXISTS (SELECT 1 FROM tests.sec_views_bypassing_rls() v WHERE v LIKE 'scoreledger.zz_planted_invoker_view%'),
          'self-test: a security_invoker view of the same superuser is not');
SELECT ok(EXISTS (SELECT 1 FROM tests.sec_views_bypassing_rls() v
                  WHERE v LIKE 'scoreledger.zz_planted_owner_view: reads scoreledger_private.zz_planted_not_forced%'),
          'self-test: the owner''s view over its table without forced row level security is reported');
SELECT set_eq($$SELECT problem FROM tests.sec_definer_problems() WHERE fn LIKE 'scoreledger.zz_planted_definer%'$$,
              ARRAY['search_path not pinned', 'PUBLIC may execute it',
                    'owned by ' || current_user || ', which bypasses row level security'],
              'self-test: a superuser''s definer function without search_path, executable by PUBLIC, is reported three times');
SELECT ok(EXISTS (SELECT 1 FROM tests.sec_definers_temp_not_last() d WHERE d LIKE 'scoreledger.zz_planted_definer%'),
          'self-test: ... and its missing pg_temp-last search_path too');
SELECT is(has_function_privilege('public', 'scoreledger_private.fail(text,text,text)', 'EXECUTE'), true,
          'self-test: PUBLIC may now execute a private function (the grant took) ...');
SELECT is(has_function_privilege('public', 'scoreledger_private.zz_planted_owner_fn()', 'EXECUTE'), false,
          'self-test: ... while a function the owner has just created is not executable by PUBLIC (default privileges)');
SELECT set_eq($$SELECT it FROM tests.sec_app_write_privileges() AS p(it) WHERE it LIKE 'scoreledger_private.%'$$,
              ARRAY['scoreledger_private.submissions: INSERT', 'scoreledger_private.score_history: column UPDATE'],
              'self-test: a table grant and a column grant to scoreledger_app are both reported');
-- (plpgsql_check plans the functions' queries: under a tenant context, as in 08.)
SELECT scoreledger_private.enter_context(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT ok(EXISTS (SELECT 1 FROM tests.sec_plpgsql_findings() f
                  WHERE f.label = 'scoreledger.zz_planted_definer(text)' AND f.level = 'security'),
          'self-test: plpgsql_check reports the SQL injection in the planted function');

-- The view sweep catches the superuser's view: it leaks every tenant.
-- (The other planted views are not the application's to read.)
DROP VIEW scoreledger.zz_planted_invoker_view, scoreledger.zz_planted_owner_view;
GRANT SELECT ON scoreledger.zz_planted_superuser_view TO scoreledger_app;
SELECT tests.authenticate_as(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT tests.sec_snapshot_views('A');
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 612), tests.uuid_of('actor', 612));
SELECT tests.sec_snapshot_views('B');
SELECT tests.clear_context();
SELECT tests.authenticate_without_context();
SELECT tests.sec_snapshot_views('none');
SELECT tests.clear_context();
SELECT set_eq($$
  SELECT CASE WHEN problem LIKE '%without a tenant context' THEN 'rows without a context'
              WHEN problem LIKE '%that tenant B sees%' THEN 'rows of both tenants'
              WHEN problem LIKE '%once tenant B has data' THEN 'rows changed by the other tenant' END
  FROM tests.sec_view_leaks() WHERE view_name = 'scoreledger.zz_planted_superuser_view'
$$, ARRAY['rows without a context', 'rows of both tenants', 'rows changed by the other tenant'],
'self-test: the view sweep reports the leaking view three ways');

DROP VIEW scoreledger.zz_planted_superuser_view;
DROP FUNCTION scoreledger.zz_planted_definer(text), scoreledger_private.zz_planted_owner_fn();
DROP TABLE scoreledger_private.zz_planted_no_rls, scoreledger_private.zz_planted_not_forced;
REVOKE INSERT ON scoreledger_private.submissions FROM scoreledger_app;
REVOKE UPDATE (score) ON scoreledger_private.score_history FROM scoreledger_app;
REVOKE EXECUTE ON FUNCTION scoreledger_private.fail(text, text, text) FROM PUBLIC;
SELECT is_empty($$
  SELECT * FROM tests.sec_unguarded_tables()
  UNION ALL SELECT * FROM tests.sec_views_bypassing_rls()
  UNION ALL SELECT fn || ': ' || problem FROM tests.sec_definer_problems()
  UNION ALL SELECT * FROM tests.sec_app_write_privileges()
  UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = ANY (tests.sec_our_schemas()) AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'self-test: with the planted objects removed, the checks are clean again');

-- =====================================================================
-- 8. plpgsql_check: no error, no SQL injection
-- =====================================================================
-- As 08_plpgsql_check: plan under a tenant context, with the recording
-- scratch tables present (recording above created them in this session).
SELECT scoreledger_private.enter_context(tests.uuid_of('tenant', 611), tests.uuid_of('actor', 611));
SELECT is_empty($$SELECT label || ' line ' || coalesce(lineno::text, '?') || ' [' || level || ']: ' || message
                  FROM tests.sec_plpgsql_findings()$$,
                'plpgsql_check (security warnings on) finds no error and no SQL injection in any PL/pgSQL function');

SELECT * FROM finish();
ROLLBACK;
