-- The writers (contract section 8): delete-then-insert per artefact,
-- idempotent, unique per (artefact, name); wired into every producer write
-- (results overwritten, annotations inserted and edited), bulk and single.
BEGIN;
SELECT plan(40);

SELECT tests.score_fixture('scores writers', 421);
SELECT tests.submit(421, 2, ARRAY['C'], ARRAY['A'], ARRAY['A','B','C'], 4212);
SELECT scoreledger.register_evaluator('judge', '{"tone": {"type": "choice"}}') AS judge \gset

-- ---------------------------------------------------------------------
-- Idempotency and uniqueness
-- ---------------------------------------------------------------------
SELECT is(scoreledger.register_evaluator('judge', '{"tone": {"type": "choice"}}'), :'judge'::uuid,
          'register_evaluator is idempotent on name (same schema)');
SELECT is(scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4211),
            '{"ok": true, "score": 0.5, "tone": 1}', NULL, tests.uuid_of('result', 1)),
          tests.uuid_of('result', 1), 'record_evaluation_result returns the given result id');
CREATE TEMP TABLE first_write AS
  SELECT id, name, data_type, value_numeric, value_string FROM scoreledger.scores
  WHERE evaluation_result_id = tests.uuid_of('result', 1);
GRANT SELECT ON first_write TO PUBLIC;
SELECT is((SELECT count(*) FROM first_write), 3::bigint, 'three keys, three scores');

SELECT is(scoreledger.write_evaluation_result_scores(tests.uuid_of('result', 1)), 3,
          'write_evaluation_result_scores returns how many scores the result now has');
SELECT is(scoreledger.write_evaluation_result_scores(tests.uuid_of('result', 1)), 3, 'and again: still 3');
SELECT set_eq($$SELECT name, data_type, value_numeric, value_string FROM scoreledger.scores
                WHERE evaluation_result_id = tests.uuid_of('result', 1)$$,
              $$SELECT name, data_type, value_numeric, value_string FROM first_write$$,
              'rewriting gives the same scores (idempotent) ...');
SELECT ok((SELECT min(id) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1))
          > (SELECT max(id) FROM first_write),
          '... as new rows: the writer deletes then inserts');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)), 3::bigint,
          'and never duplicates');

SELECT tests.act_as_owner(tests.uuid_of('tenant', 421));
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, evaluation_result_id)
                          VALUES (%L, %L, 'ok', 'BOOLEAN', 0, %L)$$,
                        tests.uuid_of('tenant', 421), tests.uuid_of('submission', 4211), tests.uuid_of('result', 1)),
                 '23505', '%', 'the database refuses a second score of one result under one name (partial unique index)');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric,
                                                                   evaluation_result_id, annotation_id)
                          VALUES (%L, %L, 'x', 'NUMERIC', 1, %L, gen_random_uuid())$$,
                        tests.uuid_of('tenant', 421), tests.uuid_of('submission', 4211), tests.uuid_of('result', 1)),
                 '23514', '%', 'a score comes from exactly one artefact (CHECK)');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, evaluation_result_id)
                          VALUES (%L, %L, 'b', 'BOOLEAN', 2, %L)$$,
                        tests.uuid_of('tenant', 421), tests.uuid_of('submission', 4211), tests.uuid_of('result', 1)),
                 '23514', '%', 'a BOOLEAN score is 0 or 1 (CHECK)');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, evaluation_result_id)
                          VALUES (%L, %L, 'c', 'CATEGORICAL', 2, %L)$$,
                        tests.uuid_of('tenant', 421), tests.uuid_of('submission', 4211), tests.uuid_of('result', 1)),
                 '23514', '%', 'a CATEGORICAL score has a value_string and no value_numeric (CHECK)');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 421), tests.uuid_of('actor', 421));

-- ---------------------------------------------------------------------
-- Overwriting a result replaces its scores
-- ---------------------------------------------------------------------
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4212), '{"score": 0.9, "fresh": "yes"}',
                                            NULL, tests.uuid_of('result', 1));
SELECT results_eq($$SELECT submission_id, name FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1) ORDER BY name$$,
                  $$VALUES (tests.uuid_of('submission', 4212), 'fresh'), (tests.uuid_of('submission', 4212), 'score')$$,
                  'an existing result_id is overwritten: its old scores are gone, the new ones target the new submission');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_results WHERE result_id = tests.uuid_of('result', 1)), 1::bigint,
          'still one result row');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4212), '{"score": 0.9}', 'judge crashed',
                                            tests.uuid_of('result', 1));
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)), 0::bigint,
          'overwritten with an error: its stale scores are removed');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4212), '{"n": null}', NULL, tests.uuid_of('result', 1));
SELECT is((SELECT count(*) FROM scoreledger.score_write_warnings WHERE source_id = tests.uuid_of('result', 1)), 1::bigint,
          'a warning is written with the artefact''s scores ...');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4212), '{"n": 1}', NULL, tests.uuid_of('result', 1));
SELECT is((SELECT count(*) FROM scoreledger.score_write_warnings WHERE source_id = tests.uuid_of('result', 1)), 0::bigint,
          '... and replaced with them');

-- ---------------------------------------------------------------------
-- Bulk: one call, many results, all their scores
-- ---------------------------------------------------------------------
SELECT is(scoreledger.record_evaluation_results(jsonb_build_array(
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4211), 'payload', '{"a": 1, "b": true}'::jsonb),
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4212), 'payload', '{"a": 2}'::jsonb,
                               'result_id', tests.uuid_of('result', 10)),
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4212), 'payload', '{"a": 3}'::jsonb,
                               'error', 'flaky'),
            jsonb_build_object('evaluator', ' judge ', 'payload', '{"a": 4}'::jsonb))),
          4, 'record_evaluation_results returns how many results it wrote');
SELECT is((SELECT count(*) FROM scoreledger.scores s JOIN scoreledger.evaluation_results r ON r.result_id = s.evaluation_result_id
           WHERE r.payload ? 'a'), 3::bigint,
          'and wrote the scores of those that have some (an error and a session-less result have none)');
SELECT is(scoreledger.record_evaluation_results(jsonb_build_array(
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4212), 'payload', '{"a": 20, "c": "x"}'::jsonb,
                               'result_id', tests.uuid_of('result', 10)))),
          1, 'a bulk call can overwrite a result too');
SELECT results_eq($$SELECT name, value_numeric, value_string FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 10) ORDER BY name$$,
                  $$VALUES ('a', 20::numeric, NULL::text), ('c', NULL, 'x')$$, 'with its scores replaced');
SELECT is(scoreledger.record_evaluation_results('[]'), 0, 'an empty array records nothing');
-- A bigger call (validated optimistically): 10 new named ids and 2 existing ones.
SELECT is(scoreledger.record_evaluation_results((SELECT jsonb_agg(jsonb_build_object('evaluator', 'judge',
            'submission_id', tests.uuid_of('submission', 4211), 'payload', jsonb_build_object('big', g),
            'result_id', CASE WHEN g = 1 THEN tests.uuid_of('result', 10) WHEN g = 2 THEN tests.uuid_of('result', 1)
                              ELSE tests.uuid_of('result', 200 + g) END)) FROM generate_series(1, 12) g)),
          12, 'a bulk call mixing new and existing result ids writes all 12');
SELECT results_eq($$SELECT evaluation_result_id, name, value_numeric FROM scoreledger.scores
                    WHERE evaluation_result_id IN (tests.uuid_of('result', 10), tests.uuid_of('result', 1)) ORDER BY 3$$,
                  $$VALUES (tests.uuid_of('result', 10), 'big', 1::numeric), (tests.uuid_of('result', 1), 'big', 2::numeric)$$,
                  'the existing ones are overwritten: their old scores replaced');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE name = 'big'), 12::bigint, 'and the new ones have theirs, once');

-- ---------------------------------------------------------------------
-- Annotations: every submitted save writes, drafts have none
-- ---------------------------------------------------------------------
SELECT scoreledger.create_review_queue('review') AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4211)) AS item \gset
SELECT scoreledger.add_review_item(:'queue', NULL, 'chat-message-17') AS message_item \gset

SELECT scoreledger.save_annotation(:'item', '{"ok": true}', 'draft') AS annotation \gset
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = :'annotation'), 0::bigint, 'a draft annotation has no scores');
SELECT is(scoreledger.save_annotation(:'item', '{"ok": true, "stars": 3}', 'submitted', false, :'annotation'), :'annotation'::uuid,
          'save_annotation with an existing annotation_id edits it');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = :'annotation'), 2::bigint,
          'submitting it writes its scores (non-authoritative too)');
SELECT is((SELECT reviewer_id FROM scoreledger.scores WHERE annotation_id = :'annotation' LIMIT 1), tests.uuid_of('actor', 421),
          'the reviewer is the acting user');
SELECT scoreledger.save_annotation(:'item', '{"ok": false}', 'submitted', true, :'annotation');
SELECT results_eq(format('SELECT name, value_numeric, is_authoritative FROM scoreledger.scores WHERE annotation_id = %L', :'annotation'),
                  $$VALUES ('ok', 0::numeric, true)$$, 'an edit while submitted rewrites its scores (stars is gone)');
SELECT is(scoreledger.write_annotation_scores(:'annotation'), 1, 'write_annotation_scores returns how many it now has');
SELECT scoreledger.save_annotation(:'item', '{"ok": false}', 'draft', true, :'annotation');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = :'annotation'), 0::bigint,
          'back to draft: its scores are removed');
SELECT is(scoreledger.write_annotation_scores(:'annotation'), 0, 'and writing a draft''s scores gives none');
SELECT scoreledger.save_annotation(:'message_item', '{"ok": true}') AS message_annotation \gset
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = :'message_annotation'), 0::bigint,
          'an annotation of a message-only item has no scores (no session to target)');
SELECT is((SELECT status FROM scoreledger.annotations WHERE annotation_id = :'message_annotation'), 'submitted',
          'but is saved');
SELECT is(scoreledger.save_annotation(:'item', '{"x": 1}', 'submitted', false, tests.uuid_of('annotation', 9)),
          tests.uuid_of('annotation', 9), 'an annotation_id not yet used creates the annotation under it');

-- Another reviewer cannot edit it; a second reviewer annotates on their own.
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 421), tests.uuid_of('actor', 422));
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, '{"ok": true}', 'submitted', false, %L)$$, :'item', :'annotation'),
                 'SL403', '%', 'only its reviewer edits an annotation (SL403)');
SELECT scoreledger.save_annotation(:'item', '{"ok": true}', 'submitted', false) AS second \gset
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = :'second'), 1::bigint,
          'a second reviewer''s submitted annotation writes its own scores');
SELECT tests.clear_context();

-- Unknown artefacts.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 421), tests.uuid_of('actor', 421));
SELECT tests.throws_code_like($$SELECT scoreledger.write_evaluation_result_scores(gen_random_uuid())$$, 'SL404', '%',
                 'write_evaluation_result_scores of an unknown result raises SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.write_annotation_scores(gen_random_uuid())$$, 'SL404', '%',
                 'write_annotation_scores of an unknown annotation raises SL404');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
