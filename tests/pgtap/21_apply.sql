-- Applying correction batches (contract sections 4 and 5): exact scores
-- under replace_key / drop_item / mark_correct (for everyone and scoped),
-- their composition (drop beats mark_correct beats the key; the most
-- recently applied replace_key wins), the scope of a rescore (only
-- submissions containing the targeted item of that evaluation version,
-- every attempt), one history row per rescored submission, the counts
-- returned, idempotent re-apply, and the list/show documents.
--
-- The evaluation (tests.make_evaluation), max 6 points:
--   q1 single_choice A-D, key B, 1 pt
--   q2 multiple_choice exact A-C, key A,B, 2 pts
--   q3 multiple_choice partial A-D, key A,B,C, 3 pts
--      (points × max(0, |S∩key| − |S∖key|) / |key|)
-- Scores are written 'score/max_score'.
BEGIN;
SELECT plan(80);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql.)
CREATE FUNCTION pg_temp.batch(reason text, VARIADIC corrections jsonb[]) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.create_correction_batch(reason, to_jsonb(corrections))
$$;
CREATE FUNCTION pg_temp.result(batch uuid, rescored int, changed int, already boolean DEFAULT false) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('batch_id', batch, 'status', 'applied', 'submissions_rescored', rescored,
                            'scores_changed', changed, 'already_applied', already)
$$;

SELECT scoreledger.create_tenant('apply tenant', tests.uuid_of('tenant', 1)) \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset

-- =====================================================================
-- Scenario A (evaluation 1): replace_key, scope, history, counts, re-apply
-- =====================================================================
SELECT tests.make_evaluation(1) \gset
SELECT tests.make_evaluation(2) \gset
-- Version 2 of evaluation 1 shares q1's question version with version 1.
SELECT scoreledger.import_evaluation_version(jsonb_build_object(
  'evaluation_id', tests.uuid_of('evaluation', 1), 'evaluation_version_id', tests.ev(101),
  'evaluation_title', 'Evaluation 1', 'version_no', 2, 'pass_mark', 0.5,
  'items', jsonb_build_array(jsonb_build_object(
    'question_id', tests.uuid_of('question1', 1), 'question_version_id', tests.qv(1, 1),
    'kind', 'single_choice', 'prompt', 'One?', 'options', '["A","B","C","D"]'::jsonb, 'correct', '["B"]'::jsonb, 'points', 1)))) \gset
-- 1+2+3
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 11) \gset
-- same user, attempt 2: 0+0+0
SELECT tests.submit(1, 1, '{C}', '{A}',   '{A,D}',   12) \gset
-- 0+0+2
SELECT tests.submit(1, 2, '{A}', '{A,B,C}', '{A,B}', 13) \gset
-- 1+0 (q3 not presented)
SELECT tests.submit(1, 3, '{B}', '{}',    NULL,      14) \gset
-- 0+0 (q2 not presented)
SELECT tests.submit(1, 4, '{D}', NULL,    '{C,D}',   15) \gset
SELECT scoreledger.record_submission(jsonb_build_object(
  'submission_id', tests.sub(16), 'evaluation_version_id', tests.ev(101), 'user_id', tests.uuid_of('user', 5),
  'submitted_at', '2026-11-01T10:00:00Z',
  'answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.qv(1, 1), 'selected', '["B"]'::jsonb)))) \gset
SELECT tests.submit(2, 1, '{B}', '{A,B}', '{A,B,C}', 21) \gset

SELECT is(tests.scores('{11,12,13,14,15,16,21}'), '6/6 0/6 2/6 1/3 0/4 1/1 6/6', 'A: initial scores');

-- A1: q1's key becomes C.
SELECT pg_temp.batch('q1 key is C', tests.replace_key(1, 1, '{C}')) AS a1 \gset
SELECT scoreledger.apply_correction_batch(:'a1') AS a1_result \gset
SELECT is(:'a1_result'::jsonb, pg_temp.result(:'a1', 5, 3), 'A1: result counts 5 rescored (every submission with q1), 3 changed');
SELECT is(tests.scores('{11,12,13,14,15,16,21}'), '5/6 1/6 2/6 0/3 0/4 1/1 6/6', 'A1: q1 scored against key C');
SELECT is(tests.rescored(:'a1', '{11,12,13,14,15,16,21}'), '{11,12,13,14,15}',
          'A1: exactly one history row per submission containing the item, both attempts of user 1 included');
SELECT is(tests.history_rows(16), 1::bigint, 'A1: the submission of version 2 (sharing q1''s question version) is not rescored');
SELECT is(tests.history_rows(21), 1::bigint, 'A1: a submission of another evaluation is not rescored');
SELECT is((SELECT count(*) FROM scoreledger.score_history WHERE correction_batch_id = :'a1'), 5::bigint,
          'A1: five history rows in all, equal to submissions_rescored');
SELECT is((SELECT array_agg(trim_scale(h.score)::text || '/' || trim_scale(h.max_score)::text ORDER BY h.submission_id)
           FROM scoreledger.score_history h WHERE h.correction_batch_id = :'a1'),
          (SELECT array_agg(trim_scale(s.score)::text || '/' || trim_scale(s.max_score)::text ORDER BY s.submission_id)
           FROM scoreledger.submissions s JOIN scoreledger.score_history h ON h.submission_id = s.submission_id
           WHERE h.correction_batch_id = :'a1'),
          'A1: each rescored submission''s score equals its new history row');
SELECT is(status, 'applied', 'A1: status applied') FROM scoreledger.correction_batches WHERE id = :'a1';
SELECT ok(applied_at IS NOT NULL AND applied_at >= created_at, 'A1: applied_at set') FROM scoreledger.correction_batches WHERE id = :'a1';
SELECT is(scoreledger.get_correction_batch(:'a1')->>'applied_by', tests.uuid_of('actor', 1)::text, 'A1: applied_by is the actor');
SELECT is(submissions_affected, 5, 'A1: submissions_affected = submissions rescored') FROM scoreledger.correction_batches WHERE id = :'a1';
SELECT is((SELECT jsonb_agg(jsonb_build_object('from', e->'from', 'to', e->'to', 'actor', e->'actor'))
           FROM jsonb_array_elements(scoreledger.get_correction_batch(:'a1')->'events') e),
          jsonb_build_array(jsonb_build_object('from', NULL, 'to', 'draft', 'actor', tests.uuid_of('actor', 1)),
                            jsonb_build_object('from', 'draft', 'to', 'applied', 'actor', tests.uuid_of('actor', 1))),
          'A1: events are draft, then draft -> applied by the actor');
SELECT ok((SELECT bool_and(e ? 'at' AND e ? 'note' AND (e->>'at')::timestamptz IS NOT NULL)
           FROM jsonb_array_elements(scoreledger.get_correction_batch(:'a1')->'events') e),
          'A1: every event has at and note');

-- Re-apply (also by someone else): first result, already_applied, nothing written.
SELECT count(*) AS history_before FROM scoreledger.score_history \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 3)) \gset
SELECT is(scoreledger.apply_correction_batch(:'a1'), pg_temp.result(:'a1', 5, 3, true),
          'A1 again: the first result with already_applied true');
SELECT is(scoreledger.apply_correction_batch(:'a1'), pg_temp.result(:'a1', 5, 3, true),
          'A1 a third time: still the first result');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is((SELECT count(*) FROM scoreledger.score_history), :'history_before'::bigint, 'A1 again: no history written');
SELECT is(jsonb_array_length(scoreledger.get_correction_batch(:'a1')->'events'), 2, 'A1 again: no event written');
SELECT is(scoreledger.get_correction_batch(:'a1')->>'applied_by', tests.uuid_of('actor', 1)::text, 'A1 again: applied_by unchanged');
SELECT is(tests.scores('{11,12,13,14,15,16,21}'), '5/6 1/6 2/6 0/3 0/4 1/1 6/6', 'A1 again: scores unchanged');

-- A2: q3 (partial) key becomes A,D: 3 × max(0, hits − misses) / 2.
SELECT pg_temp.batch('q3 key is A,D', tests.replace_key(1, 3, '{A,D}')) AS a2 \gset
SELECT is(scoreledger.apply_correction_batch(:'a2'), pg_temp.result(:'a2', 4, 3), 'A2: 4 rescored (q3 presented), 3 changed');
SELECT is(tests.scores('{11,12,13,14,15}'), '2/6 4/6 0/6 0/3 0/4', 'A2: partial scoring against A,D on top of A1');
SELECT is(tests.rescored(:'a2', '{11,12,13,14,15,16,21}'), '{11,12,13,15}', 'A2: the submission without q3 is not rescored');
SELECT is(tests.history_rows(14), 2::bigint, 'A2: submission 14 still has two history rows (initial, A1)');

-- A3: a later replace_key on q3 wins: key A,B,C,D, quarters of 3 points.
SELECT pg_temp.batch('q3: every option counts', tests.replace_key(1, 3, '{A,B,C,D}')) AS a3 \gset
SELECT is(scoreledger.apply_correction_batch(:'a3'), pg_temp.result(:'a3', 4, 4), 'A3: 4 rescored, 4 changed');
SELECT is(tests.scores('{11,12,13,15}'), '4.25/6 2.5/6 1.5/6 1.5/4', 'A3: the most recently applied replace_key (A3) wins over A2');

-- Apply order, not creation order, decides: create P then Q, apply Q then P.
SELECT pg_temp.batch('q1 key is D', tests.replace_key(1, 1, '{D}')) AS p \gset
SELECT pg_temp.batch('q1 key is A', tests.replace_key(1, 1, '{A}')) AS q \gset
SELECT is(scoreledger.apply_correction_batch(:'q'), pg_temp.result(:'q', 5, 2), 'Q (key A): 5 rescored, 2 changed');
SELECT is(tests.scores('{11,12,13,14,15}'), '4.25/6 1.5/6 2.5/6 0/3 1.5/4', 'Q: q1 against key A');
SELECT is(scoreledger.apply_correction_batch(:'p'), pg_temp.result(:'p', 5, 2), 'P (key D), created first, applied last: 2 changed');
SELECT is(tests.scores('{11,12,13,14,15}'), '4.25/6 1.5/6 1.5/6 0/3 2.5/4', 'P: the last applied key (D) wins, not the last created');
-- A single_choice key with two accepted options: either one alone scores.
SELECT pg_temp.batch('q1 accepts A or D', tests.replace_key(1, 1, '{A,D}')) AS r \gset
SELECT is(scoreledger.apply_correction_batch(:'r'), pg_temp.result(:'r', 5, 1), 'R (A or D): 5 rescored, 1 changed');
SELECT is(tests.scores('{11,12,13,14,15,16,21}'), '4.25/6 1.5/6 2.5/6 0/3 2.5/4 1/1 6/6',
          'R: single choice of any accepted option scores; other versions and evaluations untouched');
SELECT is(tests.history_rows(16) + tests.history_rows(21), 2::bigint, 'after six batches, submissions 16 and 21 still have one row each');
SELECT is((SELECT array_agg(passed ORDER BY submission_id = tests.sub(15)) FROM scoreledger.submissions
            WHERE submission_id IN (tests.sub(13), tests.sub(15))), '{f,t}'::boolean[],
          'R: passed = score >= 0.5 x max_score (2.5/6 fails, 2.5/4 passes)');

-- =====================================================================
-- Scenario B (evaluation 3): drop_item beats mark_correct beats the key
-- =====================================================================
SELECT tests.make_evaluation(3) \gset
-- 1+2+3
SELECT tests.submit(3, 1, '{B}', '{A,B}', '{A,B,C}', 31) \gset
-- 0+0+1
SELECT tests.submit(3, 2, '{A}', '{A}',   '{A}',     32) \gset
-- 0+0+0
SELECT tests.submit(3, 3, '{C}', '{}',    '{}',      33) \gset
SELECT is(tests.scores('{31,32,33}'), '6/6 1/6 0/6', 'B: initial scores');

SELECT pg_temp.batch('q2 key is A', tests.replace_key(3, 2, '{A}')) AS b1 \gset
SELECT is(scoreledger.apply_correction_batch(:'b1'), pg_temp.result(:'b1', 3, 2), 'B1 replace_key: 3 rescored, 2 changed');
SELECT is(tests.scores('{31,32,33}'), '4/6 3/6 0/6', 'B1: q2 against key A');

SELECT pg_temp.batch('q2 full marks', tests.mark_correct(3, 2)) AS b2 \gset
SELECT is(scoreledger.apply_correction_batch(:'b2'), pg_temp.result(:'b2', 3, 2), 'B2 mark_correct: 3 rescored, 2 changed');
SELECT is(tests.scores('{31,32,33}'), '6/6 3/6 2/6', 'B2: mark_correct gives everyone q2''s points, even an empty answer');

SELECT pg_temp.batch('q2 key is C', tests.replace_key(3, 2, '{C}')) AS b3 \gset
SELECT is(scoreledger.apply_correction_batch(:'b3'), pg_temp.result(:'b3', 3, 0), 'B3 replace_key after mark_correct: 3 rescored, 0 changed');
SELECT is(tests.scores('{31,32,33}'), '6/6 3/6 2/6', 'B3: mark_correct still beats a later replace_key');

SELECT pg_temp.batch('q2 is ambiguous', tests.drop_item(3, 2)) AS b4 \gset
SELECT is(scoreledger.apply_correction_batch(:'b4'), pg_temp.result(:'b4', 3, 3), 'B4 drop_item: 3 rescored, 3 changed');
SELECT is(tests.scores('{31,32,33}'), '4/4 1/4 0/4', 'B4: a dropped item adds 0 to score and 0 to max_score');

SELECT pg_temp.batch('q3 all three at once', tests.replace_key(3, 3, '{D}'), tests.mark_correct(3, 3), tests.drop_item(3, 3)) AS b5 \gset
SELECT is(scoreledger.apply_correction_batch(:'b5'), pg_temp.result(:'b5', 3, 3), 'B5 key + mark + drop in one batch: 3 rescored');
SELECT is(tests.scores('{31,32,33}'), '1/1 0/1 0/1', 'B5: drop wins over mark_correct and key within one batch');

SELECT pg_temp.batch('q1 mark and key', tests.replace_key(3, 1, '{D}'), tests.mark_correct(3, 1)) AS b6 \gset
SELECT is(scoreledger.apply_correction_batch(:'b6'), pg_temp.result(:'b6', 3, 2), 'B6 key + mark in one batch: 2 changed');
SELECT is(tests.scores('{31,32,33}'), '1/1 1/1 1/1', 'B6: mark_correct wins over a replace_key of the same batch');
SELECT is((SELECT array_agg(passed ORDER BY submission_id) FROM scoreledger.submissions
            WHERE submission_id IN (tests.sub(31), tests.sub(32), tests.sub(33))), '{t,t,t}'::boolean[],
          'B6: passed follows the new scores');

SELECT pg_temp.batch('q1 dropped too', tests.drop_item(3, 1)) AS b7 \gset
SELECT is(scoreledger.apply_correction_batch(:'b7'), pg_temp.result(:'b7', 3, 3), 'B7: dropping the last item');
SELECT is(tests.scores('{31,32,33}'), '0/0 0/0 0/0', 'B7: every item dropped: 0/0');
SELECT is((SELECT bool_or(passed) FROM scoreledger.submissions
            WHERE submission_id IN (tests.sub(31), tests.sub(32), tests.sub(33))), false,
          'B7: max_score 0 never passes');

-- =====================================================================
-- Scenario C (evaluation 4): mark_correct scoped to listed submissions
-- =====================================================================
SELECT tests.make_evaluation(4) \gset
-- 0+0+0
SELECT tests.submit(4, 1, '{A}', '{A}',   '{D}',     41) \gset
-- attempt 2: 0+2+1
SELECT tests.submit(4, 1, '{A}', '{A,B}', '{A}',     42) \gset
-- 0+0+3
SELECT tests.submit(4, 2, '{C}', '{}',    '{A,B,C}', 43) \gset
-- 1
SELECT tests.submit(4, 3, '{B}', NULL,    NULL,      44) \gset
SELECT is(tests.scores('{41,42,43,44}'), '0/6 3/6 3/6 1/1', 'C: initial scores');
SELECT is((SELECT array_agg(attempt_no ORDER BY submission_id) FROM scoreledger.submissions
            WHERE submission_id IN (tests.sub(41), tests.sub(42))),
          (SELECT array_agg(n ORDER BY tests.sub(n)) FROM unnest('{1,2}'::int[]) n),
          'C: submissions 41 and 42 are attempts 1 and 2 of one user');

SELECT pg_temp.batch('q1 right for two learners', tests.mark_correct(4, 1, '{41,43}')) AS c1 \gset
SELECT is(scoreledger.apply_correction_batch(:'c1'), pg_temp.result(:'c1', 2, 2), 'C1 scoped mark_correct: 2 rescored, 2 changed');
SELECT is(tests.scores('{41,42,43,44}'), '1/6 3/6 4/6 1/1', 'C1: only the listed submissions get q1''s point');
SELECT is(tests.rescored(:'c1', '{41,42,43,44}'), '{41,43}', 'C1: history only for the listed submissions');
SELECT is(tests.history_rows(42) + tests.history_rows(44), 2::bigint, 'C1: the unlisted submissions have no new row');

SELECT pg_temp.batch('q3 right for 42; q1 key A', tests.mark_correct(4, 3, '{42}'), tests.replace_key(4, 1, '{A}')) AS c2 \gset
SELECT is(scoreledger.apply_correction_batch(:'c2'), pg_temp.result(:'c2', 4, 2),
          'C2 scoped q3 + q1 key: 4 rescored (each once), 2 changed');
SELECT is(tests.scores('{41,42,43,44}'), '1/6 6/6 4/6 0/1',
          'C2: scoped credit on q1 still beats the new key; key A scores 42, not 44; 42 gets q3');
SELECT is(tests.rescored(:'c2', '{41,42,43,44}'), '{41,42,43,44}', 'C2: one history row per submission, both attempts');

SELECT pg_temp.batch('q1 dropped', tests.drop_item(4, 1)) AS c3 \gset
SELECT is(scoreledger.apply_correction_batch(:'c3'), pg_temp.result(:'c3', 4, 4), 'C3 drop: 4 rescored, 4 changed');
SELECT is(tests.scores('{41,42,43,44}'), '0/5 5/5 3/5 0/0', 'C3: drop beats a scoped mark_correct too');

-- =====================================================================
-- list_correction_batches / get_correction_batch
-- =====================================================================
SELECT pg_temp.batch('still a draft', tests.drop_item(2, 2), tests.mark_correct(2, 1, '{21}')) AS d \gset
SELECT is((SELECT count(*) FROM scoreledger.list_correction_batches()), 17::bigint, 'list: every batch of the tenant');
SELECT is((SELECT array_agg(id) FROM scoreledger.list_correction_batches('draft')), ARRAY[:'d'::uuid], 'list draft: only the draft');
SELECT is((SELECT count(*) FROM scoreledger.list_correction_batches('applied')), 16::bigint, 'list applied: the 16 applied batches');
SELECT is((SELECT count(*) FROM scoreledger.list_correction_batches('reverted')), 0::bigint, 'list reverted: none');
SELECT tests.throws_code_like($$SELECT scoreledger.list_correction_batches('done')$$, 'SL422', '%unknown status ''done'' (one of: pending_review, approved, draft, rejected, applied, reverted, discarded)%', 'list of an unknown status is SL422, listing the valid ones');
SELECT results_eq(
  format($$SELECT status, reason, created_by, correction_types, corrections, submissions_affected, reverts_batch_id, reverted_by_batch_id
           FROM scoreledger.list_correction_batches() WHERE id = %L$$, :'b5'),
  $$VALUES ('applied', 'q3 all three at once', tests.uuid_of('actor', 1), '{drop_item,mark_correct,replace_key}'::text[], 3, 3,
            NULL::uuid, NULL::uuid)$$,
  'list: the fields of an applied batch');
SELECT results_eq(
  format($$SELECT status, correction_types, corrections, submissions_affected, applied_at FROM scoreledger.list_correction_batches() WHERE id = %L$$, :'d'),
  $$VALUES ('draft', '{drop_item,mark_correct}'::text[], 2, NULL::integer, NULL::timestamptz)$$,
  'list: a draft has no submissions_affected and no applied_at');
-- Newest first: three more drafts. created_at is the clock time of
-- creation (not the transaction start), so even here they differ; and it is
-- immutable, even for the owner.
SELECT pg_temp.batch('oldest', tests.drop_item(2, 3)) AS e1 \gset
SELECT pg_temp.batch('older', tests.drop_item(2, 3)) AS e2 \gset
SELECT pg_temp.batch('old', tests.drop_item(2, 3)) AS e3 \gset
SELECT is((SELECT array_agg(id) FROM (SELECT id FROM scoreledger.list_correction_batches()) l WHERE id IN (:'e1', :'e2', :'e3')),
          ARRAY[:'e3', :'e2', :'e1']::uuid[], 'list: newest first (by created_at)');
SELECT ok((SELECT bool_and(a.created_at >= b.created_at)
           FROM (SELECT created_at, row_number() OVER () AS n FROM scoreledger.list_correction_batches()) a
           JOIN (SELECT created_at, row_number() OVER () AS n FROM scoreledger.list_correction_batches()) b ON b.n = a.n + 1),
          'list: created_at never increases down the list');
SELECT is((SELECT array_agg(id) FROM scoreledger.list_correction_batches('draft') WHERE id IN (:'e1', :'e2', :'e3')),
          ARRAY[:'e3', :'e2', :'e1']::uuid[], 'list by status: newest first too');
SELECT ok(scoreledger.get_correction_batch(:'b5') ?& ARRAY['id', 'status', 'reason', 'created_by', 'created_at', 'applied_at',
            'reverts_batch_id', 'reverted_by_batch_id', 'correction_types', 'submissions_affected', 'corrections', 'events'],
          'get: has every list field plus corrections and events');
SELECT is(scoreledger.get_correction_batch(:'b5')->'corrections',
          jsonb_build_array(tests.replace_key(3, 3, '{D}'), tests.mark_correct(3, 3), tests.drop_item(3, 3)),
          'get: corrections is the payload');
SELECT is((SELECT to_jsonb(l) - 'corrections' FROM scoreledger.list_correction_batches() l WHERE l.id = :'b5'),
          (SELECT jsonb_object_agg(k, v) FROM jsonb_each(scoreledger.get_correction_batch(:'b5')) x(k, v)
            WHERE k IN ('id', 'status', 'reason', 'created_by', 'created_at', 'applied_at', 'reverts_batch_id',
                        'reverted_by_batch_id', 'correction_types', 'submissions_affected')),
          'get: the list fields have the same values as in the list');
SELECT is(jsonb_array_length(scoreledger.get_correction_batch(:'d')->'events'), 1, 'get: a draft has one event');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', tests.uuid_of('nowhere', 1)), 'SL404', '%',
               'get of an unknown batch is SL404');

-- =====================================================================
-- Every score obeys the rules (check_invariants, as an operator)
-- =====================================================================
SELECT tests.clear_context() \gset
SELECT is((SELECT sum(breaches) FROM scoreledger.check_invariants()), 0::numeric, 'check_invariants finds no breach');

-- Apply and revert rescore without parallel workers (plan shape only: the
-- history trigger's reference check of a 99,000-row apply shipped its id
-- array to every worker, 239 ms against 88 ms serial).
SELECT ok((SELECT bool_and('max_parallel_workers_per_gather=0' = ANY (p.proconfig))
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'scoreledger_private' AND p.proname = 'rescore_batch'),
          'rescore_batch runs without parallel workers');

-- Submission numbers are issued in time order across sessions (no cache
-- per session): rescore_batch's floor (sql/30_scoring.sql, recorded_floor)
-- tells the submissions recorded before it from those recorded after it by
-- number alone.
SELECT is((SELECT s.seqcache FROM pg_sequence s
           WHERE s.seqrelid = pg_get_serial_sequence('scoreledger_private.submissions', 'submission_no')::regclass),
          1::bigint, 'submission numbers are not cached per session (CACHE 1)');

SELECT * FROM finish();
ROLLBACK;
