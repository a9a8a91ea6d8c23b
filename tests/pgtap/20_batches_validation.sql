-- Correction batches: validation of the corrections document (contract
-- section 5). Every invalid document raises SL422 with a message that names
-- the offending entry (0-based: corrections[1] is the second entry); a
-- missing actor raises SL401; another tenant's objects behave exactly like
-- objects that do not exist; a failed create writes nothing.
BEGIN;
SELECT plan(62);

-- ---------------------------------------------------------------------
-- Local helpers (session-temporary, gone with the connection)
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql.)

-- tests.mark_correct, but unscoped with submission_ids left out (the
-- contract's own form; the other files send null).
CREATE FUNCTION pg_temp.mark_correct(seed int, n int, subs int[] DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
  SELECT CASE WHEN subs IS NULL THEN tests.mark_correct(seed, n) - 'submission_ids' ELSE tests.mark_correct(seed, n, subs) END
$$;

-- The statement creating a batch with `reason` from the given corrections,
-- and its error.
CREATE FUNCTION pg_temp.create_sql(corrections jsonb, reason text DEFAULT 'fix the key') RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT scoreledger.create_correction_batch(%L, %L::jsonb)', reason, corrections)
$$;
CREATE FUNCTION pg_temp.create_err(corrections jsonb, reason text DEFAULT 'fix the key') RETURNS text LANGUAGE sql AS $$
  SELECT tests.error_of(pg_temp.create_sql(corrections, reason))
$$;

-- How many rows of anything remediation writes are visible.
CREATE FUNCTION pg_temp.written() RETURNS bigint LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM scoreledger.correction_batches)
       + (SELECT count(*) FROM scoreledger.score_history WHERE correction_batch_id IS NOT NULL)
$$;

-- ---------------------------------------------------------------------
-- Fixture: tenant 1 with evaluations 1 and 2; tenant 2 with evaluation 3.
--   submission 1: evaluation 1, items q1 q2 q3
--   submission 2: evaluation 1, items q1 q2 (q3 not presented)
--   submission 3: evaluation 2
--   submission 4: evaluation 3 (tenant 2)
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('validation tenant 1', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('validation tenant 2', tests.uuid_of('tenant', 2)) \gset

SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT tests.make_evaluation(3) \gset
SELECT tests.submit(3, 1, '{B}', '{A,B}', '{A}', 4) \gset

SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.make_evaluation(2) \gset
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 1) \gset
SELECT tests.submit(1, 2, '{A}', '{A}', NULL, 2) \gset
SELECT tests.submit(2, 1, '{B}', '{A,B}', '{A,B,C}', 3) \gset

-- ---------------------------------------------------------------------
-- The document as a whole
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql('{}'), 'SL422', 'corrections: %', 'an object instead of an array is SL422 naming corrections');
SELECT tests.throws_code_like(pg_temp.create_sql('[]'), 'SL422', 'corrections: %', 'an empty array is SL422 naming corrections');
SELECT tests.throws_code_like(pg_temp.create_sql(NULL), 'SL422', 'corrections: %', 'a null document is SL422 naming corrections');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), '"drop q2"'::jsonb)),
               'SL422', 'corrections[1]: %', 'an entry that is not an object is SL422 naming corrections[1]');

-- ---------------------------------------------------------------------
-- type
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || '{"type": "regrade"}')),
               'SL422', 'corrections[1].type: %', 'an unknown type is SL422 naming corrections[1].type');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1) - 'type')),
               'SL422', 'corrections[0].type: %', 'a missing type is SL422 naming corrections[0].type');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1) || '{"type": 3}')),
               'SL422', 'corrections[0].type: %', 'a non-string type is SL422 naming corrections[0].type');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1) || '{"correct": ["A"]}')),
               'SL422', 'corrections[0].correct: %', 'a field the type does not take is SL422 naming it');

-- ---------------------------------------------------------------------
-- evaluation_version_id / question_version_id: missing, malformed, unknown
-- ---------------------------------------------------------------------
-- Without evaluation_version_id an entry targets every version containing
-- its question version (tests/pgtap/33_batch_helpers.sql): one in none is refused.
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 jsonb_build_object('type', 'drop_item', 'question_version_id', tests.uuid_of('nowhere', 20)))),
               'SL422', 'corrections[1].question\_version\_id: % is not an item of any evaluation version',
               'a missing evaluation_version_id with a question version of no evaluation version names corrections[1]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || '{"evaluation_version_id": "not-a-uuid"}')),
               'SL422', 'corrections[1].evaluation\_version\_id: %', 'a malformed evaluation_version_id names corrections[1].evaluation_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || '{"evaluation_version_id": 42}')),
               'SL422', 'corrections[1].evaluation\_version\_id: %', 'a numeric evaluation_version_id names corrections[1].evaluation_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || jsonb_build_object('evaluation_version_id', tests.uuid_of('nowhere', 1)))),
               'SL422', 'corrections[1].evaluation\_version\_id: %', 'an unknown evaluation version names corrections[1].evaluation_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.drop_item(1, 2) - 'question_version_id')),
               'SL422', 'corrections[1].question\_version\_id: %', 'a missing question_version_id names corrections[1].question_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || '{"question_version_id": "1234"}')),
               'SL422', 'corrections[1].question\_version\_id: %', 'a malformed question_version_id names corrections[1].question_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || jsonb_build_object('question_version_id', tests.qv(2, 2)))),
               'SL422', 'corrections[1].question\_version\_id: %', 'a question version of another evaluation names corrections[1].question_version_id');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 tests.drop_item(1, 2) || jsonb_build_object('question_version_id', tests.uuid_of('nowhere', 2)))),
               'SL422', 'corrections[1].question\_version\_id: %', 'an unknown question version names corrections[1].question_version_id');

-- Another tenant's evaluation version / question version: indistinguishable
-- from ids that exist nowhere (same code, same message but for the id).
SELECT is(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 1),
            tests.drop_item(3, 2))),
          replace(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 1),
            tests.drop_item(3, 2) || jsonb_build_object('evaluation_version_id', tests.uuid_of('nowhere', 3)))),
            tests.uuid_of('nowhere', 3)::text, tests.ev(3)::text),
          'another tenant''s evaluation version is reported exactly like one that does not exist');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(3, 2))),
               'SL422', 'corrections[0].evaluation\_version\_id: %', 'another tenant''s evaluation version is SL422 on corrections[0].evaluation_version_id');
SELECT is(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 2) || jsonb_build_object('question_version_id', tests.qv(3, 2)))),
          replace(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 2)
                    || jsonb_build_object('question_version_id', tests.uuid_of('nowhere', 4)))),
                  tests.uuid_of('nowhere', 4)::text, tests.qv(3, 2)::text),
          'another tenant''s question version is reported exactly like one that does not exist');

-- ---------------------------------------------------------------------
-- replace_key: correct
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 2, '{A,D}'))),
               'SL422', 'corrections[1].correct: %"D"%', 'an option not in the question names corrections[1].correct and the option');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 2, '{}'))),
               'SL422', 'corrections[1].correct: %', 'an empty correct names corrections[1].correct');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 2, '{A}') - 'correct')),
               'SL422', 'corrections[1].correct: %', 'a replace_key without correct names corrections[1].correct');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 2, '{A}') || '{"correct": "A"}')),
               'SL422', 'corrections[1].correct: %', 'a correct that is not an array names corrections[1].correct');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 2, '{A,A}'))),
               'SL422', 'corrections[1].correct: %', 'an option listed twice names corrections[1].correct');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.replace_key(1, 1, '{b}'))),
               'SL422', 'corrections[1].correct: %', 'options are matched exactly (b is not B)');

-- ---------------------------------------------------------------------
-- mark_correct: submission_ids
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 2, '{1,3}'))),
               'SL422', 'corrections[1].submission\_ids[1]: %', 'a submission of another evaluation version names corrections[1].submission_ids[1]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 3, '{1,2}'))),
               'SL422', 'corrections[1].submission\_ids[1]: %', 'a submission without the item names corrections[1].submission_ids[1]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 2, '{99}'))),
               'SL422', 'corrections[1].submission\_ids[0]: %', 'an unknown submission names corrections[1].submission_ids[0]');
SELECT is(pg_temp.create_err(jsonb_build_array(pg_temp.mark_correct(1, 2, '{4}'))),
          replace(pg_temp.create_err(jsonb_build_array(pg_temp.mark_correct(1, 2, '{99}'))),
                  tests.sub(99)::text, tests.sub(4)::text),
          'another tenant''s submission is reported exactly like one that does not exist');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 pg_temp.mark_correct(1, 2) || '{"submission_ids": ["not-a-uuid"]}')),
               'SL422', 'corrections[1].submission\_ids[0]: %', 'a malformed submission id names corrections[1].submission_ids[0]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 pg_temp.mark_correct(1, 2) || jsonb_build_object('submission_ids', jsonb_build_array(tests.sub(1), 5)))),
               'SL422', 'corrections[1].submission\_ids[1]: %', 'a numeric submission id names corrections[1].submission_ids[1]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 pg_temp.mark_correct(1, 2) || '{"submission_ids": []}')),
               'SL422', 'corrections[1].submission\_ids: %', 'an empty submission_ids names corrections[1].submission_ids');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1),
                 pg_temp.mark_correct(1, 2) || '{"submission_ids": "all"}')),
               'SL422', 'corrections[1].submission\_ids: %', 'a submission_ids that is not an array names corrections[1].submission_ids');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 2, '{1,1}'))),
               'SL422', 'corrections[1].submission\_ids[1]: %', 'a submission listed twice names corrections[1].submission_ids[1]');

-- ---------------------------------------------------------------------
-- Two corrections of the same type on the same target
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1), tests.drop_item(1, 2), tests.drop_item(1, 1))),
               'SL422', 'corrections[2]%', 'a second drop_item on one item names corrections[2]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.replace_key(1, 2, '{A}'), tests.replace_key(1, 2, '{B}'))),
               'SL422', 'corrections[1]%', 'two replace_keys on one item (even with different keys) name corrections[1]');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(pg_temp.mark_correct(1, 2), pg_temp.mark_correct(1, 2, '{1}'))),
               'SL422', 'corrections[1]%', 'a scoped and an unscoped mark_correct on one item name corrections[1]');

-- ---------------------------------------------------------------------
-- reason
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1)), ''), 'SL422', 'reason%', 'an empty reason is SL422 naming reason');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1)), '   '), 'SL422', 'reason%', 'a reason of spaces is SL422 naming reason');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1)), NULL), 'SL422', 'reason%', 'a null reason is SL422 naming reason');

-- Nothing at all was written by any of the failures above.
SELECT is(pg_temp.written(), 0::bigint, 'no batch and no history row exists after the failed creates');

-- Whitespace other than spaces says no more than spaces do.
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1)), E'\t\n '), 'SL422', 'reason%',
               'a reason of tabs and newlines is SL422 naming reason');

-- ---------------------------------------------------------------------
-- Valid documents
-- ---------------------------------------------------------------------
SELECT is(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 1, '{1,2}'),
                                               tests.replace_key(1, 1, '{C,D}'))),
          'no error', 'one correction of each type on the same item is valid');
SELECT is(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 1), tests.drop_item(1, 2), tests.drop_item(2, 1))),
          'no error', 'one type on several items, across evaluation versions, is valid');
SELECT is(pg_temp.create_err(jsonb_build_array(pg_temp.mark_correct(1, 2) || '{"submission_ids": null}')),
          'no error', 'submission_ids null means everyone');
-- The contract's own form: submission_ids is optional and simply left out.
SELECT is(pg_temp.create_err(jsonb_build_array(pg_temp.mark_correct(1, 2))),
          'no error', 'a mark_correct without submission_ids (everyone) is valid');
SELECT is(pg_temp.create_err(jsonb_build_array(tests.drop_item(1, 1), pg_temp.mark_correct(1, 2))),
          'no error', 'a mark_correct without submission_ids after another correction is valid');

SELECT scoreledger.create_correction_batch('  Key of q2 was wrong  ',
         jsonb_build_array(tests.replace_key(1, 2, '{A,C}'), pg_temp.mark_correct(1, 3, '{1}'))) AS batch \gset
SELECT is(status, 'draft', 'a created batch is a draft') FROM scoreledger.correction_batches WHERE id = :'batch';
SELECT is(created_by, tests.uuid_of('actor', 1), 'created_by is the actor') FROM scoreledger.correction_batches WHERE id = :'batch';
SELECT is(reason, 'Key of q2 was wrong', 'the reason is stored (trimmed)') FROM scoreledger.correction_batches WHERE id = :'batch';
SELECT ok(created_at IS NOT NULL AND applied_at IS NULL AND submissions_affected IS NULL
          AND reverts_batch_id IS NULL AND reverted_by_batch_id IS NULL,
          'a draft has created_at, and no applied_at / submissions_affected / revert links')
FROM scoreledger.correction_batches WHERE id = :'batch';
SELECT is(scoreledger.get_correction_batch(:'batch')->'corrections',
          jsonb_build_array(tests.replace_key(1, 2, '{A,C}'), pg_temp.mark_correct(1, 3, '{1}')),
          'the payload is stored as given');
SELECT is((SELECT jsonb_agg(e - 'at' - 'note') FROM jsonb_array_elements(scoreledger.get_correction_batch(:'batch')->'events') e),
          jsonb_build_array(jsonb_build_object('from', NULL, 'to', 'draft', 'actor', tests.uuid_of('actor', 1))),
          'creation is the one event so far (from null to draft, by the actor)');
SELECT is((SELECT count(*) FROM scoreledger.score_history WHERE correction_batch_id = :'batch'), 0::bigint,
          'creating a batch rescores nothing');

-- ---------------------------------------------------------------------
-- Actor and tenant context
-- ---------------------------------------------------------------------
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), NULL) \gset
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1))), 'SL401', '%', 'creating without an actor is SL401');
SELECT tests.throws_code_like(pg_temp.create_sql('[]'), 'SL401', '%', 'SL401 comes before document validation');
SELECT tests.clear_context() \gset
SET LOCAL ROLE scoreledger_app;
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1))), 'SL401', '%', 'creating without a tenant is SL401');
SELECT tests.throws_code_like('SELECT scoreledger.list_correction_batches()', 'SL401', '%', 'listing without a tenant is SL401');
SELECT is((SELECT count(*) FROM scoreledger.correction_batches), 0::bigint, 'without a tenant the batches view shows no rows');

-- Tenant 2 cannot see nor reach tenant 1's batch.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT is((SELECT count(*) FROM scoreledger.list_correction_batches()), 0::bigint, 'another tenant lists none of the batches');
SELECT is(tests.error_of(format('SELECT scoreledger.get_correction_batch(%L)', :'batch')),
          replace(tests.error_of(format('SELECT scoreledger.get_correction_batch(%L)', tests.uuid_of('nowhere', 5))),
                  tests.uuid_of('nowhere', 5)::text, :'batch'),
          'another tenant''s batch is SL404 exactly like a batch that does not exist');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', :'batch'), 'SL404', '%', 'get of another tenant''s batch is SL404');

SELECT * FROM finish();
ROLLBACK;
