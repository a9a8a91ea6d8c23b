-- Backfill (contract section 8): keyset chunks of the artefacts that lack
-- scores (forced: all), resumable, and the migration-time top-up.
-- Rows that predate the score layer are simulated by inserting results and
-- annotations as the owner, bypassing the writers.
BEGIN;
SELECT plan(26);

SELECT tests.score_fixture('scores backfill', 471);
SELECT scoreledger.register_evaluator('judge') AS judge \gset
SELECT scoreledger.create_review_queue('review') AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4711)) AS item \gset
SELECT scoreledger.add_review_item(:'queue', NULL, 'message') AS message_item \gset
SELECT tests.clear_context();

-- 25 old results (2 keys each), 3 without scores of their own (error, no
-- submission, empty payload), 1 with only a null key; 4 old annotations.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 471));
INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
SELECT tests.uuid_of('tenant', 471), tests.uuid_of('old result', g), :'judge', tests.uuid_of('submission', 4711),
       jsonb_build_object('n', g, 'even', g % 2 = 0)
FROM generate_series(1, 25) g;
INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload, error) VALUES
  (tests.uuid_of('tenant', 471), tests.uuid_of('old result', 101), :'judge', tests.uuid_of('submission', 4711), '{"n": 1}', 'crashed'),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old result', 102), :'judge', NULL, '{"n": 1}', NULL),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old result', 103), :'judge', tests.uuid_of('submission', 4711), '{}', NULL),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old result', 104), :'judge', tests.uuid_of('submission', 4711), '{"x": null}', NULL);
INSERT INTO scoreledger_private.annotations (tenant_id, annotation_id, item_id, reviewer_id, data, status, is_authoritative, submitted_at) VALUES
  (tests.uuid_of('tenant', 471), tests.uuid_of('old annotation', 1), :'item', tests.uuid_of('actor', 471), '{"ok": true}', 'submitted', true, now()),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old annotation', 2), :'item', tests.uuid_of('actor', 471), '{"ok": false}', 'submitted', false, now()),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old annotation', 3), :'item', tests.uuid_of('actor', 471), '{"ok": true}', 'draft', true, NULL),
  (tests.uuid_of('tenant', 471), tests.uuid_of('old annotation', 4), :'message_item', tests.uuid_of('actor', 471), '{"ok": true}', 'submitted', true, now());
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 471));
SELECT results_eq($$SELECT source_kind, artefacts, resume_after FROM scoreledger.score_backfill_pending() ORDER BY source_kind$$,
                  $$VALUES ('annotation', 2::bigint, NULL::uuid), ('evaluation_result', 26::bigint, NULL)$$,
                  'pending: the 26 results and 2 annotations that would write something and have nothing');
SELECT results_eq($$SELECT source_kind, artefacts FROM scoreledger.score_backfill_pending(true) ORDER BY source_kind$$,
                  $$VALUES ('annotation', 4::bigint), ('evaluation_result', 29::bigint)$$, 'pending, forced: every artefact');

-- Chunks over windows of 10 ids, in id order, each after the previous
-- window's last id: 29 results, so windows of 10, 10, 9, then none.
CREATE TEMP TABLE chunks (n int, artefacts int, scores_written bigint, failed int, last_id uuid);
GRANT ALL ON chunks TO PUBLIC;
INSERT INTO chunks SELECT 1, * FROM scoreledger.backfill_scores('evaluation_result', NULL, 10);
INSERT INTO chunks SELECT 2, b.* FROM chunks c, scoreledger.backfill_scores('evaluation_result', c.last_id, 10) b WHERE c.n = 1;
INSERT INTO chunks SELECT 3, b.* FROM chunks c, scoreledger.backfill_scores('evaluation_result', c.last_id, 10) b WHERE c.n = 2;
INSERT INTO chunks SELECT 4, b.* FROM chunks c, scoreledger.backfill_scores('evaluation_result', c.last_id, 10) b WHERE c.n = 3;
SELECT results_eq($$SELECT sum(artefacts)::int, max(failed), count(*) FILTER (WHERE last_id IS NULL)::int FROM chunks$$,
                  $$VALUES (26, 0, 1)$$,
                  'three windows write the 26 results lacking scores (the 3 without scores of their own are passed over); the fourth is empty');
SELECT ok((SELECT bool_and(artefacts <= 10) FROM chunks), 'no chunk writes more than its window of 10');
SELECT is((SELECT sum(scores_written) FROM chunks), 50::numeric, '50 scores written (the null-only result writes a warning)');
SELECT ok((SELECT bool_and(a.last_id < b.last_id) FROM chunks a JOIN chunks b ON b.n = a.n + 1 WHERE b.last_id IS NOT NULL),
          'each chunk ends after the previous one (keyset order)');
SELECT is((SELECT last_id FROM chunks WHERE n = 4), NULL::uuid, 'the empty window says so: last_id null');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE source = 'automated'), 50::bigint, 'the 25 old results have their 50 scores');
SELECT is((SELECT count(*) FROM scoreledger.score_write_warnings), 1::bigint, 'and the null-only result its warning');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id IN
             (tests.uuid_of('old result', 101), tests.uuid_of('old result', 102), tests.uuid_of('old result', 103))), 0::bigint,
          'results with an error, without a submission or with an empty payload stay without scores');
SELECT is((SELECT sum(artefacts) FROM scoreledger.score_backfill_pending() WHERE source_kind = 'evaluation_result'), 0::numeric,
          'nothing is pending for results any more (the warning counts as written)');
SELECT results_eq($$SELECT artefacts FROM scoreledger.backfill_scores('evaluation_result', NULL, 1000)$$, ARRAY[0],
                  'running it again does nothing (idempotent)');

SELECT results_eq($$SELECT artefacts, scores_written FROM scoreledger.backfill_scores('annotation')$$,
                  $$VALUES (2, 2::bigint)$$, 'annotations: the two submitted ones on a submission, authoritative or not');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE source = 'human'), 2::bigint,
          'a draft and a message-only annotation get no scores');

-- A forced pass rewrites everything, remembers where it stopped, resumes.
SELECT results_eq($$SELECT artefacts FROM scoreledger.backfill_scores('evaluation_result', NULL, 20, true)$$,
                  ARRAY[20], 'forced: the first 20 results, whatever they have');
SELECT ok((SELECT resume_after IS NOT NULL FROM scoreledger.score_backfill_pending(true) WHERE source_kind = 'evaluation_result'),
          'the forced pass left a cursor (an interruption here resumes after it)');
SELECT is((SELECT artefacts FROM scoreledger.score_backfill_pending(true) WHERE source_kind = 'evaluation_result'), 9::bigint,
          'and 9 results after it are pending');
SELECT results_eq($$SELECT artefacts FROM scoreledger.backfill_scores('evaluation_result',
                      (SELECT resume_after FROM scoreledger.score_backfill_pending(true) WHERE source_kind = 'evaluation_result'), 20, true)$$,
                  ARRAY[9], 'resuming after the cursor does the last 9');
SELECT results_eq($$SELECT artefacts, last_id FROM scoreledger.backfill_scores('evaluation_result',
                      (SELECT result_id FROM scoreledger.evaluation_results ORDER BY result_id DESC LIMIT 1), 20, true)$$,
                  $$VALUES (0, NULL::uuid)$$, 'the pass reaches the end ...');
SELECT is((SELECT resume_after FROM scoreledger.score_backfill_pending(true) WHERE source_kind = 'evaluation_result'), NULL::uuid,
          '... and forgets its cursor: the next forced run starts from the beginning');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE source = 'automated'), 50::bigint, 'still 50 automated scores: rewritten, not duplicated');

-- Arguments.
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.backfill_scores('submission')$$, 'SL422', 'source\_kind: must be evaluation\_result or annotation',
                 'backfill_scores: an unknown source kind is SL422');
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.backfill_scores('annotation', NULL, 0)$$, 'SL422', 'batch\_size: must be between 1 and 100000',
                 'backfill_scores: batch_size out of range is SL422');
SELECT tests.clear_context();

-- The migration-time top-up: every tenant, in the caller's transaction.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 471));
INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
SELECT tests.uuid_of('tenant', 471), tests.uuid_of('late result', g), :'judge', tests.uuid_of('submission', 4711), jsonb_build_object('late', g)
FROM generate_series(1, 3) g;
SELECT tests.clear_context();
SELECT tests.score_fixture('scores backfill 2', 472);
SELECT scoreledger.register_evaluator('judge') AS judge2 \gset
SELECT tests.act_as_owner(tests.uuid_of('tenant', 472));
INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
VALUES (tests.uuid_of('tenant', 472), tests.uuid_of('late result', 9), :'judge2', tests.uuid_of('submission', 4721), '{"late": 9}');
SELECT tests.clear_context();

SET LOCAL ROLE scoreledger_owner;
SELECT set_config('scoreledger.tenant_id', '', true);
SELECT results_eq($$SELECT tenant_id, source_kind, artefacts, scores_written, failed FROM scoreledger.top_up_scores()
                    WHERE tenant_id IN (tests.uuid_of('tenant', 471), tests.uuid_of('tenant', 472)) ORDER BY tenant_id$$,
                  $$SELECT * FROM (VALUES (tests.uuid_of('tenant', 471), 'evaluation_result', 3::bigint, 3::bigint, 0::bigint),
                                          (tests.uuid_of('tenant', 472), 'evaluation_result', 1::bigint, 1::bigint, 0::bigint)) v
                    ORDER BY 1$$,
                  'top_up_scores (as a migration runs it: the owner, no context) writes what each tenant lacks');
SELECT is(current_setting('scoreledger.tenant_id', true), '', 'and leaves the caller''s (empty) context as it was');
SELECT is_empty($$SELECT * FROM scoreledger.top_up_scores() WHERE tenant_id IN (tests.uuid_of('tenant', 471), tests.uuid_of('tenant', 472))$$,
                'a second top-up finds nothing');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
