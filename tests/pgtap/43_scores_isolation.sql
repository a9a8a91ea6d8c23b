-- Failure isolation (contract section 8): a writer failure never fails nor
-- rolls back the producer's write; it is recorded, one open row per
-- artefact, and resolved by the next successful write of that artefact.
-- The failure is injected with a trigger on the scores table that refuses
-- scores named "poison" (or, switched on, every score).
BEGIN;
SELECT plan(30);

CREATE TABLE tests.poison_switch (everything boolean NOT NULL);
INSERT INTO tests.poison_switch VALUES (false);
GRANT SELECT, UPDATE ON tests.poison_switch TO PUBLIC;
SET LOCAL client_min_messages = error;  -- the explicit writer's WARNING below is expected
CREATE FUNCTION tests.tg_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.name = 'poison' OR (SELECT everything FROM tests.poison_switch) THEN
    RAISE EXCEPTION 'injected writer failure on score %', NEW.name USING ERRCODE = 'XX000';
  END IF;
  RETURN NEW;
END $$;
GRANT EXECUTE ON FUNCTION tests.tg_poison() TO PUBLIC;
CREATE TRIGGER poison BEFORE INSERT ON scoreledger_private.scores FOR EACH ROW EXECUTE FUNCTION tests.tg_poison();

SELECT tests.score_fixture('scores isolation', 431);
SELECT scoreledger.register_evaluator('judge');

-- One result whose scores cannot be written.
SELECT lives_ok($$SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4311),
                    '{"ok": true, "poison": 1}', NULL, tests.uuid_of('result', 1))$$,
                'a result whose scores fail to write is still recorded: no error reaches the producer');
SELECT is((SELECT payload FROM scoreledger.evaluation_results WHERE result_id = tests.uuid_of('result', 1)),
          '{"ok": true, "poison": 1}'::jsonb, 'the result row survives');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)), 0::bigint,
          'none of its scores is written (one transaction per artefact: all or none)');
SELECT results_eq($$SELECT source_kind, source_id, submission_id, attempts, resolved_at IS NULL FROM scoreledger.score_write_failures$$,
                  $$VALUES ('evaluation_result', tests.uuid_of('result', 1), tests.uuid_of('submission', 4311), 1, true)$$,
                  'the failure is recorded, open, with the artefact and its submission');
SELECT ok((SELECT error LIKE '%injected writer failure on score poison%' AND sqlstate = 'XX000' FROM scoreledger.score_write_failures),
          'with the writer''s error and SQLSTATE');

-- Failing again: still one open row, attempts counted.
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4311), '{"poison": 2}', NULL, tests.uuid_of('result', 1));
SELECT results_eq($$SELECT count(*), max(attempts) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL$$,
                  $$VALUES (1::bigint, 2)$$, 'a repeated failure updates the open row (attempts 2), never a second open row');

-- The explicit writer reports the failure without raising.
SELECT is(scoreledger.write_evaluation_result_scores(tests.uuid_of('result', 1)), NULL::integer,
          'write_evaluation_result_scores returns null when the write fails (and raises only a WARNING)');
SELECT is((SELECT attempts FROM scoreledger.score_write_failures WHERE resolved_at IS NULL), 3, 'and records the attempt');

-- The next successful write resolves it.
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4311), '{"ok": false}', NULL, tests.uuid_of('result', 1));
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL), 0::bigint,
          'the next successful write of the artefact resolves its failure');
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NOT NULL), 1::bigint,
          'the resolved failure stays on record');
SELECT results_eq($$SELECT name, value_numeric FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)$$,
                  $$VALUES ('ok', 0::numeric)$$, 'and its scores are there');

-- A failed overwrite keeps the previous scores until the next success.
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4311), '{"poison": 3}', NULL, tests.uuid_of('result', 1));
SELECT results_eq($$SELECT name, value_numeric FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)$$,
                  $$VALUES ('ok', 0::numeric)$$,
                  'a failed rewrite leaves the artefact''s previous scores (its delete is rolled back with its insert)');
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL AND source_id = tests.uuid_of('result', 1)),
          1::bigint, 'and the failure is open again: the scores are stale until repaired');

-- Bulk: the set fails, the culprit is isolated, the rest written.
SELECT is(scoreledger.record_evaluation_results(jsonb_build_array(
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4311),
                               'payload', '{"a": 1}'::jsonb, 'result_id', tests.uuid_of('result', 11)),
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4311),
                               'payload', '{"a": 2, "poison": true}'::jsonb, 'result_id', tests.uuid_of('result', 12)),
            jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4311),
                               'payload', '{"a": 3}'::jsonb, 'result_id', tests.uuid_of('result', 13)))),
          3, 'a bulk call with one failing artefact records all three results');
SELECT set_eq($$SELECT evaluation_result_id, value_numeric FROM scoreledger.scores
                WHERE evaluation_result_id IN (tests.uuid_of('result', 11), tests.uuid_of('result', 12), tests.uuid_of('result', 13))$$,
              $$VALUES (tests.uuid_of('result', 11), 1::numeric), (tests.uuid_of('result', 13), 3::numeric)$$,
              'the other artefacts'' scores are written');
SELECT set_eq($$SELECT source_id FROM scoreledger.score_write_failures WHERE resolved_at IS NULL$$,
              ARRAY[tests.uuid_of('result', 1), tests.uuid_of('result', 12)],
              'only the failing artefact is recorded as failed');

-- Systemic failure: every artefact of the set fails, every result survives.
UPDATE tests.poison_switch SET everything = true;
SELECT is(scoreledger.record_evaluation_results((SELECT jsonb_agg(jsonb_build_object('evaluator', 'judge',
            'submission_id', tests.uuid_of('submission', 4311), 'payload', jsonb_build_object('n', g),
            'result_id', tests.uuid_of('result', 100 + g))) FROM generate_series(1, 20) g)),
          20, 'when no score can be written at all, the bulk call still records its 20 results');
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL
           AND source_id IN (SELECT tests.uuid_of('result', 100 + g) FROM generate_series(1, 20) g)), 20::bigint,
          'and records 20 failures');

-- Annotations: the same isolation.
SELECT scoreledger.create_review_queue('review') AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4311)) AS item \gset
SELECT lives_ok(format($$SELECT scoreledger.save_annotation(%L, '{"ok": true}', 'submitted', true, %L)$$,
                       :'item', tests.uuid_of('annotation', 1)),
                'save_annotation succeeds when its scores cannot be written');
SELECT is((SELECT data FROM scoreledger.annotations WHERE annotation_id = tests.uuid_of('annotation', 1)), '{"ok": true}'::jsonb,
          'the reviewer''s work is kept');
SELECT is((SELECT source_kind FROM scoreledger.score_write_failures WHERE source_id = tests.uuid_of('annotation', 1)), 'annotation',
          'and the failure is recorded as an annotation''s');
UPDATE tests.poison_switch SET everything = false;
SELECT scoreledger.save_annotation(:'item', '{"ok": true}', 'submitted', true, tests.uuid_of('annotation', 1));
SELECT is((SELECT resolved_at IS NOT NULL FROM scoreledger.score_write_failures WHERE source_id = tests.uuid_of('annotation', 1)),
          true, 'the next submitted save resolves it');

-- Backfill repairs what is left: failed artefacts are "lacking".
SELECT tests.clear_context();
DROP TRIGGER poison ON scoreledger_private.scores;
SELECT tests.authenticate_as(tests.uuid_of('tenant', 431), tests.uuid_of('actor', 431));
SELECT is((SELECT artefacts FROM scoreledger.score_backfill_pending() WHERE source_kind = 'evaluation_result'), 22::bigint,
          'score_backfill_pending counts the 22 results with an open failure');
SELECT results_eq($$SELECT artefacts, scores_written, failed FROM scoreledger.backfill_scores('evaluation_result', NULL, 100)$$,
                  $$VALUES (22, 23::bigint, 0)$$, 'one backfill chunk rewrites the 22 failed results: 23 scores, no failure');
SELECT is((SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL), 0::bigint,
          'after the backfill no failure is open');
SELECT results_eq($$SELECT name, value_numeric FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 12) ORDER BY name$$,
                  $$VALUES ('a', 2::numeric), ('poison', 1::numeric)$$, 'the isolated culprit has its scores now');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 1)), 1::bigint,
          'the stale scores were replaced, not duplicated');
SELECT results_eq($$SELECT artefacts, scores_written FROM scoreledger.backfill_scores('evaluation_result', NULL, 100)$$,
                  $$VALUES (0, 0::bigint)$$, 'a second run finds nothing left to do');
SELECT is((SELECT sum(artefacts) FROM scoreledger.score_backfill_pending()), 0::numeric, 'nothing pending');
SELECT tests.clear_context();

-- The producer's write is never inside the score write: an error of the
-- producer itself (an invalid document) still fails the call.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 431), tests.uuid_of('actor', 431));
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('nobody', tests.uuid_of('submission', 4311), '{}')$$, 'SL404', '%',
                 'an unknown evaluator still fails the producer (SL404): isolation is for score writes only');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
