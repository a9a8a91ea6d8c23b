-- Tenancy of the score layer (contract section 1): one tenant never sees,
-- scores, annotates or backfills another's data, whatever ids it passes;
-- the owner is bound by forced row-level security on every new table.
BEGIN;
SELECT plan(19);

SELECT scoreledger.create_tenant('scores A', tests.uuid_of('tenant', 461));
SELECT scoreledger.create_tenant('scores B', tests.uuid_of('tenant', 462));

-- B: a submission, a result, a queue, an item, an annotation, a failure.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 462), tests.uuid_of('actor', 462));
SELECT tests.make_evaluation(462);
SELECT tests.submit(462, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 4621);
SELECT scoreledger.register_evaluator('judge');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4621), '{"b_secret": 1, "gone": null}', NULL, tests.uuid_of('result', 462));
SELECT scoreledger.create_review_queue('review') AS b_queue \gset
SELECT scoreledger.add_review_item(:'b_queue', tests.uuid_of('submission', 4621)) AS b_item \gset
SELECT scoreledger.save_annotation(:'b_item', '{"b_secret": 2}', 'submitted', true, tests.uuid_of('annotation', 462));
SELECT tests.clear_context();
SELECT tests.act_as_owner(tests.uuid_of('tenant', 462));
INSERT INTO scoreledger_private.score_write_failures (tenant_id, source_kind, source_id, error)
VALUES (tests.uuid_of('tenant', 462), 'evaluation_result', tests.uuid_of('result', 462), 'B''s failure');
SELECT tests.clear_context();

-- A: its own evaluator of the same name, a submission.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 461), tests.uuid_of('actor', 461));
SELECT tests.make_evaluation(461);
SELECT tests.submit(461, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 4611);
SELECT isnt(scoreledger.register_evaluator('judge'), NULL, 'A registers an evaluator under a name B uses: its own');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4611), '{"a_score": 1}', NULL, tests.uuid_of('result', 461));

SELECT is_empty($$
  SELECT view_name || ': ' || row_count FROM (
    SELECT 'scores' AS view_name, count(*) FILTER (WHERE submission_id <> tests.uuid_of('submission', 4611)) AS row_count FROM scoreledger.scores
    UNION ALL SELECT 'authoritative_scores', count(*) FILTER (WHERE submission_id <> tests.uuid_of('submission', 4611)) FROM scoreledger.authoritative_scores
    UNION ALL SELECT 'score_concordance', count(*) FILTER (WHERE submission_id <> tests.uuid_of('submission', 4611)) FROM scoreledger.score_concordance
    UNION ALL SELECT 'evaluation_results', count(*) FILTER (WHERE result_id <> tests.uuid_of('result', 461)) FROM scoreledger.evaluation_results
    UNION ALL SELECT 'score_write_failures', count(*) FROM scoreledger.score_write_failures
    UNION ALL SELECT 'score_write_warnings', count(*) FROM scoreledger.score_write_warnings
    UNION ALL SELECT 'review_queues', count(*) FROM scoreledger.review_queues
    UNION ALL SELECT 'review_items', count(*) FROM scoreledger.review_items
    UNION ALL SELECT 'annotations', count(*) FROM scoreledger.annotations) x
  WHERE row_count <> 0
$$, 'A sees none of B''s scores, results, failures, warnings, queues, items or annotations');
SELECT is((SELECT count(*) FROM scoreledger.evaluators), 1::bigint, 'A sees exactly its own evaluator');

SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4621), '{"x": 1}')$$,
                 'SL404', '%', 'A cannot record a result about B''s submission (SL404)');
SELECT tests.throws_code_like($$SELECT scoreledger.write_evaluation_result_scores(tests.uuid_of('result', 462))$$,
                 'SL404', '%', 'A cannot (re)write the scores of B''s result (SL404)');
SELECT tests.throws_code_like($$SELECT scoreledger.write_annotation_scores(tests.uuid_of('annotation', 462))$$,
                 'SL404', '%', 'A cannot (re)write the scores of B''s annotation (SL404)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.add_review_item(%L, tests.uuid_of('submission', 4611))$$, :'b_queue'),
                 'SL404', '%', 'A cannot add an item to B''s queue (SL404)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, '{"x": 1}')$$, :'b_item'),
                 'SL404', '%', 'A cannot annotate B''s review item (SL404)');
SELECT scoreledger.create_review_queue('review') AS a_queue \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.add_review_item(%L, tests.uuid_of('submission', 4621))$$, :'a_queue'),
                 'SL404', '%', 'A cannot put B''s submission in its own queue (SL404)');
SELECT is(scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4611), '{"a": 2}', NULL, tests.uuid_of('result', 462)),
          tests.uuid_of('result', 462), 'a result id B uses is free in A: A gets its own result under it (no leak, no overwrite)');
SELECT results_eq($$SELECT * FROM scoreledger.backfill_scores('evaluation_result', NULL, 100, true)$$,
                  $$SELECT 2, 2::bigint, 0, tests.uuid_of('result', 462) WHERE tests.uuid_of('result', 462) > tests.uuid_of('result', 461)
                    UNION ALL SELECT 2, 2::bigint, 0, tests.uuid_of('result', 461) WHERE tests.uuid_of('result', 461) > tests.uuid_of('result', 462)$$,
                  'a forced backfill in A rewrites A''s two results only');
SELECT is((SELECT sum(artefacts) FROM scoreledger.score_backfill_pending(true)), 0::numeric,
          'and A has nothing pending afterwards (B''s open failure is not A''s)');
SELECT tests.clear_context();

-- B is untouched.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 462), tests.uuid_of('actor', 462));
SELECT results_eq($$SELECT name, value_numeric, source FROM scoreledger.scores ORDER BY source$$,
                  $$VALUES ('b_secret', 1::numeric, 'automated'), ('b_secret', 2::numeric, 'human')$$,
                  'B''s scores are exactly what B wrote');
SELECT is((SELECT payload FROM scoreledger.evaluation_results WHERE result_id = tests.uuid_of('result', 462)),
          '{"b_secret": 1, "gone": null}'::jsonb, 'B''s result under the shared id is untouched');
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL), 1::bigint,
          'B''s open failure was not resolved by A''s writes of the same result id');
SELECT is((SELECT count(*) FROM scoreledger.score_write_warnings), 1::bigint, 'B''s warning is there, and only B''s');
SELECT tests.clear_context();

-- The owner is held to one tenant too.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 461));
SELECT is_empty($$SELECT table_name || ': ' || of_other_tenants FROM tests.private_table_rows(tests.uuid_of('tenant', 461))
                  WHERE of_other_tenants <> 0$$,
                'owner with context A: no score-layer table shows a row of B');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, evaluation_result_id)
                          VALUES (%L, %L, 'planted', 'NUMERIC', 1, %L)$$,
                        tests.uuid_of('tenant', 462), tests.uuid_of('submission', 4621), tests.uuid_of('result', 462)),
                 '42501', '%', 'owner with context A cannot write a score into B (RLS WITH CHECK)');
SELECT tests.act_as_owner(NULL);
SELECT is_empty($$SELECT table_name FROM tests.private_table_rows(NULL)
                  WHERE visible <> 0 AND table_name IN ('scoreledger_private.scores', 'scoreledger_private.evaluation_results',
                    'scoreledger_private.annotations', 'scoreledger_private.score_write_failures')$$,
                'owner without context: the score tables show no rows');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
