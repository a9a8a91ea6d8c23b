-- Score layer (contract section 8): its tables are private, tenant-keyed and
-- under forced row-level security; its API is locked down, documented and
-- answers SL401 without a context.
BEGIN;
SELECT plan(24);

CREATE TEMP TABLE score_tables (name text PRIMARY KEY);
INSERT INTO score_tables VALUES ('evaluators'), ('evaluation_results'), ('review_queues'), ('review_items'),
  ('annotations'), ('scores'), ('score_write_warnings'), ('score_write_failures'), ('score_backfill_cursors');
GRANT SELECT ON score_tables TO PUBLIC;

SELECT is_empty($$SELECT name FROM score_tables WHERE to_regclass('scoreledger_private.' || name) IS NULL$$,
                'every score-layer table exists in the private schema');
SELECT is_empty($$
  SELECT t.name FROM score_tables t JOIN pg_class c ON c.oid = ('scoreledger_private.' || t.name)::regclass
  WHERE NOT (c.relrowsecurity AND c.relforcerowsecurity)
$$, 'row level security is enabled AND forced on every score-layer table');
SELECT is_empty($$
  SELECT t.name FROM score_tables t
  WHERE NOT EXISTS (SELECT 1 FROM pg_policy p
                    WHERE p.polrelid = ('scoreledger_private.' || t.name)::regclass AND p.polname = 'tenant_isolation'
                      AND pg_get_expr(p.polqual, p.polrelid) LIKE '%tenant_id = %current_tenant()%'
                      AND pg_get_expr(p.polwithcheck, p.polrelid) LIKE '%tenant_id = %current_tenant()%')
$$, 'every score-layer table has the tenant_isolation policy on reads and writes');
SELECT is_empty($$
  SELECT t.name FROM score_tables t
  JOIN pg_constraint k ON k.conrelid = ('scoreledger_private.' || t.name)::regclass AND k.contype = 'p'
  WHERE (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1]) <> 'tenant_id'
$$, 'tenant_id leads the primary key of every score-layer table (03_citus_ready checks the rest)');

-- The idempotency keys: partial unique indexes per artefact and name.
SELECT is((SELECT pg_get_indexdef('scoreledger_private.scores_one_per_result_and_name'::regclass)),
          'CREATE UNIQUE INDEX scores_one_per_result_and_name ON scoreledger_private.scores USING btree (tenant_id, evaluation_result_id, name) WHERE (evaluation_result_id IS NOT NULL)',
          'scores: unique (tenant_id, evaluation_result_id, name) where the score comes from a result');
SELECT is((SELECT pg_get_indexdef('scoreledger_private.scores_one_per_annotation_and_name'::regclass)),
          'CREATE UNIQUE INDEX scores_one_per_annotation_and_name ON scoreledger_private.scores USING btree (tenant_id, annotation_id, name) WHERE (annotation_id IS NOT NULL)',
          'scores: unique (tenant_id, annotation_id, name) where the score comes from an annotation');
SELECT is((SELECT pg_get_indexdef('scoreledger_private.score_write_failures_one_open'::regclass)),
          'CREATE UNIQUE INDEX score_write_failures_one_open ON scoreledger_private.score_write_failures USING btree (tenant_id, source_kind, source_id) WHERE (resolved_at IS NULL)',
          'score_write_failures: at most one open failure per artefact');

-- The application reads views and calls functions, nothing else.
SELECT is_empty($$
  SELECT t.name || ': ' || priv FROM score_tables t
  CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS priv
  WHERE has_table_privilege('scoreledger_app', 'scoreledger_private.' || t.name, priv)
$$, 'scoreledger_app holds no privilege on any score-layer table');

SELECT is_empty($$
  SELECT f FROM unnest(ARRAY[
    'scoreledger.register_evaluator(text,jsonb)',
    'scoreledger.record_evaluation_result(text,uuid,jsonb,text,uuid)',
    'scoreledger.record_evaluation_results(jsonb)',
    'scoreledger.create_review_queue(text,jsonb)',
    'scoreledger.add_review_item(uuid,uuid,text)',
    'scoreledger.save_annotation(uuid,jsonb,text,boolean,uuid)',
    'scoreledger.write_evaluation_result_scores(uuid)',
    'scoreledger.write_annotation_scores(uuid)',
    'scoreledger.backfill_scores(text,uuid,integer,boolean)',
    'scoreledger.score_backfill_pending(boolean)']) AS f
  WHERE to_regprocedure(f) IS NULL
     OR NOT has_function_privilege('scoreledger_app', to_regprocedure(f), 'EXECUTE')
     OR NOT (SELECT prosecdef FROM pg_proc WHERE oid = to_regprocedure(f))
     OR coalesce(btrim(obj_description(to_regprocedure(f), 'pg_proc')), '') = ''
$$, 'every section 8 function exists with its contract signature, is SECURITY DEFINER, documented and executable by the app');
SELECT is(has_function_privilege('scoreledger_app', 'scoreledger.top_up_scores(integer)', 'EXECUTE'), false,
          'top_up_scores reads across tenants: not granted to scoreledger_app');

SELECT is_empty($$
  SELECT v FROM unnest(ARRAY['scoreledger.scores', 'scoreledger.authoritative_scores', 'scoreledger.score_concordance',
                             'scoreledger.score_write_failures', 'scoreledger.score_write_warnings',
                             'scoreledger.evaluators', 'scoreledger.evaluation_results', 'scoreledger.review_queues',
                             'scoreledger.review_items', 'scoreledger.annotations']) AS v
  WHERE to_regclass(v) IS NULL OR NOT has_table_privilege('scoreledger_app', v, 'SELECT')
     OR coalesce(btrim(obj_description(to_regclass(v), 'pg_class')), '') = ''
$$, 'every score-layer view exists, is documented and readable by the app');
SELECT columns_are('scoreledger', 'scores', ARRAY['id', 'submission_id', 'name', 'data_type', 'value_numeric',
  'value_string', 'source', 'evaluation_result_id', 'annotation_id', 'reviewer_id', 'is_authoritative', 'created_at'],
  'view scores has the contract''s columns');
SELECT columns_are('scoreledger', 'authoritative_scores', ARRAY['id', 'submission_id', 'name', 'data_type', 'value_numeric',
  'value_string', 'source', 'evaluation_result_id', 'annotation_id', 'reviewer_id', 'is_authoritative', 'created_at'],
  'view authoritative_scores has the same columns as scores');
SELECT ok((SELECT array_agg(attname::text) FROM pg_attribute
           WHERE attrelid = 'scoreledger.score_write_failures'::regclass AND attnum > 0)
          @> ARRAY['source_kind', 'source_id', 'error', 'occurred_at', 'resolved_at'],
          'view score_write_failures has the contract''s columns (source_kind, source_id, error, occurred_at, resolved_at)');

-- Without a context: SL401 from every function (02_tenancy_rls sweeps the
-- whole API with null arguments; here with real-looking ones too).
SELECT tests.authenticate_without_context();
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('judge')$$, 'SL401', '%', 'no context: register_evaluator raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('judge', gen_random_uuid(), '{"a": 1}')$$, 'SL401', '%',
                 'no context: record_evaluation_result raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_results('[]')$$, 'SL401', '%',
                 'no context: record_evaluation_results raises SL401');
SELECT tests.throws_code_like($$SELECT scoreledger.create_review_queue('q')$$, 'SL401', '%', 'no context: create_review_queue raises SL401');
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.backfill_scores('evaluation_result')$$, 'SL401', '%',
                 'no context: backfill_scores raises SL401');
SELECT is_empty($$
  SELECT view_name FROM tests.view_row_counts('scoreledger')
  WHERE view_name IN ('scoreledger.scores', 'scoreledger.authoritative_scores', 'scoreledger.score_concordance',
                      'scoreledger.score_write_failures', 'scoreledger.evaluators') AND row_count <> 0
$$, 'no context: the score views show no rows');
SELECT tests.clear_context();

-- Guards: registered evaluators and queues type the scores already written.
SELECT scoreledger.create_tenant('scores schema', tests.uuid_of('tenant', 401));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 401), tests.uuid_of('actor', 401));
SELECT scoreledger.register_evaluator('judge', '{"tone": {"type": "choice"}}');
SELECT scoreledger.create_review_queue('queue');
SELECT tests.act_as_owner(tests.uuid_of('tenant', 401));
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.evaluators$$, 'SL423', '%',
                 'even the owner cannot delete an evaluator (results refer to it)');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.evaluators SET output_schema = '{}'$$, 'SL423', '%',
                 'nor change its output schema (it typed the scores already written)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.review_queues$$, 'SL423', '%',
                 'nor delete a review queue');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, payload)
                   VALUES (tests.uuid_of('tenant', 401), gen_random_uuid(), gen_random_uuid(), '{}')$$, 'SL404', '%',
                 'a result row naming no registered evaluator is refused, for the owner too (statement-level reference check)');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
