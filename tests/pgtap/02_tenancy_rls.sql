-- Tenancy (contract section 1): the transaction-local context, forced
-- row-level security, and tenants that can neither see nor reach each other.

-- Preamble, in its own committed transaction (the suite below rolls back, so
-- it cannot cross a COMMIT): set a context as the application, commit, and
-- record what the next transaction of this same connection sees. The scratch
-- tenant is removed again before the commit (as the superuser running the
-- suite, which bypasses row-level security), so nothing is left behind.
BEGIN;
SET LOCAL ROLE scoreledger_app;
SELECT scoreledger.create_tenant('tenancy scratch', tests.uuid_of('tenant', 299));
SELECT scoreledger.set_context(tests.uuid_of('tenant', 299), tests.uuid_of('actor', 299));
CREATE TEMP TABLE context_inside_transaction AS
  SELECT scoreledger.current_tenant() AS tenant, scoreledger.current_actor() AS actor;
RESET ROLE;
DELETE FROM scoreledger_private.tenants WHERE tenant_id = tests.uuid_of('tenant', 299);
COMMIT;
CREATE TEMP TABLE context_after_commit AS
  SELECT scoreledger.current_tenant() AS tenant, scoreledger.current_actor() AS actor,
         current_setting('scoreledger.tenant_id', true) AS tenant_setting;
GRANT SELECT ON context_inside_transaction, context_after_commit TO PUBLIC;

BEGIN;
SELECT plan(79);

-- Records every id it is called with: a stand-in for a leaky function a
-- caller could write.
CREATE TEMP TABLE peeked_ids (id uuid);
GRANT INSERT, SELECT ON peeked_ids TO PUBLIC;
CREATE FUNCTION pg_temp.peek(id uuid) RETURNS boolean LANGUAGE plpgsql COST 0.0001 AS $$
BEGIN
  INSERT INTO peeked_ids VALUES (id);
  RETURN true;
END $$;

-- ---------------------------------------------------------------------
-- Catalog: RLS enabled and forced everywhere, with a tenant policy
-- ---------------------------------------------------------------------
SELECT is_empty($$
  SELECT c.relname FROM pg_class c
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
    AND NOT (c.relrowsecurity AND c.relforcerowsecurity)
$$, 'row level security is enabled AND forced on every table of scoreledger_private');
SELECT is_empty($$
  SELECT c.relname FROM pg_class c
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
    AND c.relname NOT IN ('tenants', 'sql_definitions', 'guards', 'loaded_functions')
    AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
$$, 'every tenant-owned table has a row level security policy');
SELECT is_empty($$
  SELECT c.relname || '.' || p.polname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace
    AND c.relname NOT IN ('tenants', 'sql_definitions', 'guards', 'loaded_functions')
    AND (p.polcmd <> '*' OR NOT p.polpermissive
         OR pg_get_expr(p.polqual, p.polrelid) NOT LIKE '%tenant_id = %current_tenant()%'
         OR pg_get_expr(p.polwithcheck, p.polrelid) NOT LIKE '%tenant_id = %current_tenant()%')
$$, 'every tenant policy covers all commands and filters reads and writes by tenant_id = current_tenant()');
SELECT is_empty($$
  SELECT p.polname FROM pg_policy p
  WHERE p.polrelid = 'scoreledger_private.tenants'::regclass AND p.polcmd IN ('*', 'w', 'd')
    AND coalesce(pg_get_expr(p.polqual, p.polrelid), '') NOT LIKE '%tenant_id = %current_tenant()%'
$$, 'no policy lets anyone update or delete another tenant''s registry row');

-- ---------------------------------------------------------------------
-- Two tenants with data
-- ---------------------------------------------------------------------
SELECT is(scoreledger.create_tenant('Tenancy A', tests.uuid_of('tenant', 201)), tests.uuid_of('tenant', 201),
          'create_tenant returns the requested id');
SELECT is(scoreledger.create_tenant('Tenancy B', tests.uuid_of('tenant', 202)), tests.uuid_of('tenant', 202),
          'a second tenant');

SELECT tests.authenticate_as(tests.uuid_of('tenant', 202), tests.uuid_of('actor', 202));
SELECT tests.make_evaluation(202);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('assignment', 202),
  'title', 'B assignment', 'evaluation_id', tests.uuid_of('evaluation', 202)));
SELECT tests.submit(202, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'], 202, tests.uuid_of('assignment', 202));
SELECT scoreledger.create_correction_batch('B batch', jsonb_build_array(jsonb_build_object(
  'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 202), 'question_version_id', tests.uuid_of('q1', 202))))
  AS b_batch \gset
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 201), tests.uuid_of('actor', 201));
SELECT tests.make_evaluation(201);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('assignment', 201),
  'title', 'A assignment', 'evaluation_id', tests.uuid_of('evaluation', 201)));
SELECT tests.submit(201, 1, ARRAY['A'], ARRAY['A'], ARRAY['A'], 201, tests.uuid_of('assignment', 201));
SELECT tests.submit(201, 2, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B'], 2011);
SELECT scoreledger.create_correction_batch('A batch', jsonb_build_array(jsonb_build_object(
  'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 201), 'question_version_id', tests.uuid_of('q2', 201))))
  AS a_batch \gset
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- No context: views empty, API functions SL401
-- ---------------------------------------------------------------------
SELECT tests.authenticate_without_context();
SELECT is(scoreledger.current_tenant(), NULL, 'no context: current_tenant() is null');
SELECT is_empty($$
  SELECT view_name || ': ' || row_count
  FROM tests.view_row_counts('scoreledger', ARRAY['scoreledger.tenants', 'scoreledger.error_codes', 'scoreledger.input_limits'])
  WHERE row_count <> 0
$$, 'no context: every view of tenant data shows no rows');
SELECT ok((SELECT count(*) FROM tests.view_row_counts('scoreledger', ARRAY['scoreledger.tenants', 'scoreledger.error_codes', 'scoreledger.input_limits'])) >= 7,
          'no context: the sweep above covered the tenant-data views');
SELECT ok((SELECT count(*) FROM scoreledger.tenants
           WHERE tenant_id IN (tests.uuid_of('tenant', 201), tests.uuid_of('tenant', 202))) = 2,
          'no context: the tenant registry view still lists tenants (needed to pick one)');

SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.evaluation_doc(203))$$,
                 'SL401', '%', 'no context: import_evaluation_version raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', gen_random_uuid(),
                   'title', 'x', 'evaluation_id', tests.uuid_of('evaluation', 201)))$$,
                 'SL401', '%', 'no context: upsert_assignment raises SL401');
SELECT tests.throws_code_like($$SELECT tests.submit(201, 3, ARRAY['B'], NULL, NULL)$$,
                 'SL401', '%', 'no context: record_submission raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submissions(jsonb_build_array(tests.submission_doc(201, 3, ARRAY['B'], NULL, NULL)))$$,
                 'SL401', '%', 'no context: record_submissions raises SL401');
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.submission_score_history(tests.uuid_of('submission', 201))$$,
                 'SL401', '%', 'no context: submission_score_history raises SL401');
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.list_correction_batches()$$,
                 'SL401', '%', 'no context: list_correction_batches raises SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', :'a_batch'),
                 'SL401', '%', 'no context: get_correction_batch raises SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'a_batch'),
                 'SL401', '%', 'no context: apply_correction_batch raises SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.revert_correction_batch(%L, %L)', :'a_batch', 'why'),
                 'SL401', '%', 'no context: revert_correction_batch raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.create_correction_batch('why', jsonb_build_array(jsonb_build_object(
                   'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 201),
                   'question_version_id', tests.uuid_of('q1', 201))))$$,
                 'SL401', '%', 'no context: create_correction_batch raises SL401');

-- A sweep over the whole API, so a function added later is held to it too:
-- every function the app may call, except the context and registry ones,
-- raises SL401 without a context (called with null arguments).
SELECT is_empty($$
  WITH api AS (
    SELECT p.oid, p.oid::regprocedure::text AS signature,
           format('SELECT %s(%s)', p.oid::regproc,
                  (SELECT string_agg(format('NULL::%s', t::regtype), ', ' ORDER BY n)
                     FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, n))) AS call
    FROM pg_proc p
    WHERE p.pronamespace = 'scoreledger'::regnamespace
      AND has_function_privilege('scoreledger_app', p.oid, 'EXECUTE')
      AND p.proname NOT IN ('set_context', 'create_tenant', 'current_tenant', 'current_actor')
  )
  SELECT api.signature || ' -> ' || coalesce(r.outcome, 'no error')
  FROM api CROSS JOIN LATERAL (SELECT tests.sqlstate_of(api.call) AS outcome) r
  WHERE r.outcome IS DISTINCT FROM 'SL401'
$$, 'no context: every tenant-data API function raises SL401, whatever its arguments');

SELECT ok((SELECT count(*) FROM pg_proc p
           WHERE p.pronamespace = 'scoreledger'::regnamespace
             AND has_function_privilege('scoreledger_app', p.oid, 'EXECUTE')
             AND p.proname NOT IN ('set_context', 'create_tenant', 'current_tenant', 'current_actor')) >= 10,
          'the sweep above covered the tenant-data API functions (sanity)');
SELECT is(current_user::text, 'scoreledger_app', 'the sweep ran as the application (sanity)');

-- ---------------------------------------------------------------------
-- set_context
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like($$SELECT scoreledger.set_context(tests.uuid_of('tenant', 999))$$,
                 'SL404', '%', 'set_context on an unknown tenant raises SL404');
SELECT is(scoreledger.current_tenant(), NULL, 'a refused set_context leaves no context behind');
SELECT tests.throws_code_like($$SELECT scoreledger.set_context(NULL)$$,
                 'SL401', '%', 'set_context without a tenant id raises SL401');

SELECT is((SELECT tenant FROM context_inside_transaction), tests.uuid_of('tenant', 299),
          'set_context: the context is set inside its transaction');
SELECT is((SELECT actor FROM context_inside_transaction), tests.uuid_of('actor', 299),
          'set_context: the actor is set inside its transaction');
SELECT is((SELECT tenant FROM context_after_commit), NULL,
          'set_context is transaction-local: after COMMIT the same connection has no tenant');
SELECT is((SELECT actor FROM context_after_commit), NULL,
          'set_context is transaction-local: after COMMIT the same connection has no actor');
SELECT is((SELECT coalesce(tenant_setting, '') FROM context_after_commit), '',
          'set_context is transaction-local: the underlying setting is empty after COMMIT');

SELECT tests.authenticate_as(tests.uuid_of('tenant', 201), tests.uuid_of('actor', 201));
SELECT is(scoreledger.current_tenant(), tests.uuid_of('tenant', 201), 'set_context sets current_tenant()');
SELECT is(scoreledger.current_actor(), tests.uuid_of('actor', 201), 'set_context sets current_actor()');
SAVEPOINT switch_tenant;
SELECT scoreledger.set_context(tests.uuid_of('tenant', 202));
SELECT is(scoreledger.current_tenant(), tests.uuid_of('tenant', 202), 'set_context can switch tenant');
SELECT is(scoreledger.current_actor(), NULL, 'switching tenant without an actor does not keep the previous actor');
ROLLBACK TO SAVEPOINT switch_tenant;
SELECT is(scoreledger.current_tenant(), tests.uuid_of('tenant', 201), 'a rolled back set_context is undone');

-- ---------------------------------------------------------------------
-- Tenant A cannot see tenant B
-- ---------------------------------------------------------------------
SELECT set_eq($$SELECT submission_id FROM scoreledger.submissions$$,
              ARRAY[tests.uuid_of('submission', 201), tests.uuid_of('submission', 2011)],
              'A sees exactly its own submissions');
SELECT set_eq($$SELECT evaluation_version_id FROM scoreledger.evaluation_versions$$,
              ARRAY[tests.uuid_of('version', 201)], 'A sees exactly its own evaluation versions');
SELECT set_eq($$SELECT DISTINCT evaluation_version_id FROM scoreledger.items$$,
              ARRAY[tests.uuid_of('version', 201)], 'A sees exactly its own items');
SELECT set_eq($$SELECT assignment_id FROM scoreledger.assignments$$,
              ARRAY[tests.uuid_of('assignment', 201)], 'A sees exactly its own assignments');
SELECT set_eq($$SELECT DISTINCT submission_id FROM scoreledger.answers$$,
              ARRAY[tests.uuid_of('submission', 201), tests.uuid_of('submission', 2011)],
              'A sees exactly its own answers');
SELECT set_eq($$SELECT DISTINCT submission_id FROM scoreledger.score_history$$,
              ARRAY[tests.uuid_of('submission', 201), tests.uuid_of('submission', 2011)],
              'A sees exactly its own score history');
SELECT set_eq($$SELECT id FROM scoreledger.correction_batches$$, format('VALUES (%L::uuid)', :'a_batch'),
              'A sees exactly its own correction batches');
SELECT set_eq($$SELECT id FROM scoreledger.list_correction_batches()$$, format('VALUES (%L::uuid)', :'a_batch'),
              'list_correction_batches lists only A''s batches');

-- A caller's own function in a WHERE clause sees only rows RLS already let
-- through (a leaky function must not be evaluated before the tenant filter).
SELECT is((SELECT count(*) FROM scoreledger.submissions WHERE pg_temp.peek(submission_id)), 2::bigint,
          'a filter with a side-effecting function finds A''s two submissions');
SELECT is_empty($$SELECT id FROM peeked_ids WHERE id = tests.uuid_of('submission', 202)$$,
                'and that function was never handed a row of tenant B');

-- ... nor reach it, whatever ids it passes
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.submission_score_history(tests.uuid_of('submission', 202))$$,
                 'SL404', '%', 'A: submission_score_history of B''s submission raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', :'b_batch'),
                 'SL404', '%', 'A: get_correction_batch of B''s batch raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'b_batch'),
                 'SL404', '%', 'A: apply_correction_batch of B''s batch raises SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.revert_correction_batch(%L, %L)', :'b_batch', 'why'),
                 'SL404', '%', 'A: revert_correction_batch of B''s batch raises SL404');
SELECT tests.throws_code_like($$SELECT tests.submit(202, 5, ARRAY['B'], NULL, NULL)$$,
                 'SL404', '%', 'A: recording a submission of B''s evaluation version raises SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submission(jsonb_build_object(
                   'evaluation_version_id', tests.uuid_of('version', 201), 'user_id', tests.uuid_of('user', 5),
                   'assignment_id', tests.uuid_of('assignment', 202), 'submitted_at', '2026-11-01T10:00:00Z',
                   'answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 201),
                                                                   'selected', '["B"]'::jsonb))))$$,
                 'SL404', '%', 'A: recording a submission for B''s assignment raises SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', gen_random_uuid(),
                   'title', 'x', 'evaluation_id', tests.uuid_of('evaluation', 202)))$$,
                 'SL404', '%', 'A: an assignment of B''s evaluation raises SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.create_correction_batch('why', jsonb_build_array(jsonb_build_object(
                   'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 202),
                   'question_version_id', tests.uuid_of('q1', 202))))$$,
                 'SL422', 'corrections[0].evaluation_version_id%',
                 'A: a correction of B''s evaluation version is an invalid entry (SL422)');
SELECT tests.throws_code_like($$SELECT scoreledger.create_correction_batch('why', jsonb_build_array(jsonb_build_object(
                   'type', 'mark_correct', 'evaluation_version_id', tests.uuid_of('version', 201),
                   'question_version_id', tests.uuid_of('q1', 201),
                   'submission_ids', jsonb_build_array(tests.uuid_of('submission', 202)))))$$,
                 'SL422', 'corrections[0].submission_ids[0]%',
                 'A: mark_correct listing B''s submission is an invalid entry (SL422)');

-- B's ids are free in A: reusing them creates A's own rows and reveals nothing.
SELECT is(scoreledger.import_evaluation_version(jsonb_set(tests.evaluation_doc(202, 0.9), '{items,0,correct}', '["C"]')),
          tests.uuid_of('version', 202),
          'A can import a version (and question versions) under ids B already uses, with other content (no SL423 leak)');
SELECT is(tests.submit(201, 6, ARRAY['C'], NULL, NULL, 202), tests.uuid_of('submission', 202),
          'A can record a submission under an id B already uses (no SL423 leak)');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 202), tests.uuid_of('actor', 202));
SELECT is((SELECT pass_mark FROM scoreledger.evaluation_versions WHERE evaluation_version_id = tests.uuid_of('version', 202)),
          0.5, 'B''s evaluation version is untouched by A''s import under the same id');
SELECT is((SELECT correct FROM scoreledger.items WHERE question_version_id = tests.uuid_of('q1', 202)), '{B}'::text[],
          'B''s question version keeps its key');
SELECT results_eq($$SELECT user_id, score, max_score FROM scoreledger.submissions$$,
                  $$VALUES (tests.uuid_of('user', 1), 6::numeric, 6::numeric)$$,
                  'B still has exactly its one submission, untouched');
SELECT is((SELECT count(*) FROM scoreledger.score_history), 1::bigint, 'B''s score history is untouched');
SELECT is((SELECT title FROM scoreledger.assignments), 'B assignment', 'B''s assignment is untouched');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- The owner is bound by forced RLS too
-- ---------------------------------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 201));
SELECT is_empty($$SELECT table_name || ': ' || of_other_tenants FROM tests.private_table_rows(tests.uuid_of('tenant', 201))
                  WHERE of_other_tenants <> 0$$,
                'owner with context A: no private table shows a row of another tenant');
SELECT ok((SELECT sum(visible) FROM tests.private_table_rows(tests.uuid_of('tenant', 201))) > 0,
          'owner with context A: A''s own rows are visible (sanity)');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.evaluations (tenant_id, evaluation_id, title)
                   VALUES (tests.uuid_of('tenant', 202), gen_random_uuid(), 'planted')$$,
                 '42501', '%', 'owner with context A cannot write a row into tenant B (RLS WITH CHECK)');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.assignments SET tenant_id = tests.uuid_of('tenant', 202)$$,
                 '42501', '%', 'owner with context A cannot move a row into tenant B');
UPDATE scoreledger_private.assignments SET title = 'hijacked' WHERE tenant_id = tests.uuid_of('tenant', 202);
UPDATE scoreledger_private.tenants SET name = 'hijacked' WHERE tenant_id = tests.uuid_of('tenant', 202);
DELETE FROM scoreledger_private.tenants WHERE tenant_id = tests.uuid_of('tenant', 202);
SELECT tests.act_as_owner(NULL);
SELECT is_empty($$SELECT table_name || ': ' || visible FROM tests.private_table_rows(NULL) WHERE visible <> 0$$,
                'owner without context: every tenant-owned private table shows no rows');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 202), tests.uuid_of('actor', 202));
SELECT is((SELECT title FROM scoreledger.assignments), 'B assignment',
          'the owner acting in A could not update B''s assignment');
SELECT is((SELECT name FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 202)), 'Tenancy B',
          'the owner acting in A could neither rename nor delete B''s registry row');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- create_tenant
-- ---------------------------------------------------------------------
SELECT tests.authenticate_without_context();
SELECT is(scoreledger.create_tenant('Tenancy A'), tests.uuid_of('tenant', 201),
          'create_tenant is idempotent on name (no context needed)');
SELECT is(scoreledger.create_tenant('Tenancy A', tests.uuid_of('tenant', 201)), tests.uuid_of('tenant', 201),
          'create_tenant with the same name and the same id returns that id');
SELECT tests.throws_code_like($$SELECT scoreledger.create_tenant('Tenancy A', tests.uuid_of('tenant', 203))$$,
                 'SL409', '%', 'create_tenant: an existing name with another id raises SL409');
SELECT tests.throws_code_like($$SELECT scoreledger.create_tenant('Tenancy C', tests.uuid_of('tenant', 202))$$,
                 'SL409', '%', 'create_tenant: a new name with an id another tenant has raises SL409');
SELECT tests.throws_code_like($$SELECT scoreledger.create_tenant('')$$, 'SL422', '%', 'create_tenant: an empty name raises SL422');
SELECT tests.throws_code_like($$SELECT scoreledger.create_tenant('   ')$$, 'SL422', '%', 'create_tenant: a blank name raises SL422');
SELECT tests.throws_code_like($$SELECT scoreledger.create_tenant(NULL)$$, 'SL422', '%', 'create_tenant: a null name raises SL422');
SELECT is((SELECT count(*) FROM scoreledger.tenants WHERE name IN ('Tenancy A', 'Tenancy B', 'Tenancy C')), 2::bigint,
          'no refused create_tenant wrote anything');
SELECT isnt(scoreledger.create_tenant('Tenancy D'), NULL, 'create_tenant without an id generates one');
SELECT is(scoreledger.create_tenant('Tenancy D'), (SELECT tenant_id FROM scoreledger.tenants WHERE name = 'Tenancy D'),
          'and returns the same generated id when called again');

SELECT * FROM finish();
ROLLBACK;
