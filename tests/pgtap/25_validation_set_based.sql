-- Set-based validation (issue 11): expand_corrections and
-- import_evaluation_version find every problem in one pass and raise the
-- first in document order, with the SQLSTATE its rule carries. A scoped
-- mark_correct of 100,000 submission ids validates (the old per-id
-- correlated check was quadratic: 8,000 ids took 48 s); a duplicate or a
-- foreign id anywhere in the list is still named by its index.
BEGIN;
SELECT plan(18);

CREATE FUNCTION pg_temp.mark_correct(ids jsonb, n int DEFAULT 1) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('type', 'mark_correct', 'evaluation_version_id', tests.uuid_of('version', 1),
                            'question_version_id', tests.uuid_of('q' || n, 1), 'submission_ids', ids)
$$;
CREATE FUNCTION pg_temp.ids(first int, last int) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(tests.uuid_of('submission', n) ORDER BY n) FROM generate_series(first, last) n
$$;
CREATE FUNCTION pg_temp.validates(corrections jsonb) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM scoreledger_private.expand_corrections(corrections);
  RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Fixture: evaluation 1 with 100,000 submissions answering q1 only (one
-- answer each keeps the recording short), evaluation 2 with one submission.
SELECT scoreledger.create_tenant('validation', tests.uuid_of('tenant', 1)) \gset
SELECT tests.act_as_owner(tests.uuid_of('tenant', 1)) \gset
SELECT set_config('scoreledger.actor_id', tests.uuid_of('maker', 1)::text, true) \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.make_evaluation(2) \gset
SELECT scoreledger.record_submissions((SELECT jsonb_agg(tests.submission_doc(1, n, '{B}', NULL, NULL, n))
                                       FROM generate_series(1, 100000) n)) \gset
SELECT tests.submit(2, 1, '{B}', '{A,B}', '{A}', 100001) \gset

-- =====================================================================
-- 1. 100,000 ids, one pass
-- =====================================================================
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(1, 100000)))), 'valid',
          '100,000 submission ids of the evaluation version, each containing the item, validate');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(1, 100000)),
            jsonb_build_object('type', 'drop_item', 'question_version_id', tests.uuid_of('q2', 1)))), 'valid',
          'beside an entry expanded to every version of its question version (section 12), the 100,000 ids still validate');
SELECT tests.throws_code_like(format('SELECT scoreledger_private.expand_corrections(%L)',
                                     jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(1, 100001))))::text,
                              'SL422', 'corrections[0].submission\_ids: at most 100000 submission ids per entry',
                              'one id over the bound (scoreledger.input_limits ids_per_correction) is refused, naming the entry');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(
            pg_temp.ids(1, 99999) || to_jsonb(upper(tests.uuid_of('submission', 7)::text))))),
          format('SL422: corrections[0].submission_ids[99999]: %s is listed twice', upper(tests.uuid_of('submission', 7)::text)),
          'a duplicate at the end of 100,000 ids (in other case) is named by its index');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(
            pg_temp.ids(1, 49999) || pg_temp.ids(100001, 100001) || pg_temp.ids(50001, 99999) || pg_temp.ids(1, 1)))),
          format('SL422: corrections[0].submission_ids[49999]: submission %s is not of evaluation version %s',
                 tests.uuid_of('submission', 100001), tests.uuid_of('version', 1)),
          'the first problem in document order is raised (another version''s id before a later duplicate)');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(99990, 100000), 3))),
          format('SL422: corrections[0].submission_ids[0]: submission %s does not contain question version %s',
                 tests.uuid_of('submission', 99990), tests.uuid_of('q3', 1)),
          'an id of a submission without the item is named');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(1, 3) || '[42, "nope"]'::jsonb))),
          'SL422: corrections[0].submission_ids[3]: must be a uuid string', 'a non-uuid id is named');
SELECT is(pg_temp.validates(jsonb_build_array(pg_temp.mark_correct(pg_temp.ids(1, 3) || to_jsonb(tests.uuid_of('nowhere', 1))))),
          format('SL422: corrections[0].submission_ids[3]: submission %s does not exist', tests.uuid_of('nowhere', 1)),
          'an unknown id is named');

-- =====================================================================
-- 2. Order: earliest entry first, then the rule order within an entry
-- =====================================================================
SELECT is(pg_temp.validates(jsonb_build_array(
            jsonb_build_object('type', 'replace_key', 'evaluation_version_id', tests.uuid_of('version', 1),
                               'question_version_id', tests.uuid_of('q1', 1), 'correct', '["Z"]'::jsonb),
            jsonb_build_object('type', 'bogus'))),
          format('SL422: corrections[0].correct: "Z" is not an option of question version %s', tests.uuid_of('q1', 1)),
          'a late rule of entry 0 is raised before an early rule of entry 1');
SELECT is(pg_temp.validates(jsonb_build_array(
            jsonb_build_object('type', 'drop_item', 'evaluation_version_id', 'not-a-uuid', 'extra', 1))),
          'SL422: corrections[0].extra: unknown field (expected one of type, evaluation_version_id, question_version_id, tag)',
          'within an entry, an unknown field is reported before a malformed id');
SELECT is(pg_temp.validates(jsonb_build_array(
            jsonb_build_object('type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 1),
                               'question_version_id', tests.uuid_of('q2', 1)),
            jsonb_build_object('type', 'drop_item', 'evaluation_version_id', tests.uuid_of('version', 1),
                               'question_version_id', upper(tests.uuid_of('q2', 1)::text)))),
          format('SL422: corrections[1]: a second drop_item for the same item (question version %s)', tests.uuid_of('q2', 1)),
          'the second of two corrections of one type on one item is named (ids compared as uuids)');
SELECT is(pg_temp.validates('[1]'::jsonb), 'SL422: corrections[0]: must be a JSON object', 'an entry that is not an object');

-- =====================================================================
-- 3. Evaluation items: one pass, first problem in document order
-- =====================================================================
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                        jsonb_set(jsonb_set(tests.evaluation_doc(3), '{items,0,points}', '-1'),
                                  '{items,2,question_version_id}', to_jsonb(tests.uuid_of('q1', 3))))::text,
                 'SL422', 'items[0].points: must be a positive number (at most 1000000)',
                 'a problem of item 0 is raised before a duplicate question version in item 2');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                        jsonb_set(tests.evaluation_doc(3), '{items,2,question_version_id}', to_jsonb(tests.uuid_of('q1', 3))))::text,
                 'SL422', 'items[2].question\_version\_id: appears twice in this version',
                 'the second item with a question version is named');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                        jsonb_set(jsonb_set(tests.evaluation_doc(3), '{items,1,kind}', '"essay"'), '{items,1,options}', '[]'))::text,
                 'SL422', 'items[1].kind: must be single\_choice or multiple\_choice', 'within an item, kind is reported before options');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                        jsonb_set(tests.evaluation_doc(3), '{items,1,scoring}', '"partial"') #- '{items,1,kind}')::text,
                 'SL422', 'items[1].kind: is required', 'a missing kind is reported before partial scoring');
-- A question version id always means the same content, across versions.
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                        jsonb_set(jsonb_set(tests.evaluation_doc(4), '{items,2,question_version_id}', to_jsonb(tests.uuid_of('q3', 1))),
                                  '{items,2,prompt}', '"Changed?"'))::text,
                 'SL423', replace(format('items[2].question_version_id: question version %s already exists with different content',
                                         tests.uuid_of('q3', 1)), '_', '\_'),
                 'reusing a question version id with other content is SL423 naming the item');
SELECT scoreledger.import_evaluation_version(jsonb_set(tests.evaluation_doc(5), '{items,2}', tests.evaluation_doc(1)->'items'->2))
  AS v5 \gset
SELECT is((SELECT count(*) FROM scoreledger.items WHERE evaluation_version_id = :'v5'), 3::bigint,
          'a version sharing an existing question version (same content) publishes all its items');

SELECT * FROM finish();
ROLLBACK;
