-- Guards around correction batches: apply/revert of batches that do not
-- exist (or belong to another tenant) is SL404, wrong states SL409, a
-- missing tenant or actor SL401; and the database itself (triggers, not
-- just the API) keeps applied batches, their corrections and the batch
-- events immutable (SL423), for the table owner too.
BEGIN;
SELECT plan(35);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql.)
-- Everything about one batch, to show it did not change.
CREATE FUNCTION pg_temp.batch_state(batch uuid) RETURNS jsonb LANGUAGE sql AS $$
  SELECT scoreledger.get_correction_batch(batch)
$$;

-- ---------------------------------------------------------------------
-- Fixture: tenant 1 has an applied batch (applied), a reverted one
-- (reverted, with its compensating batch) and a draft; tenant 2 has a
-- draft of its own.
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('guards tenant 1', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('guards tenant 2', tests.uuid_of('tenant', 2)) \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT tests.make_evaluation(2) \gset
SELECT scoreledger.create_correction_batch('tenant 2 draft', jsonb_build_array(tests.drop_item(2, 1))) AS other_draft \gset

SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 1) \gset
SELECT tests.submit(1, 2, '{A}', '{A}', '{A}', 2) \gset
SELECT scoreledger.create_correction_batch('q1 key C, q2 for 2',
         jsonb_build_array(tests.replace_key(1, 1, '{C}'), tests.mark_correct(1, 2, '{2}'))) AS applied \gset
SELECT scoreledger.apply_correction_batch(:'applied') \gset
SELECT scoreledger.create_correction_batch('drop q3', jsonb_build_array(tests.drop_item(1, 3))) AS reverted \gset
SELECT scoreledger.apply_correction_batch(:'reverted') \gset
SELECT scoreledger.revert_correction_batch(:'reverted', 'keep q3') AS compensating \gset
SELECT scoreledger.create_correction_batch('a draft', jsonb_build_array(tests.drop_item(1, 2))) AS draft \gset

-- ---------------------------------------------------------------------
-- SL404: unknown batches and other tenants' batches
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', tests.uuid_of('nowhere', 1)), 'SL404', '%',
               'applying an unknown batch is SL404');
SELECT is(tests.error_of(format('SELECT scoreledger.apply_correction_batch(%L)', :'other_draft')),
          replace(tests.error_of(format('SELECT scoreledger.apply_correction_batch(%L)', tests.uuid_of('nowhere', 1))),
                  tests.uuid_of('nowhere', 1)::text, :'other_draft'),
          'applying another tenant''s batch fails exactly like applying an unknown one');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'x')$$, :'other_draft'), 'SL404', '%',
               'reverting another tenant''s batch is SL404');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'applied'), 'SL404', '%',
               'tenant 2 re-applying tenant 1''s applied batch is SL404, not its result');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'x')$$, :'applied'), 'SL404', '%',
               'tenant 2 reverting tenant 1''s batch is SL404');
SELECT is((SELECT status FROM scoreledger.correction_batches WHERE id = :'other_draft'), 'draft', 'tenant 2''s draft is still a draft');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset

-- ---------------------------------------------------------------------
-- SL409 / SL401
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'reverted'), 'SL409', '%',
               'applying a reverted batch is SL409');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), NULL) \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'draft'), 'SL401', '%',
               'applying without an actor is SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'applied'), 'SL401', '%',
               're-applying without an actor is SL401 too');
SELECT tests.clear_context() \gset
SET LOCAL ROLE scoreledger_app;
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'draft'), 'SL401', '%',
               'applying without a tenant is SL401');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'x')$$, :'applied'), 'SL401', '%',
               'reverting without a tenant is SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', :'applied'), 'SL401', '%',
               'showing without a tenant is SL401');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is((SELECT status FROM scoreledger.correction_batches WHERE id = :'draft'), 'draft', 'the draft is still a draft');

-- ---------------------------------------------------------------------
-- The application role writes only through the API
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like(format($$UPDATE scoreledger.correction_batches SET reason = 'x' WHERE id = %L$$, :'draft'), '42501', '%',
               'scoreledger_app cannot update the batches view');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET reason = 'x' WHERE batch_id = %L$$, :'draft'),
               '42501', '%', 'scoreledger_app cannot update the batches table');

-- ---------------------------------------------------------------------
-- SL423 for the table owner: applied batches
-- ---------------------------------------------------------------------
SELECT pg_temp.batch_state(:'applied') AS applied_state \gset
SELECT pg_temp.batch_state(:'reverted') AS reverted_state \gset
SELECT tests.act_as_owner(tests.uuid_of('tenant', 1)) \gset

SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET payload = '[]' WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot change an applied batch''s payload');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches
                                    SET payload = payload || payload WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot append to an applied batch''s payload');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET reason = 'other' WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot change an applied batch''s reason');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches
                                    SET status = 'draft', applied_at = NULL, applied_by = NULL, applied_seq = NULL
                                    WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot turn an applied batch back into a draft');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET applied_at = applied_at - interval '1 day'
                                    WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot change applied_at');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET apply_result = '{}' WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot change the recorded apply result');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.correction_batches WHERE batch_id = %L$$, :'draft'),
               'SL423', '%', 'the owner cannot delete a batch, not even a draft');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'applied', reverted_by_batch_id = NULL
                                    WHERE batch_id = %L$$, :'reverted'),
               'SL423', '%', 'the owner cannot un-revert a batch');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET reverted_by_batch_id = %L
                                    WHERE batch_id = %L$$, :'applied', :'reverted'),
               'SL423', '%', 'the owner cannot re-point reverted_by_batch_id');

-- Corrections of applied (and reverted) batches.
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.corrections SET correct = '{A}' WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot change an applied batch''s corrections');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.corrections WHERE batch_id = %L AND correction_type = 'replace_key'$$, :'applied'),
               'SL423', '%', 'the owner cannot delete an applied batch''s corrections');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.correction_submissions WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot remove submissions from an applied scoped mark_correct');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.corrections SET question_version_id = question_version_id
                                    WHERE batch_id = %L$$, :'reverted'),
               'SL423', '%', 'the owner cannot touch a reverted batch''s corrections');

-- Batch events are append-only.
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.batch_events SET note = 'edited' WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot update batch events');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.batch_events WHERE batch_id = %L$$, :'applied'),
               'SL423', '%', 'the owner cannot delete batch events');
SELECT tests.throws_code_like('DELETE FROM scoreledger_private.batch_events WHERE false', 'SL423', '%',
               'even a delete of no event is refused');
SELECT tests.throws_code_like('TRUNCATE scoreledger_private.batch_events', 'SL423', '%', 'the owner cannot truncate batch events');

-- Nothing changed.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is(pg_temp.batch_state(:'applied'), :'applied_state'::jsonb, 'the applied batch, its payload and events are unchanged');
SELECT is(pg_temp.batch_state(:'reverted'), :'reverted_state'::jsonb, 'the reverted batch is unchanged');

SELECT tests.clear_context() \gset
SELECT is((SELECT sum(breaches) FROM scoreledger.check_invariants()), 0::numeric, 'check_invariants finds no breach');

SELECT * FROM finish();
ROLLBACK;
