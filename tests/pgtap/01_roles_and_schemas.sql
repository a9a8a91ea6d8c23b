-- Roles, schemas, ownership and privileges (contract section 1): the
-- application role reads through views, writes through functions, and
-- nothing else; the API is locked down and documented in the catalog.
BEGIN;
SELECT plan(46);

-- ---------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------
SELECT has_role('scoreledger_owner', 'role scoreledger_owner exists');
SELECT has_role('scoreledger_app', 'role scoreledger_app exists');

SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'scoreledger_owner'), false,
          'scoreledger_owner is NOLOGIN');
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = 'scoreledger_app'), false,
          'scoreledger_app is NOLOGIN');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'scoreledger_app'), false,
          'scoreledger_app is not a superuser');
SELECT is((SELECT rolbypassrls FROM pg_roles WHERE rolname = 'scoreledger_app'), false,
          'scoreledger_app has no BYPASSRLS');
SELECT is((SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = 'scoreledger_owner'), false,
          'scoreledger_owner is neither superuser nor BYPASSRLS (forced RLS binds it)');
SELECT is((SELECT rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = 'scoreledger_app'), false,
          'scoreledger_app can create neither roles nor databases');
SELECT is(pg_has_role('scoreledger_app', 'scoreledger_owner', 'MEMBER'), false,
          'scoreledger_app is not a member of scoreledger_owner (cannot SET ROLE to the owner)');

-- scoreledger_app owns nothing, in any database of the cluster (pg_shdepend
-- records ownership of objects in every database and of shared objects).
SELECT is_empty($$
  SELECT d.classid::regclass::text || ' ' || d.objid
  FROM pg_shdepend d
  WHERE d.deptype = 'o' AND d.refclassid = 'pg_authid'::regclass
    AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = 'scoreledger_app')
$$, 'scoreledger_app owns no object anywhere in the cluster');
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c WHERE c.relowner = 'scoreledger_app'::regrole
  UNION ALL SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proowner = 'scoreledger_app'::regrole
  UNION ALL SELECT n.nspname FROM pg_namespace n WHERE n.nspowner = 'scoreledger_app'::regrole
  UNION ALL SELECT t.typname FROM pg_type t WHERE t.typowner = 'scoreledger_app'::regrole
$$, 'scoreledger_app owns no relation, function, schema or type in this database');

-- ---------------------------------------------------------------------
-- Schemas and ownership
-- ---------------------------------------------------------------------
SELECT has_schema('scoreledger', 'schema scoreledger (the API) exists');
SELECT has_schema('scoreledger_private', 'the private schema exists');
SELECT schema_owner_is('scoreledger', 'scoreledger_owner', 'scoreledger_owner owns schema scoreledger');
SELECT schema_owner_is('scoreledger_private', 'scoreledger_owner', 'scoreledger_owner owns schema scoreledger_private');

SELECT is_empty($$
  SELECT c.oid::regclass::text || ' (' || c.relkind::text || ', owner ' || c.relowner::regrole::text || ')'
  FROM pg_class c
  WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    AND c.relowner <> 'scoreledger_owner'::regrole
$$, 'every table, view and sequence of both schemas is owned by scoreledger_owner');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text || ' (owner ' || p.proowner::regrole::text || ')'
  FROM pg_proc p
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND p.proowner <> 'scoreledger_owner'::regrole
$$, 'every function of both schemas is owned by scoreledger_owner');
SELECT ok((SELECT count(*) FROM pg_class c
           WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')) >= 13,
          'the private schema holds the tables (sanity check of the queries above)');
SELECT is_empty($$
  SELECT c.oid::regclass::text FROM pg_class c
  WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind IN ('r', 'p', 'f', 'm')
$$, 'schema scoreledger holds no tables: tables live in the private schema');

SELECT is(has_schema_privilege('scoreledger_app', 'scoreledger_private', 'USAGE'), false,
          'scoreledger_app has no USAGE on the private schema');
SELECT is(has_schema_privilege('scoreledger_app', 'scoreledger', 'CREATE'), false,
          'scoreledger_app cannot create objects in schema scoreledger');
SELECT is(has_schema_privilege('public', 'scoreledger_private', 'USAGE'), false,
          'PUBLIC has no USAGE on the private schema');

-- ---------------------------------------------------------------------
-- No write privilege for the application, on any table or view
-- ---------------------------------------------------------------------
SELECT is_empty($$
  SELECT c.oid::regclass::text || ': ' || priv
  FROM pg_class c
  CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS priv
  WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND has_table_privilege('scoreledger_app', c.oid, priv)
$$, 'scoreledger_app holds no INSERT/UPDATE/DELETE/TRUNCATE/REFERENCES/TRIGGER on any table or view');
SELECT is_empty($$
  SELECT c.oid::regclass::text || ': ' || priv
  FROM pg_class c
  CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE']) AS priv
  WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
    AND has_any_column_privilege('scoreledger_app', c.oid, priv)
$$, 'scoreledger_app holds no column-level INSERT/UPDATE either');
SELECT is_empty($$
  SELECT c.oid::regclass::text
  FROM pg_class c
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    AND (has_table_privilege('scoreledger_app', c.oid, 'SELECT')
         OR (c.relkind = 'S' AND has_sequence_privilege('scoreledger_app', c.oid, 'USAGE, UPDATE')))
$$, 'scoreledger_app cannot even read a private table or use a private sequence');
SELECT is_empty($$
  SELECT c.oid::regclass::text
  FROM pg_class c
  WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind = 'v'
    AND NOT has_table_privilege('scoreledger_app', c.oid, 'SELECT')
$$, 'scoreledger_app can SELECT every view of the API');

-- Now try it for real, as the application.
SELECT scoreledger.create_tenant('roles tenant', tests.uuid_of('tenant', 101));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 101), tests.uuid_of('actor', 101));
SELECT tests.make_evaluation(101);
SELECT tests.submit(101, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 101);

SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.tenants (tenant_id, name) VALUES (gen_random_uuid(), 'sneaky')$$,
                 '42501', '%', 'app: INSERT into the private tenants table is refused (42501)');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET score = 6, max_score = 6$$,
                 '42501', '%', 'app: UPDATE of private submissions is refused (42501)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.score_history$$,
                 '42501', '%', 'app: DELETE from private score_history is refused (42501)');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.answers CASCADE$$,
                 '42501', '%', 'app: TRUNCATE of private answers is refused (42501)');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.correction_batches (tenant_id, batch_id, status, reason, payload, created_by)
                   VALUES (scoreledger.current_tenant(), gen_random_uuid(), 'applied', 'x', '[]', gen_random_uuid())$$,
                 '42501', '%', 'app: INSERT into private correction_batches is refused (42501)');
-- The simple views are automatically updatable: privileges must stop writes through them.
SELECT tests.throws_code_like($$INSERT INTO scoreledger.tenants (tenant_id, name) VALUES (gen_random_uuid(), 'via view')$$,
                 '42501', '%', 'app: INSERT through view scoreledger.tenants is refused (42501)');
SELECT tests.throws_code_like($$UPDATE scoreledger.score_history SET score = 6$$,
                 '42501', '%', 'app: UPDATE through view scoreledger.score_history is refused (42501)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger.score_history$$,
                 '42501', '%', 'app: DELETE through view scoreledger.score_history is refused (42501)');
SELECT tests.throws_code_like($$UPDATE scoreledger.tenants SET name = 'renamed'$$,
                 '42501', '%', 'app: UPDATE through view scoreledger.tenants is refused (42501)');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('SL423', 'x')$$,
                 '42501', '%', 'app: private functions are not callable');
-- A view may call a function, which needs EXECUTE for the caller (not for
-- the view owner): so read each one for real.
SELECT lives_ok($$SELECT * FROM tests.view_row_counts('scoreledger')$$,
                'app: every view of schema scoreledger can actually be read');
SELECT is((SELECT score FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 101)),
          4::numeric, 'after all those attempts the submission still has its recorded score');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- The API surface: locked-down definer functions, execute grants, comments
-- ---------------------------------------------------------------------
SELECT is_empty($$
  SELECT p.oid::regprocedure::text
  FROM pg_proc p
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND p.prosecdef
    AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) cfg WHERE cfg LIKE 'search_path=%')
$$, 'every SECURITY DEFINER function pins its search_path (proconfig)');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text || ': ' || cfg
  FROM pg_proc p, unnest(p.proconfig) cfg
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND p.prosecdef AND cfg LIKE 'search_path=%'
    AND cfg NOT IN ('search_path=""', 'search_path=pg_catalog', 'search_path=pg_catalog, pg_temp')
$$, 'the pinned search_path is empty (or pg_catalog only): no schema a caller can write to');
SELECT is_empty($$
  SELECT p.oid::regprocedure::text
  FROM pg_proc p
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND has_function_privilege('public', p.oid, 'EXECUTE')
$$, 'PUBLIC cannot execute any function of either schema (SECURITY DEFINER ones included)');
SELECT ok((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = 'scoreledger'::regnamespace AND p.prosecdef) >= 13,
          'the API functions are SECURITY DEFINER (sanity check of the queries above)');

-- Every function of the contract's sections 1-5 exists and the app may call it.
SELECT is_empty($$
  SELECT f
  FROM unnest(ARRAY[
    'scoreledger.set_context(uuid,uuid)', 'scoreledger.current_tenant()',
    'scoreledger.create_tenant(text,uuid)', 'scoreledger.import_evaluation_version(jsonb)',
    'scoreledger.upsert_assignment(jsonb)', 'scoreledger.record_submission(jsonb)',
    'scoreledger.record_submissions(jsonb)', 'scoreledger.create_correction_batch(text,jsonb)',
    'scoreledger.list_correction_batches(text)', 'scoreledger.get_correction_batch(uuid)',
    'scoreledger.apply_correction_batch(uuid)', 'scoreledger.revert_correction_batch(uuid,text)',
    'scoreledger.submission_score_history(uuid)']) AS f
  WHERE to_regprocedure(f) IS NULL
     OR NOT has_function_privilege('scoreledger_app', to_regprocedure(f), 'EXECUTE')
$$, 'every API function of sections 1-5 exists with its contract signature and is executable by scoreledger_app');
SELECT is_empty($$
  SELECT v
  FROM unnest(ARRAY['scoreledger.tenants', 'scoreledger.evaluation_versions', 'scoreledger.items',
                    'scoreledger.assignments', 'scoreledger.submissions', 'scoreledger.answers',
                    'scoreledger.correction_batches', 'scoreledger.score_history', 'scoreledger.error_codes']) AS v
  WHERE to_regclass(v) IS NULL
     OR (SELECT relkind FROM pg_class WHERE oid = to_regclass(v)) <> 'v'
$$, 'every view of sections 1-5 exists in schema scoreledger');

SELECT is_empty($$
  SELECT p.oid::regprocedure::text
  FROM pg_proc p
  WHERE p.pronamespace = 'scoreledger'::regnamespace
    AND coalesce(btrim(obj_description(p.oid, 'pg_proc')), '') = ''
$$, 'every function in schema scoreledger has a COMMENT');
SELECT is_empty($$
  SELECT c.oid::regclass::text
  FROM pg_class c
  WHERE c.relnamespace = 'scoreledger'::regnamespace AND c.relkind IN ('v', 'm')
    AND coalesce(btrim(obj_description(c.oid, 'pg_class')), '') = ''
$$, 'every view in schema scoreledger has a COMMENT');

SELECT * FROM finish();
ROLLBACK;
