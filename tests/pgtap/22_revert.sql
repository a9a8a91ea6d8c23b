-- Reverting correction batches (contract section 5, "Revert"): a
-- compensating batch is created and applied, the original is marked
-- reverted; every submission the original's corrections reach today is
-- rescored without it (one history row each), including submissions
-- recorded after the original was applied; submissions no later batch
-- touched get back exactly their pre-batch score and max_score; later
-- batches stay in effect; history only grows; wrong states are SL409.
--
-- tests.make_evaluation: q1 single_choice A-D key B 1 pt; q2 multiple_choice
-- exact A-C key A,B 2 pts; q3 multiple_choice partial A-D key A,B,C 3 pts.
-- Scores are written 'score/max_score'.
BEGIN;
SELECT plan(65);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql.)
CREATE FUNCTION pg_temp.applied(reason text, VARIADIC corrections jsonb[]) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
  batch uuid := scoreledger.create_correction_batch(reason, to_jsonb(corrections));
BEGIN
  PERFORM scoreledger.apply_correction_batch(batch);
  RETURN batch;
END $$;
-- (score, max_score) of a submission's first history row: its initial scoring.
CREATE FUNCTION pg_temp.initial(sub_no int) RETURNS text LANGUAGE sql AS $$
  SELECT h.score::text || '/' || h.max_score::text FROM scoreledger.score_history h
  WHERE h.submission_id = tests.sub(sub_no) ORDER BY h.id LIMIT 1
$$;
-- (score, max_score) now, untrimmed: exact comparison with `initial`.
CREATE FUNCTION pg_temp.current(sub_no int) RETURNS text LANGUAGE sql AS $$
  SELECT s.score::text || '/' || s.max_score::text FROM scoreledger.submissions s WHERE s.submission_id = tests.sub(sub_no)
$$;
CREATE FUNCTION pg_temp.event_steps(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(coalesce(e->>'from', '-') || '>' || (e->>'to'), ' ' ORDER BY n)
  FROM jsonb_array_elements(scoreledger.get_correction_batch(batch)->'events') WITH ORDINALITY x(e, n)
$$;

SELECT scoreledger.create_tenant('revert tenant', tests.uuid_of('tenant', 1)) \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset

-- =====================================================================
-- R1 (evaluation 5): revert reaches submissions recorded after the
-- original; later batches stay; the original's record is kept
-- =====================================================================
SELECT tests.make_evaluation(5) \gset
-- 1+2+3
SELECT tests.submit(5, 1, '{B}', '{A,B}', '{A,B,C}', 51) \gset
-- 0+0+0
SELECT tests.submit(5, 2, '{C}', '{A}', '{A,D}', 52) \gset
-- 0 (q1 only)
SELECT tests.submit(5, 3, '{A}', NULL, NULL, 53) \gset
SELECT is(tests.scores('{51,52,53}'), '6/6 0/6 0/1', 'R1: initial scores');

SELECT pg_temp.applied('q1 looked ambiguous', tests.drop_item(5, 1)) AS ra \gset
SELECT is(tests.scores('{51,52,53}'), '5/5 0/5 0/0', 'RA (drop q1) applied');
-- Recorded while RA is in force: scored under it.
SELECT tests.submit(5, 4, '{B}', '{A,B}', NULL, 54) \gset
SELECT is(tests.scores('{54}'), '2/2', 'submission 54, recorded after RA, is scored with q1 dropped');
SELECT pg_temp.applied('q2 key is A', tests.replace_key(5, 2, '{A}')) AS rb \gset
SELECT is(tests.scores('{51,52,53,54}'), '3/5 2/5 0/0 0/2', 'RB (q2 key A) applied on top');

CREATE TEMP TABLE history_before AS SELECT * FROM scoreledger.score_history;
SELECT count(*) AS batches_before FROM scoreledger.correction_batches \gset

SELECT scoreledger.revert_correction_batch(:'ra', '  q1 was fine after all  ') AS ca \gset
SELECT isnt(:'ca'::uuid, :'ra'::uuid, 'revert returns a new (compensating) batch id');
SELECT is((SELECT count(*) FROM scoreledger.correction_batches), :'batches_before'::bigint + 1, 'exactly one batch was created');
SELECT results_eq(format($$SELECT status, reverted_by_batch_id, reverts_batch_id, submissions_affected FROM scoreledger.correction_batches WHERE id = %L$$, :'ra'),
                  format($$VALUES ('reverted', %L::uuid, NULL::uuid, 3)$$, :'ca'),
                  'the original is reverted, reverted_by_batch_id = the compensating batch, its own counts kept');
SELECT results_eq(format($$SELECT status, reverts_batch_id, reverted_by_batch_id, reason, created_by, submissions_affected, applied_at IS NOT NULL
                           FROM scoreledger.correction_batches WHERE id = %L$$, :'ca'),
                  format($$VALUES ('applied', %L::uuid, NULL::uuid, 'q1 was fine after all', %L::uuid, 4, true)$$, :'ra', tests.uuid_of('actor', 1)),
                  'the compensating batch is applied, reverts the original, carries the reason and the actor, rescored 4');
SELECT is(scoreledger.get_correction_batch(:'ca')->>'applied_by', tests.uuid_of('actor', 1)::text, 'the compensating batch''s applied_by is the actor');
SELECT is(tests.scores('{51,52,53,54}'), '4/6 2/6 0/1 1/3', 'after the revert: q1 counts again, RB''s key for q2 stays');
SELECT is(tests.rescored(:'ca', '{51,52,53,54}'), '{51,52,53,54}',
          'one history row per submission containing q1, including 54 (recorded after RA)');
SELECT is(pg_temp.current(53), pg_temp.initial(53), 'submission 53 (no later batch touched it) is exactly its pre-RA score and max_score');
SELECT results_eq(format($$SELECT correction_batch_id, trim_scale(score), trim_scale(max_score)
                           FROM scoreledger.submission_score_history(%L)$$, tests.sub(53)),
                  format($$VALUES (NULL::uuid, 0::numeric, 1::numeric), (%L::uuid, 0, 0), (%L::uuid, 0, 1)$$, :'ra', :'ca'),
                  'submission_score_history(53), oldest first: initial 0/1, RA 0/0, the revert 0/1');
SELECT is((SELECT array_agg(coalesce(correction_batch_id::text, 'initial') || '=' || trim_scale(score) || '/' || trim_scale(max_score) ORDER BY id)
           FROM scoreledger.score_history WHERE submission_id = tests.sub(54)),
          ARRAY['initial=2/2', :'rb' || '=0/2', :'ca' || '=1/3'], 'submission 54''s history: recorded under RA, RB, then the revert');
SELECT is((SELECT count(*) FROM history_before h WHERE NOT EXISTS (
             SELECT 1 FROM scoreledger.score_history n WHERE (n.*) IS NOT DISTINCT FROM (h.*))), 0::bigint,
          'every earlier history row is still there, unchanged');
SELECT is((SELECT count(*) FROM scoreledger.score_history), (SELECT count(*) FROM history_before) + 4,
          'history grew by exactly the four rescored submissions');
SELECT is(scoreledger.get_correction_batch(:'ra')->'corrections', jsonb_build_array(tests.drop_item(5, 1)),
          'the original''s payload is unchanged');
SELECT is(pg_temp.event_steps(:'ra'), '->draft draft>applied applied>reverted', 'the original''s events: created, applied, reverted');
SELECT is(pg_temp.event_steps(:'ca'), '->applied', 'the compensating batch''s event: applied');
SELECT is((SELECT e->>'actor' FROM jsonb_array_elements(scoreledger.get_correction_batch(:'ra')->'events') e WHERE e->>'to' = 'reverted'),
          tests.uuid_of('actor', 1)::text, 'the revert event names the actor');
SELECT is((SELECT count(*) FROM scoreledger.list_correction_batches('reverted')), 1::bigint, 'list reverted: the original');

-- Recorded after the revert: scored without RA, with RB.
SELECT tests.submit(5, 5, '{B}', '{A,B}', NULL, 55) \gset
SELECT is(tests.scores('{55}'), '1/3', 'a submission recorded after the revert is scored without RA');

-- Wrong states.
SELECT count(*) AS batches_before FROM scoreledger.correction_batches \gset
SELECT count(*) AS history_count FROM scoreledger.score_history \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'again')$$, :'ra'), 'SL409', '%', 'reverting twice is SL409');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'undo the undo')$$, :'ca'), 'SL409', '%',
               'reverting a compensating batch is SL409');
SELECT scoreledger.create_correction_batch('a draft', jsonb_build_array(tests.drop_item(5, 3))) AS draft \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'not yet')$$, :'draft'), 'SL409', '%',
               'reverting a draft is SL409');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'who?')$$, tests.uuid_of('nowhere', 1)), 'SL404', '%',
               'reverting an unknown batch is SL404');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, '')$$, :'rb'), 'SL422', 'reason%',
               'reverting with an empty reason is SL422 naming reason');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, '   ')$$, :'rb'), 'SL422', 'reason%',
               'reverting with a blank reason is SL422 naming reason');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, NULL)$$, :'rb'), 'SL422', 'reason%',
               'reverting with a null reason is SL422 naming reason');
SELECT tests.throws_code_like(format($$SELECT scoreledger.apply_correction_batch(%L)$$, :'ra'), 'SL409', '%',
               'applying a reverted batch is SL409');
SELECT is((SELECT count(*) FROM scoreledger.correction_batches), :'batches_before'::bigint + 1,
          'the failures created nothing (only the draft is new)');
SELECT is((SELECT count(*) FROM scoreledger.score_history), :'history_count'::bigint, 'the failures wrote no history');
SELECT is((SELECT status FROM scoreledger.correction_batches WHERE id = :'rb'), 'applied', 'RB is still applied');
SELECT is(scoreledger.apply_correction_batch(:'ca'),
          (scoreledger.get_correction_batch(:'ca')->'apply_result') || '{"already_applied": true}',
          'applying the (applied) compensating batch returns its result with already_applied true');
SELECT is((SELECT count(*) FROM scoreledger.score_history), :'history_count'::bigint, '... and writes nothing');
SELECT is(((scoreledger.apply_correction_batch(:'ca'))->>'submissions_rescored')::int, 4, '... its result counts the revert''s rescoring');

SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), NULL) \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'no actor')$$, :'rb'), 'SL401', '%',
               'reverting without an actor is SL401');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset

-- =====================================================================
-- R2 (evaluation 7): exact restoration with non-terminating fractions
--   q71 multiple_choice partial A-D, key A,B,C, 2 pts (thirds of 2)
--   q72 single_choice A,B, key A, 1 pt
-- =====================================================================
SELECT scoreledger.import_evaluation_version(jsonb_build_object(
  'evaluation_id', tests.uuid_of('evaluation', 7), 'evaluation_version_id', tests.ev(7),
  'evaluation_title', 'Thirds', 'version_no', 1, 'pass_mark', 0.5,
  'items', jsonb_build_array(
    jsonb_build_object('question_id', tests.uuid_of('question71', 7), 'question_version_id', tests.qv(7, 1),
      'kind', 'multiple_choice', 'prompt', 'Thirds?', 'options', '["A","B","C","D"]'::jsonb, 'correct', '["A","B","C"]'::jsonb,
      'points', 2, 'scoring', 'partial'),
    jsonb_build_object('question_id', tests.uuid_of('question72', 7), 'question_version_id', tests.qv(7, 2),
      'kind', 'single_choice', 'prompt', 'A?', 'options', '["A","B"]'::jsonb, 'correct', '["A"]'::jsonb, 'points', 1)))) \gset
-- 2·2/3 + 1
SELECT tests.submit(7, 1, '{A,B}', '{A}', NULL, 71) \gset
-- 2·(2−1)/3 + 0
SELECT tests.submit(7, 2, '{A,B,D}', '{B}', NULL, 72) \gset
SELECT ok(abs((SELECT score FROM scoreledger.submissions WHERE submission_id = tests.sub(71)) - 7/3.0) < 1e-9
          AND abs((SELECT score FROM scoreledger.submissions WHERE submission_id = tests.sub(72)) - 2/3.0) < 1e-9,
          'R2: initial scores are 7/3 and 2/3');
SELECT pg_temp.applied('q71 key is A,B', tests.replace_key(7, 1, '{A,B}')) AS rx \gset
SELECT is(tests.scores('{71,72}'), '3/3 1/3', 'RX (q71 key A,B) applied');
SELECT pg_temp.applied('q72 right for 72', tests.mark_correct(7, 2, '{72}')) AS ry \gset
SELECT is(tests.scores('{71,72}'), '3/3 2/3', 'RY (q72 scoped to 72) applied');
SELECT scoreledger.revert_correction_batch(:'rx', 'key was right') AS cx \gset
SELECT is(pg_temp.current(71), pg_temp.initial(71), 'after reverting RX, 71 (untouched since) has exactly its initial score and max_score');
SELECT is((SELECT score FROM scoreledger.submissions WHERE submission_id = tests.sub(72)),
          (SELECT score + 1 FROM scoreledger.score_history WHERE submission_id = tests.sub(72) ORDER BY id LIMIT 1),
          '72 keeps RY''s credit on q72 on top of its initial q71 points, exactly');

-- =====================================================================
-- R3 (evaluation 8): later batches stay in effect; the most recently
-- applied replace_key that is still active wins
-- =====================================================================
SELECT tests.make_evaluation(8) \gset
-- 0+2
SELECT tests.submit(8, 1, '{C}', '{A,B}', NULL, 81) \gset
-- 0+0
SELECT tests.submit(8, 2, '{D}', '{A}', NULL, 82) \gset
-- 1+0
SELECT tests.submit(8, 3, '{B}', '{}', NULL, 83) \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 0/3 1/3', 'R3: initial scores');
SELECT pg_temp.applied('q1 key C', tests.replace_key(8, 1, '{C}')) AS ka \gset
SELECT pg_temp.applied('q1 key D', tests.replace_key(8, 1, '{D}')) AS kb \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 1/3 0/3', 'KA (key C) then KB (key D): D wins');
SELECT scoreledger.revert_correction_batch(:'ka', 'C was wrong') AS cka \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 1/3 0/3', 'reverting KA leaves KB''s key D in effect');
SELECT is(tests.rescored(:'cka', '{81,82,83}'), '{81,82,83}', 'reverting KA still writes one row per submission it reaches');
SELECT is((scoreledger.get_correction_batch(:'cka')->'apply_result'->>'scores_changed')::int, 0, '... and counts no score changed');
SELECT pg_temp.applied('q1 key C again', tests.replace_key(8, 1, '{C}')) AS kc \gset
SELECT is(tests.scores('{81,82,83}'), '3/3 0/3 0/3', 'KC (key C) applied last wins');
SELECT scoreledger.revert_correction_batch(:'kc', 'no, D') AS ckc \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 1/3 0/3', 'reverting KC brings back KB (the most recent still active)');
SELECT scoreledger.revert_correction_batch(:'kb', 'B after all') AS ckb \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 0/3 1/3', 'reverting KB too brings back the original key B');
SELECT ok(pg_temp.current(81) = pg_temp.initial(81) AND pg_temp.current(82) = pg_temp.initial(82)
          AND pg_temp.current(83) = pg_temp.initial(83), 'every key batch reverted: exactly the initial scores');

SELECT pg_temp.applied('q2 dropped', tests.drop_item(8, 2)) AS da \gset
SELECT is(tests.scores('{81,82,83}'), '0/1 0/1 1/1', 'DA (drop q2)');
SELECT pg_temp.applied('q2 full marks', tests.mark_correct(8, 2)) AS mb \gset
SELECT is(tests.scores('{81,82,83}'), '0/1 0/1 1/1', 'MB (mark q2) while dropped: no change');
SELECT scoreledger.revert_correction_batch(:'da', 'keep q2') AS cda \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 2/3 3/3', 'reverting DA: MB''s full marks on q2 take effect');
SELECT scoreledger.revert_correction_batch(:'mb', 'no full marks') AS cmb \gset
SELECT is(tests.scores('{81,82,83}'), '2/3 0/3 1/3', 'reverting MB: back to the initial scores');
SELECT is(tests.history_rows(81), 11::bigint, 'submission 81 has one row per apply and revert that reached it (1 + 10)');

-- =====================================================================
-- R4 (evaluation 9): reverting a scoped mark_correct reaches only the
-- listed submissions
-- =====================================================================
SELECT tests.make_evaluation(9) \gset
SELECT tests.submit(9, 1, '{A}', '{A,B}', NULL, 91) \gset
SELECT tests.submit(9, 2, '{A}', '{A}', NULL, 92) \gset
SELECT tests.submit(9, 3, '{A}', '{C}', NULL, 93) \gset
SELECT pg_temp.applied('q1 right for 91 and 92', tests.mark_correct(9, 1, '{91,92}')) AS sm \gset
SELECT is(tests.scores('{91,92,93}'), '3/3 1/3 0/3', 'SM (q1 scoped to 91, 92) applied');
SELECT scoreledger.revert_correction_batch(:'sm', 'not for them') AS csm \gset
SELECT is(tests.scores('{91,92,93}'), '2/3 0/3 0/3', 'reverting SM: 91 and 92 lose the credit');
SELECT is(tests.rescored(:'csm', '{91,92,93}'), '{91,92}', 'the revert rescored only the listed submissions');
SELECT is(tests.history_rows(93), 1::bigint, 'submission 93 was never rescored');
SELECT is((SELECT submissions_affected FROM scoreledger.correction_batches WHERE id = :'csm'), 2, 'the compensating batch counts 2');

-- =====================================================================
-- R5 (evaluation 10): the revert's counts
-- =====================================================================
SELECT tests.make_evaluation(10) \gset
SELECT tests.submit(10, 1, '{B}', NULL, NULL, 101) \gset
SELECT tests.submit(10, 2, '{A}', NULL, NULL, 102) \gset
SELECT tests.submit(10, 3, '{C}', NULL, NULL, 103) \gset
SELECT pg_temp.applied('q1 key A', tests.replace_key(10, 1, '{A}')) AS ta \gset
SELECT scoreledger.revert_correction_batch(:'ta', 'B was right') AS cta \gset
SELECT is(scoreledger.get_correction_batch(:'cta')->'apply_result',
          jsonb_build_object('batch_id', :'cta'::uuid, 'status', 'applied', 'submissions_rescored', 3, 'scores_changed', 2,
                             'already_applied', false),
          'the compensating batch''s result: 3 rescored, 2 changed');
SELECT is(tests.scores('{101,102,103}'), '1/1 0/1 0/1', 'R5: back to key B');

-- Whitespace other than spaces says no more than spaces do.
SELECT pg_temp.applied('q1 key C', tests.replace_key(10, 1, '{C}')) AS tb \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, E'\t\n')$$, :'tb'), 'SL422', 'reason%',
               'reverting with a reason of tabs and newlines is SL422 naming reason');

-- =====================================================================
SELECT tests.clear_context() \gset
SELECT is((SELECT sum(breaches) FROM scoreledger.check_invariants()), 0::numeric, 'check_invariants finds no breach');

SELECT * FROM finish();
ROLLBACK;
