-- Imports safe to run again (issue 13): a re-recording of identical
-- submissions or results is a no-op, counted apart from new ones; other
-- content under one submission is refused whatever changed; and the
-- diagnosis names every document a call would refuse, with the same rules.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(22);

SELECT tests.score_fixture('safe reimports', 3101);
SELECT scoreledger.register_evaluator('judge');

CREATE FUNCTION pg_temp.docs() RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_array(
    tests.submission_doc(3101, 2, ARRAY['B'], ARRAY['A'], ARRAY['A']),
    tests.submission_doc(3101, 3, ARRAY['C'], ARRAY['A','B'], NULL),
    tests.submission_doc(3101, 4, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'], 31014))
$$;

-- Submissions.
SELECT is(scoreledger.record_submissions(pg_temp.docs()), 3, 'a first import records every document');
SELECT is(scoreledger.record_submissions(pg_temp.docs()), 0, 'the same import again records nothing');
SELECT is((SELECT count(*)::int FROM scoreledger.submissions), 4, 'and duplicates nothing');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)', jsonb_build_array(
    tests.submission_doc(3101, 4, ARRAY['C'], ARRAY['A','B'], ARRAY['A','B','C'], 31014))),
  'SL423', 'submissions[0].submission_id: submission % is already recorded with other content%',
  'another selection under a recorded id is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)', jsonb_build_array(
    tests.submission_doc(3101, 4, ARRAY['B'], ARRAY['A','B'], NULL, 31014))),
  'SL423', '%already recorded with other content%', 'one answer fewer under a recorded id is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)', jsonb_build_array(
    tests.submission_doc(3101, 4, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'], 31014, NULL, '2026-11-02T10:00:00Z'))),
  'SL423', '%already recorded with other content%', 'another submitted_at under a recorded id is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)', jsonb_build_array(
    tests.submission_doc(3101, 4, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','Z'], 31014))),
  'SL422', '%', 'an option not in the question is refused before any comparison');

-- The diagnosis: every refused document, none of the good ones.
SELECT is((SELECT count(*)::int FROM scoreledger.submission_problems(pg_temp.docs())), 0,
          'diagnosis: an identical re-recording is no problem');
SELECT results_eq(
  format($$SELECT idx, sqlstate FROM scoreledger.submission_problems(%L) ORDER BY idx$$, jsonb_build_array(
    tests.submission_doc(3101, 5, ARRAY['B'], ARRAY['A'], ARRAY['A']),
    tests.submission_doc(3101, 6, ARRAY['Z'], ARRAY['A'], NULL),
    jsonb_build_object('evaluation_version_id', tests.uuid_of('nope', 1), 'user_id', tests.uuid_of('user', 7),
                       'submitted_at', '2026-11-01T10:00:00Z', 'answers', '[]'::jsonb),
    tests.submission_doc(3101, 4, ARRAY['C'], ARRAY['A','B'], ARRAY['A','B','C'], 31014),
    tests.submission_doc(3101, 8, ARRAY['B'], NULL, NULL),
    tests.submission_doc(3101, 8, ARRAY['C'], NULL, NULL))),
  $$VALUES (1, 'SL422'), (2, 'SL404'), (3, 'SL423'), (5, 'SL422')$$,
  'diagnosis: a bad option, an unknown version, changed content and a differing twin, each on its own entry');
SELECT is((SELECT message FROM scoreledger.submission_problems(jsonb_build_array(
             tests.submission_doc(3101, 6, ARRAY['Z'], ARRAY['A'], NULL)))),
          format('submissions[0].answers[0].selected: "Z" is not an option of question version %s', tests.uuid_of('q1', 3101)),
          'diagnosis: the message names the entry as record_submissions does');
SELECT is((SELECT count(*)::int FROM scoreledger.submissions), 4, 'diagnosis writes nothing');

-- Results without result_id: the id is derived from the content.
CREATE FUNCTION pg_temp.result(payload jsonb, error text DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 31011),
                                              'payload', payload, 'error', error))
$$;
SELECT is(scoreledger.record_evaluation_results(jsonb_build_array(pg_temp.result('{"a": 1}'), pg_temp.result('{"a": 2}'))), 2,
          'results: a first import records both');
SELECT is(scoreledger.record_evaluation_results(jsonb_build_array(pg_temp.result('{"a": 1}'), pg_temp.result('{"a": 2}'))), 0,
          'results: the same import again records nothing');
SELECT is((SELECT count(*)::int FROM scoreledger.evaluation_results), 2, 'results: and duplicates nothing');
SELECT is(scoreledger.record_evaluation_results(
            (SELECT jsonb_agg(pg_temp.result(jsonb_build_object('n', g % 3))) FROM generate_series(1, 30) g)), 3,
          'results: identical documents of one bulk call are one result');
SELECT is(scoreledger.record_evaluation_results(
            (SELECT jsonb_agg(pg_temp.result(jsonb_build_object('n', g % 3))) FROM generate_series(1, 30) g)), 0,
          'results: and a re-run of that bulk call records nothing');
SELECT is(scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 31011), '{"a": 1}'),
          (SELECT result_id FROM scoreledger.evaluation_results WHERE payload = '{"a": 1}'),
          'results: the single call returns the existing result''s id for the same content');
SELECT isnt(scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 31011), '{"a": 1}', 'timeout'),
            (SELECT result_id FROM scoreledger.evaluation_results WHERE payload = '{"a": 1}' AND error IS NULL),
            'results: another error is another result');
SELECT is((SELECT count(*)::int FROM scoreledger.scores s JOIN scoreledger.evaluation_results r ON r.result_id = s.evaluation_result_id
           WHERE r.payload = '{"a": 1}' AND r.error IS NULL), 1, 'results: a no-op re-recording leaves the scores as they were');
SELECT lives_ok(format('SELECT scoreledger.record_evaluation_results(%L)', jsonb_build_array(
                  pg_temp.result('{"a": 1}') || jsonb_build_object('result_id', tests.uuid_of('result', 1)),
                  pg_temp.result('{"a": 1}') || jsonb_build_object('result_id', tests.uuid_of('result', 2)))),
                'results: a given result_id still names a result of its own');
SELECT results_eq(
  format($$SELECT idx, sqlstate FROM scoreledger.result_problems(%L) ORDER BY idx$$, jsonb_build_array(
    pg_temp.result('{"a": 1}'),
    pg_temp.result('{"a": 1}') || '{"evaluator": "nobody"}',
    pg_temp.result('{"a": 1}') || jsonb_build_object('submission_id', tests.uuid_of('nope', 2)))),
  $$VALUES (1, 'SL404'), (2, 'SL404')$$, 'result diagnosis: every refused document, by index');
SELECT is((SELECT message FROM scoreledger.result_problems(jsonb_build_array(pg_temp.result('{"a": 1}') || '{"evaluator": "nobody"}'))),
          '[0].evaluator: no evaluator named ''nobody'' in this tenant (register it with scoreledger.register_evaluator)',
          'result diagnosis: the message names the entry as record_evaluation_results does');

SELECT * FROM finish();
ROLLBACK;
