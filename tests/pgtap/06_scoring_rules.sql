-- Recording and scoring (contract sections 3 and 4), with concrete numbers.
-- Evaluation 601 (tests.make_evaluation): q1 single_choice A-D key B 1pt;
-- q2 multiple_choice exact A-C key A,B 2pt; q3 multiple_choice partial A-D
-- key A,B,C 3pt. A submission holds only the items it lists, so one-item
-- submissions isolate one rule each.
BEGIN;
SELECT plan(121);

SELECT scoreledger.create_tenant('scoring tenant', tests.uuid_of('tenant', 601));

-- {score, max_score} of a submission, and its passed flag.
CREATE FUNCTION tests.score_of(submission uuid) RETURNS numeric[] LANGUAGE sql AS $$
  SELECT ARRAY[s.score, s.max_score] FROM scoreledger.submissions s WHERE s.submission_id = submission
$$;
CREATE FUNCTION tests.attempt_of(submission uuid) RETURNS integer LANGUAGE sql AS $$
  SELECT s.attempt_no FROM scoreledger.submissions s WHERE s.submission_id = submission
$$;
CREATE FUNCTION tests.submitted_at_of(submission uuid) RETURNS timestamptz LANGUAGE sql AS $$
  SELECT s.submitted_at FROM scoreledger.submissions s WHERE s.submission_id = submission
$$;
CREATE FUNCTION tests.passed_of(submission uuid) RETURNS boolean LANGUAGE sql AS $$
  SELECT s.passed FROM scoreledger.submissions s WHERE s.submission_id = submission
$$;
-- A fresh learner for each one-item submission, so attempts do not mix.
CREATE SEQUENCE tests.learner START 1000;
GRANT USAGE ON SEQUENCE tests.learner TO PUBLIC;
CREATE FUNCTION tests.score_one(seed int, q1 text[], q2 text[], q3 text[]) RETURNS numeric[] LANGUAGE sql AS $$
  SELECT tests.score_of(tests.submit(seed, nextval('tests.learner')::int, q1, q2, q3))
$$;
-- The submission document of learner 70 on evaluation 601, to break below.
CREATE FUNCTION tests.sdoc() RETURNS jsonb LANGUAGE sql AS $$
  SELECT tests.submission_doc(601, 70, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'])
$$;
CREATE FUNCTION tests.record(doc jsonb) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(doc)
$$;
-- Everything recording writes, as the application sees it.
CREATE FUNCTION tests.recorded_rows() RETURNS bigint[] LANGUAGE sql AS $$
  SELECT ARRAY[(SELECT count(*) FROM scoreledger.submissions), (SELECT count(*) FROM scoreledger.answers),
               (SELECT count(*) FROM scoreledger.score_history)]
$$;

-- Creates a correction batch on evaluation `seed`; question_version_id
-- names the item (q1, q2, q3).
CREATE FUNCTION tests.correct(seed int, corrections jsonb) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.create_correction_batch('test correction ' || seed,
    (SELECT jsonb_agg(c || jsonb_build_object('evaluation_version_id', tests.uuid_of('version', seed),
                                              'question_version_id', tests.uuid_of(c->>'question_version_id', seed)))
       FROM jsonb_array_elements(corrections) c))
$$;

SELECT tests.authenticate_as(tests.uuid_of('tenant', 601), tests.uuid_of('actor', 601));
SELECT tests.make_evaluation(601, 0.5);
-- 602: q1 accepts two options (A or B).
SELECT scoreledger.import_evaluation_version(jsonb_set(tests.evaluation_doc(602), '{items,0,correct}', '["A","B"]'));
-- 604: q3 partial with 2 points over a key of 3 options.
SELECT scoreledger.import_evaluation_version(jsonb_set(tests.evaluation_doc(604), '{items,2,points}', '2'));
SELECT tests.make_evaluation(605, 0.7);
SELECT tests.make_evaluation(603, 0);

-- ---------------------------------------------------------------------
-- single_choice: points if S has one option and it is accepted
-- ---------------------------------------------------------------------
SELECT is(tests.score_one(601, ARRAY['B'], NULL, NULL), ARRAY[1, 1]::numeric[], 'single_choice {B}, key B: 1 of 1');
SELECT is(tests.score_one(601, ARRAY['A'], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {A}, key B: 0 of 1');
SELECT is(tests.score_one(601, ARRAY['B','C'], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {B,C} (two selected), key B: 0 of 1');
SELECT is(tests.score_one(601, ARRAY['A','B'], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {A,B}, key B: 0 of 1');
SELECT is(tests.score_one(601, ARRAY[]::text[], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {} (presented, unanswered): 0 of 1');
SELECT is(tests.score_one(602, ARRAY['A'], NULL, NULL), ARRAY[1, 1]::numeric[], 'single_choice {A}, accepted A or B: 1 of 1');
SELECT is(tests.score_one(602, ARRAY['B'], NULL, NULL), ARRAY[1, 1]::numeric[], 'single_choice {B}, accepted A or B: 1 of 1');
SELECT is(tests.score_one(602, ARRAY['A','B'], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {A,B}, accepted A or B: 0 of 1 (one option only)');
SELECT is(tests.score_one(602, ARRAY['C'], NULL, NULL), ARRAY[0, 1]::numeric[], 'single_choice {C}, accepted A or B: 0 of 1');

-- ---------------------------------------------------------------------
-- multiple_choice exact: points if S equals the correct set
-- ---------------------------------------------------------------------
SELECT is(tests.score_one(601, NULL, ARRAY['A','B'], NULL), ARRAY[2, 2]::numeric[], 'exact {A,B}, key A,B: 2 of 2');
SELECT is(tests.score_one(601, NULL, ARRAY['B','A'], NULL), ARRAY[2, 2]::numeric[], 'exact {B,A}, key A,B: 2 of 2 (order does not matter)');
SELECT is(tests.score_one(601, NULL, ARRAY['A'], NULL), ARRAY[0, 2]::numeric[], 'exact {A}, key A,B: 0 of 2 (no partial credit)');
SELECT is(tests.score_one(601, NULL, ARRAY['A','B','C'], NULL), ARRAY[0, 2]::numeric[], 'exact {A,B,C}, key A,B: 0 of 2');
SELECT is(tests.score_one(601, NULL, ARRAY['C'], NULL), ARRAY[0, 2]::numeric[], 'exact {C}, key A,B: 0 of 2');
SELECT is(tests.score_one(601, NULL, ARRAY[]::text[], NULL), ARRAY[0, 2]::numeric[], 'exact {}: 0 of 2');

-- ---------------------------------------------------------------------
-- multiple_choice partial: points x max(0, |S∩K| - |S\K|) / |K|
-- ---------------------------------------------------------------------
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A','B','C']), ARRAY[3, 3]::numeric[], 'partial {A,B,C}, key A,B,C 3pt: 3');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['C','A','B']), ARRAY[3, 3]::numeric[], 'partial {C,A,B}: 3');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A','B']), ARRAY[2, 3]::numeric[], 'partial {A,B}: 3 x 2/3 = 2');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A']), ARRAY[1, 3]::numeric[], 'partial {A}: 3 x 1/3 = 1');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A','B','D']), ARRAY[1, 3]::numeric[], 'partial {A,B,D}: 3 x (2-1)/3 = 1');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A','B','C','D']), ARRAY[2, 3]::numeric[], 'partial {A,B,C,D}: 3 x (3-1)/3 = 2');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['A','D']), ARRAY[0, 3]::numeric[], 'partial {A,D}: 3 x max(0, 1-1)/3 = 0');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY['D']), ARRAY[0, 3]::numeric[], 'partial {D}: max(0, 0-1) = 0, never negative');
SELECT is(tests.score_one(601, NULL, NULL, ARRAY[]::text[]), ARRAY[0, 3]::numeric[], 'partial {}: 0');
SELECT is((SELECT round(x[1], 10) FROM tests.score_one(604, NULL, NULL, ARRAY['A']) x), 0.6666666667,
          'partial {A}, key A,B,C, 2 points: 2 x 1/3 (a fraction, not rounded to a whole point)');

-- ---------------------------------------------------------------------
-- score, max_score, passed
-- ---------------------------------------------------------------------
SELECT is(tests.score_one(601, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','D']), ARRAY[4, 6]::numeric[],
          'score = sum of the items: 1 + 2 + 1 = 4 of 6');
SELECT is(tests.score_one(601, ARRAY['B'], NULL, ARRAY['A']), ARRAY[2, 4]::numeric[],
          'max_score counts only the items the submission contains: 1 + 1 of 1 + 3');
SELECT is(tests.passed_of(tests.submit(601, 80, ARRAY['B'], ARRAY['A'], ARRAY['A','B'])), true,
          'passed: 3 of 6 with pass_mark 0.5 (score = pass_mark x max_score passes)');
SELECT is(tests.passed_of(tests.submit(601, 81, ARRAY['A'], ARRAY['A'], ARRAY['A','B'])), false,
          'not passed: 2 of 6 with pass_mark 0.5');
SELECT is(tests.passed_of(tests.submit(605, 82, ARRAY['B'], ARRAY['A'], ARRAY['A','B','C'])), false,
          'not passed: 4 of 6 with pass_mark 0.7 (4 < 4.2)');
SELECT is(tests.passed_of(tests.submit(605, 83, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B'])), true,
          'passed: 5 of 6 with pass_mark 0.7');
SELECT is(tests.passed_of(tests.submit(603, 84, ARRAY['A'], NULL, NULL, 6084)), true,
          'passed: 0 of 1 with pass_mark 0 (max_score > 0 and 0 >= 0)');
SELECT scoreledger.apply_correction_batch(scoreledger.create_correction_batch('drop q1', jsonb_build_array(jsonb_build_object(
  'type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 603), 'question_version_id', tests.uuid_of('q1', 603)))));
SELECT is(tests.score_of(tests.uuid_of('submission', 6084)), ARRAY[0, 0]::numeric[], 'with its only item dropped: 0 of 0');
SELECT is(tests.passed_of(tests.uuid_of('submission', 6084)), false,
          'not passed: max_score 0, whatever the pass mark (passed needs max_score > 0)');

-- ---------------------------------------------------------------------
-- attempt_no: per (user, evaluation)
-- ---------------------------------------------------------------------
SELECT tests.submit(601, 50, ARRAY['A'], NULL, NULL, 5001);
SELECT tests.submit(601, 50, ARRAY['B'], NULL, NULL, 5002);
SELECT tests.submit(601, 51, ARRAY['B'], NULL, NULL, 5101);
SELECT tests.submit(601, 50, ARRAY['C'], NULL, NULL, 5003);
SELECT tests.submit(602, 50, ARRAY['C'], NULL, NULL, 5004);
SELECT results_eq($$SELECT attempt_no FROM scoreledger.submissions WHERE user_id = tests.uuid_of('user', 50)
                    AND evaluation_id = tests.uuid_of('evaluation', 601) ORDER BY attempt_no$$,
                  ARRAY[1, 2, 3], 'a learner''s three attempts at an evaluation are numbered 1, 2, 3');
SELECT is((SELECT attempt_no FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 5003)), 3,
          'in the order they were recorded');
SELECT is((SELECT attempt_no FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 5101)), 1,
          'another learner''s attempts are counted apart');
SELECT is((SELECT attempt_no FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 5004)), 1,
          'attempts at another evaluation are counted apart');
SELECT is(tests.submit(601, 50, ARRAY['A'], NULL, NULL, 5001), tests.uuid_of('submission', 5001),
          're-recording an identical submission returns its id');
SELECT scoreledger.import_evaluation_version(jsonb_set(jsonb_set(tests.evaluation_doc(601), '{evaluation_version_id}',
  to_jsonb(tests.uuid_of('version', 6012))), '{version_no}', '2'));
SELECT is(tests.attempt_of(tests.record(jsonb_set(tests.submission_doc(601, 50, ARRAY['B'], NULL, NULL),
            '{evaluation_version_id}', to_jsonb(tests.uuid_of('version', 6012))))),
          4, 'attempts count across versions of the evaluation, and the identical re-recording took none: 4');
SELECT is(scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 52, ARRAY['A'], NULL, NULL, 5201, NULL, '2026-11-01T12:00:00Z'),
            tests.submission_doc(601, 52, ARRAY['B'], NULL, NULL, 5202, NULL, '2026-11-01T10:00:00Z'))), 2,
          'record_submissions: two attempts of one learner in one call');
SELECT results_eq($$SELECT submission_id, attempt_no FROM scoreledger.submissions WHERE user_id = tests.uuid_of('user', 52) ORDER BY attempt_no$$,
                  $$VALUES (tests.uuid_of('submission', 5202), 1), (tests.uuid_of('submission', 5201), 2)$$,
                  'attempts recorded in one call are numbered in submitted_at order');

-- ---------------------------------------------------------------------
-- Recording is idempotent; other content under a recorded id is SL423
-- ---------------------------------------------------------------------
SELECT is(tests.record(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000))),
          tests.uuid_of('submission', 7000), 'record_submission returns the given submission_id');
SELECT is(tests.score_of(tests.uuid_of('submission', 7000)), ARRAY[6, 6]::numeric[], 'and scores it at once: 6 of 6');
SELECT tests.recorded_rows() AS rows_before_rerecord \gset
SELECT is(tests.record(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000))),
          tests.uuid_of('submission', 7000), 're-recording the same document returns the same id');
SELECT is(tests.record(jsonb_build_object(
            'submission_id', tests.uuid_of('submission', 7000), 'user_id', tests.uuid_of('user', 70),
            'submitted_at', '2026-11-01T11:00:00+01:00', 'evaluation_version_id', tests.uuid_of('version', 601),
            'answers', jsonb_build_array(
              jsonb_build_object('question_version_id', tests.uuid_of('q3', 601), 'selected', '["C","B","A"]'::jsonb),
              jsonb_build_object('selected', '["B","A"]'::jsonb, 'question_version_id', tests.uuid_of('q2', 601)),
              jsonb_build_object('question_version_id', tests.uuid_of('q1', 601), 'selected', '["B"]'::jsonb)))),
          tests.uuid_of('submission', 7000),
          're-recording the same content in another order and time notation is a no-op too');
SELECT is(tests.recorded_rows()::text, :'rows_before_rerecord', 're-recordings wrote nothing');
SELECT is((SELECT count(*) FROM scoreledger.submission_score_history(tests.uuid_of('submission', 7000))), 1::bigint,
          'the submission still has its one history row');

SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)),
                                '{answers,0,selected}', '["A"]'))$$,
                 'SL423', 'submission_id:%', 'other selected options under a recorded submission_id raise SL423');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)),
                   '{user_id}', to_jsonb(tests.uuid_of('user', 71))))$$,
                 'SL423', '%', 'another user under a recorded submission_id raises SL423');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)),
                   '{submitted_at}', '"2026-11-01T10:00:01Z"'))$$,
                 'SL423', '%', 'another submitted_at under a recorded submission_id raises SL423');
SELECT tests.throws_code_like($$SELECT tests.record((tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)))
                   #- '{answers,2}')$$,
                 'SL423', '%', 'fewer answers under a recorded submission_id raise SL423');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)),
                   '{answers,0,selected}', '[]'))$$,
                 'SL423', '%', 'an answer withdrawn (empty selection) under a recorded submission_id raises SL423');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc() || jsonb_build_object('submission_id', tests.uuid_of('submission', 7000)),
                   '{evaluation_version_id}', to_jsonb(tests.uuid_of('version', 6012))))$$,
                 'SL423', '%', 'another evaluation version under a recorded submission_id raises SL423');
SELECT is(tests.recorded_rows()::text, :'rows_before_rerecord', 'refused re-recordings wrote nothing');
SELECT is(tests.score_of(tests.uuid_of('submission', 7000)), ARRAY[6, 6]::numeric[], 'and the submission kept its score');
SELECT results_eq($$SELECT question_version_id, selected FROM scoreledger.answers
                    WHERE submission_id = tests.uuid_of('submission', 7000) ORDER BY position$$,
                  $$VALUES (tests.uuid_of('q1', 601), '{B}'::text[]), (tests.uuid_of('q2', 601), '{A,B}'::text[]),
                           (tests.uuid_of('q3', 601), '{A,B,C}'::text[])$$,
                  'and its raw answers');

-- ---------------------------------------------------------------------
-- record_submissions: bulk, counts what it newly recorded, all or nothing
-- ---------------------------------------------------------------------
SELECT is(scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 90, ARRAY['B'], NULL, NULL, 9001),
            tests.submission_doc(601, 91, ARRAY['A'], ARRAY['A','B'], NULL, 9101),
            tests.submission_doc(601, 92, NULL, NULL, ARRAY['A','B'], 9201))), 3,
          'record_submissions returns 3 for 3 new documents');
SELECT set_eq($$SELECT submission_id, score, max_score FROM scoreledger.submissions
                    WHERE submission_id IN (tests.uuid_of('submission', 9001), tests.uuid_of('submission', 9101), tests.uuid_of('submission', 9201))$$,
                  $$VALUES (tests.uuid_of('submission', 9001), 1::numeric, 1::numeric),
                           (tests.uuid_of('submission', 9101), 2::numeric, 3::numeric),
                           (tests.uuid_of('submission', 9201), 2::numeric, 3::numeric)$$,
                  'each bulk-recorded submission is scored');
SELECT is((SELECT count(*) FROM scoreledger.score_history
            WHERE submission_id IN (tests.uuid_of('submission', 9001), tests.uuid_of('submission', 9101), tests.uuid_of('submission', 9201))
              AND correction_batch_id IS NULL), 3::bigint, 'each with its first history row');
SELECT is(scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 90, ARRAY['B'], NULL, NULL, 9001),
            tests.submission_doc(601, 91, ARRAY['A'], ARRAY['A','B'], NULL, 9101),
            tests.submission_doc(601, 92, NULL, NULL, ARRAY['A','B'], 9201))), 0,
          'record_submissions of the same documents again returns 0');
SELECT is(scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 90, ARRAY['B'], NULL, NULL, 9001),
            tests.submission_doc(601, 93, ARRAY['B'], NULL, NULL, 9301),
            tests.submission_doc(601, 94, ARRAY['B'], NULL, NULL))), 2,
          'one known and two new documents: 2');
SELECT is(scoreledger.record_submissions('[]'), 0, 'an empty array records nothing: 0');
SELECT tests.recorded_rows() AS rows_before_bulk \gset
SELECT tests.throws_code_like($$SELECT scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 95, ARRAY['B'], NULL, NULL, 9501),
            tests.submission_doc(601, 96, ARRAY['B'], NULL, NULL, 9601),
            jsonb_set(tests.submission_doc(601, 97, ARRAY['B'], NULL, NULL, 9701), '{answers,0,selected}', '["E"]')))$$,
          'SL422', 'submissions[2].answers[0].selected:%', 'record_submissions names the bad entry: submissions[2].answers[0].selected');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 95, ARRAY['B'], NULL, NULL, 9501),
            tests.submission_doc(601, 96, ARRAY['B'], NULL, NULL, 9501)))$$,
          'SL422', 'submissions[1].submission_id:%', 'record_submissions: one submission_id twice in a call raises SL422');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submissions(jsonb_build_array(
            tests.submission_doc(601, 95, ARRAY['B'], NULL, NULL, 9501),
            tests.submission_doc(601, 90, ARRAY['C'], NULL, NULL, 9001)))$$,
          'SL423', 'submissions[1].submission_id:%', 'record_submissions: other content under a recorded id raises SL423 naming the entry');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submissions('{}')$$,
          'SL422', 'submissions%', 'record_submissions: a non-array document raises SL422');
SELECT is(tests.recorded_rows()::text, :'rows_before_bulk', 'a refused bulk call wrote nothing, not even its valid documents');

-- ---------------------------------------------------------------------
-- Validation of submission documents: SL422 (SL404) naming the entry,
-- and nothing written
-- ---------------------------------------------------------------------
SELECT tests.recorded_rows() AS rows_before_invalid \gset
SELECT tests.throws_code_like($$SELECT tests.record('[]')$$, 'SL422', 'document%', 'submission: a non-object document');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() || '{"score": 6}')$$,
  'SL422', 'score: unknown field%', 'submission: an unknown field is named');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() || '{"submission_id": "s-1"}')$$,
  'SL422', 'submission_id:%', 'submission: a malformed submission_id');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() - 'evaluation_version_id')$$,
  'SL422', 'evaluation_version_id:%', 'submission: evaluation_version_id is required');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{evaluation_version_id}', '"not-a-uuid"'))$$,
  'SL422', 'evaluation_version_id:%', 'submission: a malformed evaluation_version_id (bad uuid)');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{evaluation_version_id}', to_jsonb(tests.uuid_of('version', 699))))$$,
  'SL404', 'evaluation_version_id:%', 'submission: an unknown evaluation version raises SL404');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() - 'user_id')$$,
  'SL422', 'user_id:%', 'submission: user_id is required');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{user_id}', '"u70"'))$$,
  'SL422', 'user_id:%', 'submission: a malformed user_id');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() || '{"assignment_id": 7}')$$,
  'SL422', 'assignment_id:%', 'submission: a malformed assignment_id');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() || jsonb_build_object('assignment_id', tests.uuid_of('assignment', 699)))$$,
  'SL404', 'assignment_id:%', 'submission: an unknown assignment raises SL404');
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('assignment', 602), 'title', 'For 602',
  'evaluation_id', tests.uuid_of('evaluation', 602)));
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() || jsonb_build_object('assignment_id', tests.uuid_of('assignment', 602)))$$,
  'SL422', 'assignment_id:%', 'submission: an assignment of another evaluation is refused');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() - 'submitted_at')$$,
  'SL422', 'submitted_at:%', 'submission: submitted_at is required');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-02-30T10:00:00Z"'))$$,
  'SL422', 'submitted_at:%', 'submission: a date that does not exist (2026-02-30) is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-02-29T10:00:00Z"'))$$,
  'SL422', 'submitted_at:%', 'submission: 29 February of a common year is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-13-01T10:00:00Z"'))$$,
  'SL422', 'submitted_at:%', 'submission: month 13 is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-11-01T25:00:00Z"'))$$,
  'SL422', 'submitted_at:%', 'submission: hour 25 is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-11-01T10:00:00"'))$$,
  'SL422', 'submitted_at:%', 'submission: a timestamp without a time zone is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-11-01"'))$$,
  'SL422', 'submitted_at:%', 'submission: a bare date is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"yesterday"'))$$,
  'SL422', 'submitted_at:%', 'submission: words are refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '1793527200'))$$,
  'SL422', 'submitted_at:%', 'submission: an epoch number is refused');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() - 'answers')$$,
  'SL422', 'answers:%', 'submission: answers are required');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers}', '[]'))$$,
  'SL422', 'answers:%', 'submission: answers must not be empty');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,1}', '"B"'))$$,
  'SL422', 'answers[1]%', 'submission: an answer that is not an object is named');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,1,note}', '"x"'))$$,
  'SL422', 'answers[1].note: unknown field%', 'submission: an unknown answer field is named');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,1,question_version_id}', '"q2"'))$$,
  'SL422', 'answers[1].question_version_id:%', 'submission: a malformed question_version_id is named');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,1,question_version_id}', to_jsonb(tests.uuid_of('q2', 602))))$$,
  'SL422', 'answers[1].question_version_id:%', 'submission: a question that is not an item of the version is named: answers[1].question_version_id');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,2,question_version_id}', to_jsonb(tests.uuid_of('q1', 601))))$$,
  'SL422', 'answers[2].question_version_id:%', 'submission: the same item answered twice is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,1,selected}', '["A","E"]'))$$,
  'SL422', 'answers[1].selected:%', 'submission: an option that is not in the question is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,2,selected}', '["A","B","A"]'))$$,
  'SL422', 'answers[2].selected:%', 'submission: an option selected twice is refused');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,0,selected}', '"B"'))$$,
  'SL422', 'answers[0].selected:%', 'submission: selected must be an array');
SELECT tests.throws_code_like($$SELECT tests.record(jsonb_set(tests.sdoc(), '{answers,0,selected}', '[2]'))$$,
  'SL422', 'answers[0].selected:%', 'submission: selected must hold strings');
SELECT tests.throws_code_like($$SELECT tests.record(tests.sdoc() #- '{answers,0,selected}')$$,
  'SL422', 'answers[0].selected:%', 'submission: selected is required');
SELECT is(tests.recorded_rows()::text, :'rows_before_invalid', 'no refused submission wrote a submission, an answer or a history row');
SELECT is(tests.attempt_of(tests.record(tests.sdoc())), 2,
          'nor consumed an attempt: learner 70''s next submission after 7000 is attempt 2');

-- Valid timestamps in other shapes are accepted and mean the right instant.
SELECT is(tests.submitted_at_of(tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2028-02-29T10:00:00Z"'))),
          '2028-02-29 10:00:00+00'::timestamptz, 'submitted_at 29 February of a leap year is accepted');
SELECT is(tests.submitted_at_of(tests.record(jsonb_set(tests.sdoc(), '{submitted_at}', '"2026-11-01T10:00:00.25+05:30"'))),
          '2026-11-01 04:30:00.25+00'::timestamptz, 'submitted_at with fractional seconds and a +05:30 offset is accepted');

-- ---------------------------------------------------------------------
-- Recording scores under the corrections active at that moment
-- ---------------------------------------------------------------------
SELECT tests.make_evaluation(606);
SELECT scoreledger.apply_correction_batch(tests.correct(606, '[{"type": "replace_key", "question_version_id": "q1", "correct": ["C"]}]'));
SELECT scoreledger.apply_correction_batch(tests.correct(606, '[{"type": "replace_key", "question_version_id": "q1", "correct": ["D"]}]')) ->> 'batch_id'
  AS replace_d \gset
SELECT scoreledger.apply_correction_batch(tests.correct(606, '[{"type": "drop_item", "question_version_id": "q2"}]'));
SELECT lives_ok($$SELECT scoreledger.apply_correction_batch(tests.correct(606, '[{"type": "mark_correct", "question_version_id": "q3"}]'))$$,
                'a mark_correct for everyone (no submission_ids) can be created and applied');
SELECT is(tests.score_one(606, ARRAY['D'], NULL, NULL), ARRAY[1, 1]::numeric[],
          'recorded under two applied replace_keys: the most recently applied key (D) counts');
SELECT is(tests.score_one(606, ARRAY['C'], NULL, NULL), ARRAY[0, 1]::numeric[], '... and the earlier key (C) no longer does');
SELECT is(tests.score_one(606, ARRAY['B'], NULL, NULL), ARRAY[0, 1]::numeric[], '... nor the original key (B)');
SELECT is(tests.score_one(606, ARRAY['D'], ARRAY['A','B'], NULL), ARRAY[1, 1]::numeric[],
          'recorded with a dropped item: it adds 0 to score and 0 to max_score');
SELECT is(tests.score_one(606, NULL, NULL, ARRAY['D']), ARRAY[3, 3]::numeric[],
          'recorded with an item marked correct for all: full points whatever was selected');
SELECT is(tests.score_one(606, NULL, NULL, ARRAY[]::text[]), ARRAY[3, 3]::numeric[],
          '... even for an unanswered item');
SELECT tests.make_evaluation(608);
SELECT lives_ok($$SELECT scoreledger.apply_correction_batch(tests.correct(608, '[{"type": "mark_correct", "question_version_id": "q3"}]'))$$,
                'a mark_correct for everyone on q3 of 608');
SELECT scoreledger.apply_correction_batch(tests.correct(608, '[{"type": "drop_item", "question_version_id": "q3"}]'));
SELECT is(tests.score_one(608, ARRAY['B'], NULL, ARRAY['A','B','C']), ARRAY[1, 1]::numeric[],
          'dropped beats marked correct: the item adds nothing');
SELECT lives_ok($$SELECT scoreledger.apply_correction_batch(tests.correct(608, '[{"type": "mark_correct", "question_version_id": "q2"}]'))$$,
                'a mark_correct for everyone on q2 of 608');
SELECT scoreledger.apply_correction_batch(tests.correct(608, '[{"type": "replace_key", "question_version_id": "q2", "correct": ["C"]}]'));
SELECT is(tests.score_one(608, NULL, ARRAY['A'], NULL), ARRAY[2, 2]::numeric[],
          'marked correct beats a replaced key, even one applied later');
SELECT tests.make_evaluation(607);
SELECT tests.submit(607, 1, ARRAY['A'], NULL, NULL, 6071);
SELECT scoreledger.apply_correction_batch(tests.correct(607,
  jsonb_build_array(jsonb_build_object('type', 'mark_correct', 'question_version_id', 'q1',
                                       'submission_ids', jsonb_build_array(tests.uuid_of('submission', 6071))))));
SELECT is(tests.score_of(tests.uuid_of('submission', 6071)), ARRAY[1, 1]::numeric[],
          'a scoped mark_correct credits the submission it lists');
SELECT is(tests.score_one(607, ARRAY['A'], NULL, NULL), ARRAY[0, 1]::numeric[],
          'but not a submission recorded later');
SELECT scoreledger.revert_correction_batch(:'replace_d', 'wrong key');
SELECT is(tests.score_one(606, ARRAY['C'], NULL, NULL), ARRAY[1, 1]::numeric[],
          'recorded after the later replace_key was reverted: the earlier replaced key (C) counts again');
SELECT is(tests.score_one(606, ARRAY['D'], NULL, NULL), ARRAY[0, 1]::numeric[], '... and the reverted key (D) no longer does');

-- An answer names its item in either letter case: matched to the item
-- (and scored) as the lower-case id it is.
SELECT is(tests.score_of(tests.record(jsonb_set(tests.submission_doc(601, nextval('tests.learner')::int, ARRAY['B'], NULL, NULL),
                                                '{answers,0,question_version_id}', to_jsonb(upper(tests.uuid_of('q1', 601)::text))))),
          ARRAY[1, 1]::numeric[], 'an answer naming its item in upper case is recorded and scored against that item');
SELECT is((SELECT a.question_version_id FROM scoreledger.answers a JOIN scoreledger.submissions s USING (submission_id)
           WHERE s.user_id = tests.uuid_of('user', currval('tests.learner')::int)),
          tests.uuid_of('q1', 601), '... and its raw answer names the item by its id');

SELECT * FROM finish();
ROLLBACK;
