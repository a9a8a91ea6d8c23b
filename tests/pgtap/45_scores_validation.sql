-- Invalid input (contract section 2): registered codes, and messages that
-- name the field ([n].field in bulk documents), with nothing written.
BEGIN;
SELECT plan(38);

SELECT tests.score_fixture('scores validation', 451);
SELECT scoreledger.register_evaluator('judge');

CREATE FUNCTION pg_temp.doc(overrides jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 4511), 'payload', '{"a": 1}'::jsonb)
         || overrides
$$;
CREATE FUNCTION pg_temp.bulk(overrides jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT scoreledger.record_evaluation_results(%L)',
                jsonb_build_array(pg_temp.doc('{}'), pg_temp.doc('{}'), pg_temp.doc(overrides)))
$$;

-- Declarations.
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('x', '[]')$$, 'SL422', 'output_schema: must be a JSON object%',
                              'register_evaluator: a non-object schema is SL422 output_schema');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('x', '{"tone": "choice"}')$$, 'SL422', 'output_schema.tone: must be an object%',
                              'a declaration must be an object, named in the message');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('x', '{"tone": {"choices": ["a"]}}')$$, 'SL422', 'output_schema.tone.type: must be a non-empty string',
                              'a declaration needs a type');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('x', '{"tone": {"type": "choice", "choices": [1]}}')$$, 'SL422', 'output_schema.tone.choices: must be an array of strings',
                              'choices are strings');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('x', '{"tone": {"type": "choice", "choices": ["a", "a"]}}')$$, 'SL422', 'output_schema.tone.choices: lists a choice twice',
                              'choices are distinct');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('   ')$$, 'SL422', 'name: must be a non-empty string%',
                              'an evaluator needs a name');
SELECT tests.throws_code_like(format('SELECT scoreledger.register_evaluator(%L)', repeat('x', 201)), 'SL422',
                              'name: must be a non-empty string of at most 200 characters', 'of at most 200 characters');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4511), '{}', E'\u2003\f')$$,
                              'SL422', 'error: must be a non-empty string or null', 'an error of Unicode spaces is blank too');
SELECT tests.throws_code_like($$SELECT scoreledger.register_evaluator('judge', '{"a": {"type": "choice"}}')$$, 'SL409', '%already registered with another output schema%',
                              'the same name with another schema is SL409');
SELECT tests.throws_code_like($$SELECT scoreledger.create_review_queue('q', '{"a": {"type": ""}}')$$, 'SL422', 'form_schema.a.type: must be a non-empty string',
                              'create_review_queue validates its form schema the same way');
SELECT scoreledger.create_review_queue('q', '{"a": {"type": "choice"}}') AS queue \gset
SELECT tests.throws_code_like($$SELECT scoreledger.create_review_queue('q')$$, 'SL409', '%already exists with another form schema%',
                              'a queue name with another schema is SL409');

-- One result.
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result(NULL, tests.uuid_of('submission', 4511), '{}')$$,
                              'SL422', 'evaluator: must be the name of a registered evaluator', 'evaluator is required');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('nobody', tests.uuid_of('submission', 4511), '{}')$$,
                              'SL404', 'evaluator: no evaluator named ''nobody''%', 'an unknown evaluator is SL404, named');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('judge', gen_random_uuid(), '{}')$$,
                              'SL404', 'submission_id: submission % does not exist', 'an unknown submission is SL404, named');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4511), '{}', '  ')$$,
                              'SL422', 'error: must be a non-empty string or null', 'a blank error is refused');

-- Bulk: the entry is named.
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_results('{"evaluator": "judge"}')$$,
                              'SL422', 'docs: must be a JSON array%', 'record_evaluation_results takes an array');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_results(NULL)$$,
                              'SL422', 'docs: must be a JSON array%', 'and not null');
SELECT tests.throws_code_like($$SELECT scoreledger.record_evaluation_results('[{"evaluator": "judge", "payload": {}}, 3]')$$,
                              'SL422', '[1]: must be a JSON object', 'an element that is not an object is named [1]');
SELECT tests.throws_code_like(pg_temp.bulk('{"evaluator": "nobody"}'), 'SL404', '[2].evaluator: no evaluator named%',
                              '[2].evaluator: unknown evaluator (SL404)');
SELECT tests.throws_code_like(pg_temp.bulk('{"evaluator": 7}'), 'SL422', '[2].evaluator: must be the name%',
                              '[2].evaluator: not a string');
SELECT tests.throws_code_like(pg_temp.bulk('{"submission_id": "not-a-uuid"}'), 'SL422', '[2].submission_id: must be a uuid string or null',
                              '[2].submission_id: not a uuid');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
                                     jsonb_build_array(pg_temp.doc('{}'), pg_temp.doc(jsonb_build_object('submission_id', gen_random_uuid())))),
                              'SL404', '[1].submission_id: submission % does not exist', '[1].submission_id: unknown submission (SL404)');
SELECT tests.throws_code_like(pg_temp.bulk('{"result_id": 12}'), 'SL422', '[2].result_id: must be a uuid string or null',
                              '[2].result_id: not a uuid');
SELECT tests.throws_code_like(pg_temp.bulk('{"error": 500}'), 'SL422', '[2].error: must be a non-empty string or null',
                              '[2].error: not a string');
SELECT tests.throws_code_like(pg_temp.bulk('{"payloud": {}}'), 'SL422', '[2].payloud: unknown field%',
                              '[2].payloud: a typo is an unknown field, not a silent default');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
                                     jsonb_build_array(pg_temp.doc(jsonb_build_object('result_id', tests.uuid_of('result', 1))),
                                                       pg_temp.doc('{}'),
                                                       pg_temp.doc(jsonb_build_object('result_id', upper(tests.uuid_of('result', 1)::text))))),
                              'SL422', '[2].result_id: % appears twice in this call', 'a result id twice in one call is named at its second occurrence');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
                                     (SELECT jsonb_agg(pg_temp.doc(jsonb_build_object('result_id',
                                               tests.uuid_of('result', CASE WHEN g = 11 THEN 3 ELSE g END))))
                                      FROM generate_series(0, 11) g)),
                              'SL422', '[11].result_id: % appears twice in this call',
                              'in a bigger call (validated after the insert fails) too');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
                                     (SELECT jsonb_agg(pg_temp.doc(CASE WHEN g = 9 THEN jsonb_build_object('submission_id', 'x')
                                                                        ELSE '{}' END)) FROM generate_series(0, 11) g)),
                              'SL422', '[9].submission_id: must be a uuid string or null',
                              'a bad uuid in a bigger call is named too (the cast fails the insert)');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_results), 0::bigint, 'no refused call wrote a result');
SELECT is((SELECT count(*) FROM scoreledger.scores), 0::bigint, 'nor a score');

-- Review items and annotations.
SELECT tests.throws_code_like($$SELECT scoreledger.add_review_item(gen_random_uuid(), tests.uuid_of('submission', 4511))$$,
                              'SL404', 'queue_id: review queue % does not exist', 'add_review_item: unknown queue (SL404)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.add_review_item(%L)$$, :'queue'),
                              'SL422', 'submission_id: a review item is about a submission or a message%', 'an item needs a submission or a message');
SELECT tests.throws_code_like(format($$SELECT scoreledger.add_review_item(%L, gen_random_uuid())$$, :'queue'),
                              'SL404', 'submission_id: submission % does not exist', 'an unknown submission (SL404)');
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4511)) AS item \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, '{}', 'final')$$, :'item'),
                              'SL422', 'status: must be draft or submitted', 'save_annotation: unknown status');
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, NULL)$$, :'item'),
                              'SL422', 'data: is required%', 'save_annotation: data is required');
SELECT tests.throws_code_like($$SELECT scoreledger.save_annotation(gen_random_uuid(), '{}')$$,
                              'SL404', 'review_item_id: review item % does not exist', 'save_annotation: unknown item (SL404)');
SELECT scoreledger.add_review_item(:'queue', NULL, 'msg-1') AS other_item \gset
SELECT scoreledger.save_annotation(:'item', '{"a": 1}') AS annotation \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, '{}', 'submitted', false, %L)$$, :'other_item', :'annotation'),
                              'SL422', 'annotation_id: annotation % belongs to review item %', 'an annotation cannot move to another item');
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 451));
SELECT tests.throws_code_like(format($$SELECT scoreledger.save_annotation(%L, '{}')$$, :'item'),
                              'SL401', 'no actor%', 'save_annotation needs an actor (the reviewer): SL401');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
