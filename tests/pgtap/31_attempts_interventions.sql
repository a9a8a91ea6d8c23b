-- Phase 5 (contract section 11): attempt rules, the gate, interventions,
-- remedial work, and corrections flowing into gating. Each test tries to
-- break one rule, as the application and, where the contract says so, as
-- the owner.
BEGIN;
SELECT plan(57);

SELECT scoreledger.create_tenant('Phase 5', tests.uuid_of('tenant', 310));
SELECT scoreledger.create_tenant('Phase 5 other', tests.uuid_of('tenant', 311));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 311), tests.uuid_of('actor', 311));
SELECT tests.make_evaluation(311);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('foreign', 311),
  'title', 'Other tenant', 'evaluation_id', tests.uuid_of('evaluation', 311)));
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 310));
SELECT tests.make_evaluation(310);
SELECT tests.make_evaluation(312);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('remedial', 310),
  'title', 'Remedial', 'evaluation_id', tests.uuid_of('evaluation', 312)));

RESET ROLE;
CREATE FUNCTION pg_temp.asg(extra jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('assignment_id', tests.uuid_of('main', 310), 'title', 'Main',
                            'evaluation_id', tests.uuid_of('evaluation', 310)) || extra
$$;
-- A failing attempt (0 points) and a passing one (all points) of user n.
CREATE FUNCTION pg_temp.fail(n int, at text) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(tests.submission_doc(310, n, ARRAY['A'], ARRAY['C'], ARRAY['D'], NULL,
                                                            tests.uuid_of('main', 310), at))
$$;
CREATE FUNCTION pg_temp.pass_remedial(n int, at text) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(tests.submission_doc(312, n, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'], NULL,
                                                            tests.uuid_of('remedial', 310), at))
$$;
CREATE FUNCTION pg_temp.codes(decision jsonb) RETURNS text[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(r ->> 'code' ORDER BY r ->> 'code'), '{}') FROM jsonb_array_elements(decision -> 'reasons') r
$$;
-- What the application cannot read: the private rows, counted as a superuser.
CREATE FUNCTION pg_temp.private_count(tbl text) RETURNS int LANGUAGE plpgsql SECURITY DEFINER AS $$
DECLARE n int;
BEGIN
  EXECUTE format('SELECT count(*) FROM scoreledger_private.%I', tbl) INTO n;
  RETURN n;
END $$;
CREATE FUNCTION pg_temp.first_start() RETURNS uuid LANGUAGE sql SECURITY DEFINER AS $$
  SELECT attempt_id FROM scoreledger_private.attempt_starts ORDER BY started_at LIMIT 1
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SET LOCAL ROLE scoreledger_app;

-- 1. Rules: validated, naming the field ------------------------------------
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"max_attempts": 0}'))$$,
  'SL422', 'max\_attempts: %', 'max_attempts must be positive');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"max_attempts": 1.5}'))$$,
  'SL422', 'max\_attempts: %', 'max_attempts must be an integer');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"retake_cooldown": "soon"}'))$$,
  'SL422', 'retake\_cooldown: %', 'retake_cooldown must be an interval');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"retake_cooldown": "-1 hour"}'))$$,
  'SL422', 'retake\_cooldown: %', 'retake_cooldown must not be negative');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"retake_after_pass": "no"}'))$$,
  'SL422', 'retake\_after\_pass: %', 'retake_after_pass must be a boolean');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"intervention_after_fails": -2}'))$$,
  'SL422', 'intervention\_after\_fails: %', 'intervention_after_fails must be positive');
SELECT tests.throws_code_like(format($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"remedial_assignment_id": "%s"}'))$$,
  tests.uuid_of('main', 310)), 'SL422', 'remedial\_assignment\_id: must be another assignment%', 'the remedial assignment is not itself');
SELECT tests.throws_code_like(format($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"remedial_assignment_id": "%s"}'))$$,
  tests.uuid_of('foreign', 311)), 'SL404', 'remedial\_assignment\_id: %', 'a remedial assignment of another tenant is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(pg_temp.asg('{"max_attempt": 2}'))$$,
  'SL422', 'max\_attempt: unknown field%', 'an unknown rule is refused');

SELECT scoreledger.upsert_assignment(pg_temp.asg(jsonb_build_object('max_attempts', 3, 'retake_after_pass', false,
  'intervention_after_fails', 2, 'remedial_assignment_id', tests.uuid_of('remedial', 310))));
SELECT scoreledger.upsert_assignment(pg_temp.asg(jsonb_build_object('max_attempts', 3, 'retake_after_pass', false,
  'intervention_after_fails', 2, 'remedial_assignment_id', tests.uuid_of('remedial', 310))));
SELECT is(pg_temp.private_count('assignment_rule_events'), 3,
  'a rule change is one event (one per assignment created, one for the rules of main; the same rules again none)');
SELECT tests.act_as_owner(tests.uuid_of('tenant', 310));
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.assignment_rule_events$$, 'SL423', '%append-only%',
  'rule events are append-only, for the owner too');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 310));

-- 2. The gate --------------------------------------------------------------
SELECT is(scoreledger.check_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1)),
  '{"allowed": true, "attempt_no": 1}'::jsonb, 'a fresh learner may start attempt 1');
SELECT is((scoreledger.start_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1)) ->> 'attempt_no')::int, 1,
  'start_attempt records attempt 1');
SELECT is(pg_temp.private_count('attempt_starts'), 1, 'one start recorded');
SELECT tests.throws_code_like($$SELECT scoreledger.start_attempt(gen_random_uuid(), gen_random_uuid())$$,
  'SL404', 'assignment % does not exist', 'an unknown assignment is SL404');
SELECT tests.throws_code_like(format($$SELECT scoreledger.start_attempt('%s', gen_random_uuid())$$, tests.uuid_of('foreign', 311)),
  'SL404', 'assignment % does not exist', 'another tenant''s assignment is not reachable');

-- attempt_id on submissions
SELECT pass('(the application reads starts only through the gate)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.record_submission(tests.submission_doc(310, 2, ARRAY['A'], NULL, NULL,
    NULL, '%s') || jsonb_build_object('attempt_id', pg_temp.first_start()))$$, tests.uuid_of('main', 310)),
  'SL404', 'attempt\_id: attempt % is not a start of this user and assignment', 'another user''s start is SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.record_submission(tests.submission_doc(310, 1, ARRAY['A'], NULL, NULL)
    || '{"attempt_id": "nope"}')$$, 'SL422', 'attempt\_id: must be a uuid string', 'a malformed attempt_id is SL422');
SELECT lives_ok(format($$SELECT scoreledger.record_submission(tests.submission_doc(310, 1, ARRAY['A'], ARRAY['C'], ARRAY['D'],
    NULL, '%s', '2026-11-01T10:00:00Z') || jsonb_build_object('attempt_id', pg_temp.first_start()))$$,
  tests.uuid_of('main', 310)), 'a submission names its start');
SELECT tests.throws_code_like(format($$SELECT scoreledger.record_submission(tests.submission_doc(310, 1, ARRAY['A'], ARRAY['C'],
    ARRAY['D'], NULL, '%s', '2026-11-01T10:30:00Z') || jsonb_build_object('attempt_id', pg_temp.first_start()))$$,
  tests.uuid_of('main', 310)), 'SL409', 'attempt\_id: attempt % is already used by submission %', 'a start is used at most once');
SELECT is((scoreledger.learner_status(tests.uuid_of('main', 310), tests.uuid_of('user', 1)) ->> 'attempts_used')::int, 1,
  'a submission naming its start is not counted twice');

-- 3. The rule: two failures open an intervention and issue remedial work --
SELECT pg_temp.fail(1, '2026-11-01T11:00:00Z');
SELECT is((SELECT count(*)::int FROM scoreledger.interventions WHERE status = 'open' AND origin = 'rule'), 1,
  'the second failure opens a rule intervention');
SELECT is((SELECT status FROM scoreledger.remedial_assignments), 'issued', 'the remedial assignment is issued');
SELECT is(pg_temp.codes(scoreledger.check_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1))),
  ARRAY['intervention_required'], 'the gate names the intervention');
SELECT is(scoreledger.start_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1)) -> 'allowed', 'false'::jsonb,
  'a refused start says so');
SELECT is(pg_temp.private_count('attempt_starts'), 1, 'and writes nothing');
SELECT tests.throws_code_like($$SELECT scoreledger.open_intervention((SELECT assignment_id FROM scoreledger.interventions LIMIT 1),
    (SELECT user_id FROM scoreledger.interventions LIMIT 1), 'again')$$, 'SL409', '%already has open intervention%',
  'at most one open intervention per learner (API)');
SELECT tests.act_as_owner(tests.uuid_of('tenant', 310));
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.interventions (tenant_id, intervention_id, assignment_id, user_id,
    status, origin, reason, opened_by) SELECT tenant_id, gen_random_uuid(), assignment_id, user_id, 'open', 'manual', 'x', user_id
    FROM scoreledger_private.interventions$$, '23505', '%interventions_one_open%', 'at most one open per learner (the index, for the owner)');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.interventions SET reason = 'rewritten'$$, 'SL423', '%state machine%',
  'an intervention''s opening never changes (owner)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.intervention_events$$, 'SL423', '%append-only%',
  'intervention events are append-only (owner)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.interventions$$, 'SL423', '%never deleted%',
  'interventions are never deleted (owner)');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 310));

-- 4. Remedial work completes: the intervention resolves, the learner may start
SELECT pg_temp.pass_remedial(1, '2026-11-01T12:00:00Z');
SELECT is((SELECT status FROM scoreledger.remedial_assignments), 'completed', 'passing the remedial assignment completes it');
SELECT results_eq($$SELECT status, closed_by FROM scoreledger.interventions$$, $$VALUES ('resolved'::text, NULL::uuid)$$,
  'and resolves the intervention with no instructor');
SELECT is(pg_temp.codes(scoreledger.check_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1))), '{}'::text[],
  'the learner may start again');
SELECT pg_temp.fail(1, '2026-11-01T13:00:00Z');
SELECT is(pg_temp.codes(scoreledger.check_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 1))),
  ARRAY['max_attempts_reached'], 'after the resolution the count starts afresh; three attempts used');

-- 4b. The action center's intervention figures: at creation the preview's
-- totals, after apply and revert what the rule did there ------------------
CREATE FUNCTION pg_temp.figures(batch uuid) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('opened', n.interventions_opened, 'withdrawn', n.interventions_withdrawn,
                            'remedialCompleted', n.remedial_completed)
  FROM scoreledger.batch_next_actions n WHERE n.batch_id = batch
$$;
SELECT pg_temp.fail(5, '2026-11-01T11:00:00Z');
SELECT pg_temp.fail(5, '2026-11-01T11:30:00Z');
SELECT is((SELECT count(*)::int FROM scoreledger.interventions WHERE user_id = tests.uuid_of('user', 5) AND status = 'open'), 1,
  'user 5 is locked by the rule');
SELECT scoreledger.create_correction_batch('q2 and q3 free',
  jsonb_build_array(tests.mark_correct(310, 2), tests.mark_correct(310, 3))) AS lenient \gset
SELECT is(pg_temp.figures(:'lenient'), scoreledger.preview_correction_batch(:'lenient') -> 'interventions',
  'stored at creation: the preview''s intervention totals');
SELECT is(pg_temp.figures(:'lenient'), '{"opened": 0, "withdrawn": 1, "remedialCompleted": 0}'::jsonb,
  'which count the lock the batch lifts');
SELECT scoreledger.apply_correction_batch(:'lenient');
SELECT is((SELECT count(*)::int FROM scoreledger.interventions WHERE closed_by_batch_id = :'lenient' AND status = 'withdrawn'), 1,
  'apply withdrew one intervention');
SELECT is(pg_temp.figures(:'lenient'), '{"opened": 0, "withdrawn": 1, "remedialCompleted": 0}'::jsonb,
  'after apply: what apply did');
SELECT scoreledger.revert_correction_batch(:'lenient', 'too lenient') AS undo \gset
SELECT is(pg_temp.figures(:'undo'), '{"opened": 1, "withdrawn": 0, "remedialCompleted": 0}'::jsonb,
  'the compensating batch stores what its revert did (the lock again)');
SELECT is(pg_temp.figures(:'lenient'), '{"opened": 0, "withdrawn": 1, "remedialCompleted": 0}'::jsonb,
  'the original keeps its figures');
-- Remedial work failed, then corrected into a pass: the batch completes it.
SELECT pg_temp.fail(7, '2026-11-01T11:00:00Z');
SELECT pg_temp.fail(7, '2026-11-01T11:30:00Z');
SELECT scoreledger.record_submission(tests.submission_doc(312, 7, ARRAY['A'], ARRAY['C'], ARRAY['D'], NULL,
                                                          tests.uuid_of('remedial', 310), '2026-11-01T12:00:00Z'));
SELECT scoreledger.create_correction_batch('remedial q2 and q3 free',
  jsonb_build_array(tests.mark_correct(312, 2), tests.mark_correct(312, 3))) AS kinder \gset
SELECT is(pg_temp.figures(:'kinder'), '{"opened": 0, "withdrawn": 0, "remedialCompleted": 1}'::jsonb,
  'stored at creation: the remedial work the batch completes');
SELECT is(pg_temp.figures(:'kinder'), scoreledger.preview_correction_batch(:'kinder') -> 'interventions',
  'as the preview counts it');
SELECT scoreledger.apply_correction_batch(:'kinder');
SELECT is(pg_temp.figures(:'kinder'), '{"opened": 0, "withdrawn": 0, "remedialCompleted": 1}'::jsonb,
  'after apply: the completion apply did');
SELECT tests.act_as_owner(tests.uuid_of('tenant', 310));
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET figures_interventions_opened = 7
    WHERE batch_id = '%s'$$, :'lenient'), 'SL423', '%immutable%', 'an applied batch''s intervention figures never change (owner)');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 310));

-- 5. Manual open and resolve, capability, errors ------------------------
SELECT tests.throws_code_like(format($$SELECT scoreledger.open_intervention('%s', '%s', '  ')$$, tests.uuid_of('main', 310),
  tests.uuid_of('user', 9)), 'SL422', 'reason: must not be empty', 'a manual intervention needs a reason');
SELECT scoreledger.open_intervention(tests.uuid_of('main', 310), tests.uuid_of('user', 9), 'talk first') AS manual_id \gset
SELECT is(pg_temp.codes(scoreledger.check_attempt(tests.uuid_of('main', 310), tests.uuid_of('user', 9))),
  ARRAY['intervention_required'], 'a manual intervention locks the gate');
SELECT tests.throws_code_like($$SELECT scoreledger.resolve_intervention(gen_random_uuid(), 'ok')$$, 'SL404', 'intervention % does not exist',
  'resolving an unknown intervention is SL404');
SELECT scoreledger.grant_capability(tests.uuid_of('reviewer', 310), 'approve_batch');
SELECT scoreledger.grant_capability(tests.uuid_of('actor', 310), 'resolve_intervention');
SELECT scoreledger.set_tenant_policy(NULL, true);
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 320));
SELECT tests.throws_code_like(format($$SELECT scoreledger.resolve_intervention('%s', 'ok')$$, :'manual_id'), 'SL403',
  '%resolve\_intervention%', 'under enforce_capabilities resolving needs resolve_intervention');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 310), tests.uuid_of('actor', 310));
SELECT is(scoreledger.resolve_intervention(:'manual_id', 'talked') ->> 'status', 'resolved', 'an instructor resolves it');
SELECT tests.throws_code_like(format($$SELECT scoreledger.resolve_intervention('%s', 'again')$$, :'manual_id'), 'SL409',
  '%is resolved%', 'a resolved intervention is not resolved again');
SELECT is((SELECT array_agg(to_status ORDER BY event_id) FROM scoreledger.intervention_events WHERE intervention_id = :'manual_id'),
  ARRAY['open', 'resolved'], 'every change is an event');

-- 6. Without context nothing is reachable ---------------------------------
SELECT tests.authenticate_without_context();
SELECT tests.throws_code_like($$SELECT scoreledger.check_attempt(gen_random_uuid(), gen_random_uuid())$$, 'SL401', '%',
  'the gate needs a tenant context');
SELECT is((SELECT count(*)::int FROM scoreledger.interventions), 0, 'no context, no interventions');

-- 7. check finds no breach ---------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 310));
SELECT is((SELECT sum(breaches)::int FROM scoreledger_private.learner_breaches()), 0, 'the Phase 5 invariants hold');

SELECT * FROM finish();
ROLLBACK;
