-- Governance hardening (issue 12, items 5, 6, 7 and the governance bounds
-- of 11; contract section 10), as the application through the API and as
-- the table owner with plain INSERT, UPDATE and DELETE:
--   5. lowering protection is a pending change a different actor confirms
--      (confirm_tenant_policy); raising is immediate; a new request
--      supersedes the pending one; under enforce_capabilities both need
--      manage_policy; the owner's UPDATE of the tenant row cannot lower it;
--      every request, confirmation and change is an event;
--   6. nobody who changed a batch's corrections approves it (Carol creates,
--      Mallory edits the corrections, Carol edits the reason and submits:
--      Mallory's approval is SL403), on the row too;
--   7. a batch row is inserted only as a draft; corrections are added only
--      to an editable batch (SL423); grants and revokes by plain DML write
--      their events or are refused; a compensating batch goes through the
--      machine (draft, then `compensate`, only as its original's revert);
--  11. reasons, notes and tenant names have documented bounds (SL422
--      naming the field), from the one list scoreledger.input_limits.
BEGIN;
SELECT plan(67);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- As the table owner (RLS forced) in tenant 1 with the given actor (or none).
CREATE FUNCTION pg_temp.as_owner(who text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as_owner(tests.uuid_of('tenant', 1));
  PERFORM set_config('scoreledger.actor_id', coalesce(tests.actor(who)::text, ''), true);
END $$;
CREATE FUNCTION pg_temp.policy() RETURNS text LANGUAGE sql AS $$
  SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)
$$;
-- The governance events after event `after` as 'kind by actor' (actors by name).
CREATE FUNCTION pg_temp.events_since(after bigint) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(e.kind || coalesce(' ' || e.capability, '') || ' by ' || coalesce(
           (SELECT n FROM unnest(ARRAY['carol', 'mallory', 'dave', 'admin', 'checker']) n WHERE tests.actor(n) = e.actor_id),
           e.actor_id::text), '; ' ORDER BY e.event_id), '')
  FROM scoreledger.governance_events e WHERE e.event_id > after
$$;
CREATE FUNCTION pg_temp.last_event_id() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(max(event_id), 0) FROM scoreledger.governance_events
$$;
CREATE FUNCTION pg_temp.change_of(policy jsonb) RETURNS uuid LANGUAGE sql AS $$
  SELECT (policy->'pending_change'->>'change_id')::uuid
$$;
CREATE FUNCTION pg_temp.status(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT status FROM scoreledger.correction_batches WHERE id = batch
$$;

-- ---------------------------------------------------------------------
-- Fixture: tenant 1, evaluation 1, two submissions.
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('hardening tenant 1', tests.uuid_of('tenant', 1)) \gset
SELECT tests.act_as('carol') \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 1) \gset
SELECT tests.submit(1, 2, '{A}', '{A}', '{A}', 2) \gset

-- =====================================================================
-- 5. Lowering protection is dual-controlled
-- =====================================================================
SELECT tests.act_as('admin') \gset
SELECT pg_temp.last_event_id() AS ev0 \gset
SELECT is(scoreledger.set_tenant_policy(true, NULL), '{"require_approval": true, "enforce_capabilities": false}'::jsonb,
          'raising require_approval takes effect at once (no pending change)');
SELECT scoreledger.set_tenant_policy(false, NULL) AS req1 \gset
SELECT is(:'req1'::jsonb - 'pending_change', '{"require_approval": true, "enforce_capabilities": false}'::jsonb,
          'lowering require_approval alone does not lower it: the policy in force is returned unchanged');
SELECT is((:'req1'::jsonb->'pending_change') - 'change_id' - 'requested_at',
          jsonb_build_object('require_approval', false, 'enforce_capabilities', NULL, 'requested_by', tests.actor('admin')),
          '... with the pending change: what it lowers, who asked');
SELECT is(pg_temp.policy(), '(t,f)', 'the tenants view still shows require_approval on');
SELECT is((SELECT status FROM scoreledger.policy_changes WHERE change_id = pg_temp.change_of(:'req1')), 'pending',
          'the policy_changes view lists it as pending');
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', pg_temp.change_of(:'req1')), 'SL403', 'dual control%',
          'the requester cannot confirm their own lowering (SL403, dual control)');
-- The attack of the issue: one approver switches dual control off alone.
SELECT tests.act_as('carol') \gset
SELECT scoreledger.create_correction_batch('sneaky', jsonb_build_array(tests.drop_item(1, 1))) AS sneaky \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'sneaky'), 'SL409', '%requires approval%',
          'while the lowering is pending, a draft still cannot be applied');
SELECT tests.act_as('mallory') \gset
SELECT is(scoreledger.confirm_tenant_policy(pg_temp.change_of(:'req1')) - 'confirmed_change_id',
          '{"require_approval": false, "enforce_capabilities": false}'::jsonb, 'another user confirms: require_approval is off');
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', pg_temp.change_of(:'req1')), 'SL409', '%confirmed, not pending',
          'a change is confirmed once (SL409)');
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', tests.uuid_of('nothing', 1)), 'SL404', '%does not exist',
          'an unknown change is SL404');
SELECT is(pg_temp.events_since(:ev0),
          'policy by admin; policy_requested by admin; policy_confirmed by mallory; policy by mallory',
          'events: the raise, the request, the confirmation and the change it made, each with its actor');

-- A new request supersedes the pending one.
SELECT tests.act_as('admin') \gset
SELECT scoreledger.set_tenant_policy(true, NULL) \gset
SELECT scoreledger.set_tenant_policy(false, NULL) AS req2 \gset
SELECT scoreledger.set_tenant_policy(false, NULL) AS req3 \gset
SELECT is((SELECT string_agg(status, ',' ORDER BY requested_at) FROM scoreledger.policy_changes
           WHERE change_id IN (pg_temp.change_of(:'req2'), pg_temp.change_of(:'req3'))), 'superseded,pending',
          'a second request supersedes the first: one pending change per tenant');
SELECT tests.act_as('mallory') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', pg_temp.change_of(:'req2')), 'SL409', '%superseded%',
          'a superseded change cannot be confirmed');
SELECT is(scoreledger.confirm_tenant_policy(pg_temp.change_of(:'req3'))->>'require_approval', 'false', 'the latest one can');

-- Raise one, lower the other in one call: the raise now, the lowering pending.
SELECT tests.act_as('admin') \gset
SELECT scoreledger.grant_capability(tests.actor('admin'), 'approve_batch') \gset
SELECT scoreledger.set_tenant_policy(true, NULL) \gset
SELECT scoreledger.set_tenant_policy(false, true) AS mixed \gset
SELECT is(:'mixed'::jsonb - 'pending_change', '{"require_approval": true, "enforce_capabilities": true}'::jsonb,
          'set_tenant_policy(false, true): enforce_capabilities is raised at once, require_approval stays on');
SELECT is(:'mixed'::jsonb->'pending_change'->>'require_approval', 'false', '... and its lowering is pending');
-- Under enforce_capabilities, both sides need manage_policy (and, as all
-- administration, approve_batch).
SELECT scoreledger.grant_capability(tests.actor('checker'), 'approve_batch') \gset
SELECT tests.act_as('mallory') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', pg_temp.change_of(:'mixed')), 'SL403', '%approve\_batch%',
          'enforced: a user holding nothing cannot confirm');
SELECT tests.act_as('checker') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.confirm_tenant_policy(%L)', pg_temp.change_of(:'mixed')), 'SL403', '%manage\_policy%',
          'enforced: an administrator without manage_policy cannot confirm (SL403 naming manage_policy)');
SELECT tests.act_as('admin') \gset
SELECT tests.throws_code_like('SELECT scoreledger.set_tenant_policy(NULL, false)', 'SL403', '%manage\_policy%',
          'enforced: requesting a lowering without manage_policy is SL403 naming it');
SELECT scoreledger.grant_capability(tests.actor('checker'), 'manage_policy') \gset
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.confirm_tenant_policy(pg_temp.change_of(:'mixed'))->>'require_approval', 'false',
          'enforced: a holder of manage_policy other than the requester confirms');
SELECT is(pg_temp.policy(), '(f,t)', 'the policy is now (f,t)');

-- The owner's plain UPDATE of the tenant row cannot lower it.
SELECT pg_temp.last_event_id() AS ev1 \gset
SELECT pg_temp.as_owner('checker') \gset
SELECT tests.throws_code_like('UPDATE scoreledger_private.tenants SET enforce_capabilities = false', 'SL403', 'dual control%',
          'owner: UPDATE lowering enforce_capabilities is refused (SL403)');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.policy_changes
                                       (tenant_id, change_id, enforce_capabilities, status, requested_by, decided_by, decided_at, decided_in)
                                     VALUES (%L, gen_random_uuid(), false, 'confirmed', %L, %L, now(), pg_current_xact_id());
                                     UPDATE scoreledger_private.tenants SET enforce_capabilities = false$$,
                                    tests.uuid_of('tenant', 1), tests.actor('admin'), tests.actor('checker')),
          'SL423', '%requested pending%', 'owner: a change cannot be inserted already confirmed');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.policy_changes (tenant_id, change_id, enforce_capabilities, status, requested_by)
                                     VALUES (%L, gen_random_uuid(), false, 'pending', %L)$$, tests.uuid_of('tenant', 1), tests.actor('admin')),
          'SL423', '%by the acting user%', 'owner: a change cannot be requested in another user''s name');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.policy_changes (tenant_id, change_id, enforce_capabilities, status, requested_by)
                                     VALUES (%L, gen_random_uuid(), false, 'pending', %L);
                                     UPDATE scoreledger_private.policy_changes SET status = 'confirmed', decided_by = %L,
                                       decided_at = now(), decided_in = pg_current_xact_id() WHERE status = 'pending'$$,
                                    tests.uuid_of('tenant', 1), tests.actor('checker'), tests.actor('checker')),
          'SL403', 'dual control%', 'owner: the requester cannot confirm their own change by UPDATE');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.policy_changes (tenant_id, change_id, require_approval, status, requested_by)
                                     VALUES (%L, gen_random_uuid(), false, 'pending', %L);
                                     SELECT set_config('scoreledger.actor_id', %L, true);
                                     UPDATE scoreledger_private.policy_changes SET status = 'confirmed', decided_by = %L,
                                       decided_at = now(), decided_in = pg_current_xact_id() WHERE status = 'pending';
                                     UPDATE scoreledger_private.tenants SET enforce_capabilities = false$$,
                                    tests.uuid_of('tenant', 1), tests.actor('checker'), tests.actor('admin'), tests.actor('admin')),
          'SL403', 'dual control%', 'owner: a confirmed lowering of require_approval does not let enforce_capabilities be lowered');
SELECT tests.throws_code_like('DELETE FROM scoreledger_private.policy_changes', 'SL423', '%', 'owner: policy changes are never deleted');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.policy_changes SET require_approval = NULL WHERE change_id = %L$$,
                                    pg_temp.change_of(:'req1')),
          'SL423', '%decided once%', 'owner: a decided change is history');
SELECT pg_temp.as_owner(NULL) \gset
SELECT tests.throws_code_like('UPDATE scoreledger_private.tenants SET require_approval = true', 'SL401', '%no actor%',
          'owner: a policy change with no actor to record is refused (SL401)');
SELECT pg_temp.as_owner('checker') \gset
UPDATE scoreledger_private.tenants SET require_approval = true;
SELECT tests.act_as('checker') \gset
SELECT is(pg_temp.events_since(:ev1), 'policy by checker', 'owner: a raise by UPDATE goes through and writes its event');
SELECT is(pg_temp.policy(), '(t,t)', '... the refused lowerings changed nothing');

-- =====================================================================
-- 7. Grants and revokes by plain DML write their events (or are refused)
-- =====================================================================
SELECT pg_temp.last_event_id() AS ev2 \gset
SELECT pg_temp.as_owner('checker') \gset
INSERT INTO scoreledger_private.capability_grants (tenant_id, user_id, capability, granted_by)
VALUES (tests.uuid_of('tenant', 1), tests.actor('dave'), 'apply_batch', tests.actor('checker')),
       (tests.uuid_of('tenant', 1), tests.actor('dave'), 'revert_batch', tests.actor('checker'));
DELETE FROM scoreledger_private.capability_grants WHERE user_id = tests.actor('dave') AND capability = 'revert_batch';
SELECT tests.act_as('checker') \gset
SELECT is(pg_temp.events_since(:ev2), 'grant apply_batch by checker; grant revert_batch by checker; revoke revert_batch by checker',
          'owner: INSERT and DELETE of grants write grant and revoke events');
SELECT pg_temp.as_owner('checker') \gset
SELECT tests.throws_code_like($$UPDATE scoreledger_private.capability_grants SET capability = 'manage_policy' WHERE capability = 'apply_batch'$$,
          'SL423', '%', 'owner: a grant is never edited (SL423)');
SELECT tests.throws_code_like('TRUNCATE scoreledger_private.capability_grants CASCADE', 'SL423', '%', 'owner: grants are never truncated');
SELECT pg_temp.as_owner(NULL) \gset
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.capability_grants (tenant_id, user_id, capability, granted_by)
                                     VALUES (%L, %L, 'approve_batch', %L)$$, tests.uuid_of('tenant', 1), tests.actor('mallory'), tests.actor('mallory')),
          'SL401', '%no actor%', 'owner: a grant with no actor to record is refused');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.capability_grants WHERE user_id = %L$$, tests.actor('dave')),
          'SL401', '%no actor%', 'owner: so is a revoke');
SELECT tests.act_as('checker') \gset
SELECT is((SELECT string_agg(capability, ',') FROM scoreledger.capabilities WHERE user_id = tests.actor('dave')), 'apply_batch',
          'the refused grant and revoke changed nothing');

-- Back to a policy without capabilities for the workflow tests below.
SELECT tests.act_as('checker') \gset
SELECT scoreledger.grant_capability(tests.actor('admin'), 'manage_policy') \gset
SELECT scoreledger.set_tenant_policy(false, false) AS off \gset
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.confirm_tenant_policy(pg_temp.change_of(:'off')) - 'confirmed_change_id',
          '{"require_approval": false, "enforce_capabilities": false}'::jsonb, 'both off, requested by one and confirmed by another');

-- =====================================================================
-- 6. Nobody who changed the corrections approves them
-- =====================================================================
SELECT tests.act_as('carol') \gset
SELECT scoreledger.create_correction_batch('co-edited', jsonb_build_array(tests.drop_item(1, 1))) AS co \gset
SELECT tests.act_as('mallory') \gset
SELECT scoreledger.update_correction_batch(:'co', NULL, jsonb_build_array(tests.replace_key(1, 1, '{A}'))) \gset
SELECT tests.act_as('carol') \gset
SELECT scoreledger.update_correction_batch(:'co', 'reworded by carol', NULL) \gset
SELECT scoreledger.submit_correction_batch(:'co') \gset
SELECT tests.act_as('mallory') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'fine by me')$$, :'co'), 'SL403', 'dual control%',
          'Mallory edited the corrections, Carol edited last: Mallory still cannot approve (SL403)');
SELECT pg_temp.as_owner('mallory') \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'co'),
          'SL403', 'dual control%', 'owner: nor by a direct UPDATE of the status (the row''s trigger)');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET payload_editors = '{}' WHERE batch_id = %L$$, :'co'),
          'SL423', '%payload editors%', 'owner: the payload editors cannot be rewritten');
SELECT tests.act_as('dave') \gset
SELECT is(scoreledger.approve_correction_batch(:'co', 'checked')->>'status', 'approved', 'someone who never touched it approves');

-- The owner's plain INSERT of a correction also makes its author an editor.
SELECT tests.act_as('carol') \gset
SELECT scoreledger.create_correction_batch('owner-edited', jsonb_build_array(tests.drop_item(1, 1))) AS oe \gset
SELECT pg_temp.as_owner('mallory') \gset
INSERT INTO scoreledger_private.corrections (tenant_id, batch_id, ordinal, correction_type, evaluation_version_id, question_version_id)
VALUES (tests.uuid_of('tenant', 1), :'oe', 1, 'drop_item', tests.ev(1), tests.qv(1, 2));
SELECT tests.act_as('carol') \gset
SELECT scoreledger.submit_correction_batch(:'oe') \gset
SELECT tests.act_as('mallory') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'mine too')$$, :'oe'), 'SL403', 'dual control%',
          'a correction added by plain INSERT makes its author a payload editor: no approval by them');
SELECT pg_temp.as_owner(NULL) \gset
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.corrections WHERE batch_id = %L AND ordinal = 1$$, :'oe'),
          'SL401', '%no actor%', 'owner: corrections are not changed anonymously');

-- =====================================================================
-- 7. A batch is inserted only as a draft; corrections only while editable
-- =====================================================================
SELECT tests.act_as('carol') \gset
SELECT scoreledger.create_correction_batch('to apply', jsonb_build_array(tests.drop_item(1, 3))) AS applied \gset
SELECT scoreledger.apply_correction_batch(:'applied') \gset
SELECT tests.scores(ARRAY[1, 2]) AS scores_applied \gset
SELECT pg_temp.as_owner('mallory') \gset
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.correction_batches (tenant_id, batch_id, status, reason, payload, created_by)
                                     VALUES (%L, gen_random_uuid(), 'approved', 'pre-approved', '[]', %L)$$,
                                    tests.uuid_of('tenant', 1), tests.actor('mallory')),
          'SL423', '%inserted as a draft%', 'owner: a batch cannot be inserted approved');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.correction_batches
                                       (tenant_id, batch_id, status, reason, payload, created_by, applied_at, applied_by, applied_seq)
                                     VALUES (%L, gen_random_uuid(), 'applied', 'pre-applied', '[]', %L, now(), %L, -1)$$,
                                    tests.uuid_of('tenant', 1), tests.actor('mallory'), tests.actor('mallory')),
          'SL423', '%inserted as a draft%', 'owner: nor applied');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.correction_batches (tenant_id, batch_id, status, reason, payload, created_by)
                                     VALUES (%L, gen_random_uuid(), 'draft', 'in carol''s name', '[]', %L)$$,
                                    tests.uuid_of('tenant', 1), tests.actor('carol')),
          'SL403', '%creator must be the acting user%', 'owner: nor in another user''s name');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.corrections
                                       (tenant_id, batch_id, ordinal, correction_type, evaluation_version_id, question_version_id)
                                     VALUES (%L, %L, 7, 'drop_item', %L, %L)$$,
                                    tests.uuid_of('tenant', 1), :'applied', tests.ev(1), tests.qv(1, 1)),
          'SL423', '%applied batch%immutable', 'owner: a correction cannot be added to an applied batch (SL423)');
SELECT tests.act_as('carol') \gset
SELECT scoreledger.create_correction_batch('scoped', jsonb_build_array(tests.mark_correct(1, 1, ARRAY[1]))) AS scoped \gset
SELECT scoreledger.apply_correction_batch(:'scoped') \gset
SELECT pg_temp.as_owner('mallory') \gset
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.correction_submissions (tenant_id, batch_id, ordinal, submission_id)
                                     VALUES (%L, %L, 0, %L)$$, tests.uuid_of('tenant', 1), :'scoped', tests.sub(2)),
          'SL423', '%applied batch%immutable', 'owner: a submission cannot be added to an applied scoped mark_correct');
SELECT tests.act_as('carol') \gset
SELECT is(tests.scores(ARRAY[1, 2]), :'scores_applied', 'nothing changed any score');

-- Revert goes through the machine: a draft compensating batch, then `compensate`.
SELECT scoreledger.revert_correction_batch(:'applied', 'undo it') AS comp \gset
SELECT is(format('%s %s %s', pg_temp.status(:'applied'), pg_temp.status(:'comp'),
                 (SELECT reverts_batch_id FROM scoreledger.correction_batches WHERE id = :'comp') = :'applied'::uuid)::text,
          'reverted applied t', 'revert: the original is reverted, the compensating batch applied and linked');
SELECT is(scoreledger.get_correction_batch(:'comp')->'apply_result'->>'submissions_rescored', '2', 'revert keeps its result (2 rescored)');
SELECT tests.throws_code_like(format('SELECT scoreledger.submit_correction_batch(%L)', :'comp'), 'SL409', '%',
          'a compensating batch is never submitted');
SELECT pg_temp.as_owner('mallory') \gset
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.correction_batches
                                       (tenant_id, batch_id, status, reason, payload, created_by, reverts_batch_id)
                                     VALUES (%L, %L, 'draft', 'fake revert', '[]', %L, %L);
                                     UPDATE scoreledger_private.correction_batches
                                        SET status = 'applied', applied_at = now(), applied_by = %L, applied_seq = -2
                                      WHERE batch_id = %L$$,
                                    tests.uuid_of('tenant', 1), tests.uuid_of('fake', 1), tests.actor('mallory'), :'scoped',
                                    tests.actor('mallory'), tests.uuid_of('fake', 1)),
          'SL409', '%applied only by revert\_correction\_batch%', 'owner: a compensating draft is applied only as its original''s revert');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'reverted', reverted_by_batch_id = %L
                                      WHERE batch_id = %L$$, :'co', :'scoped'),
          'SL423', '%only by its own compensating batch%', 'owner: a batch is reverted only by its own compensating batch');
-- =====================================================================
-- 11. Bounds on governance texts
-- =====================================================================
SELECT tests.clear_context() \gset
SELECT is((SELECT string_agg(name || '=' || max_value, ' ' ORDER BY name) FROM scoreledger.input_limits
           WHERE name IN ('name_chars', 'reason_chars')),
          'name_chars=200 reason_chars=2000', 'the bounds come from the one list (scoreledger.input_limits)');
SELECT tests.throws_code_like(format('SELECT scoreledger.create_tenant(%L)', repeat('n', 8192)), 'SL422', 'name: must be at most 200 characters%',
          'an 8 kB tenant name is SL422 naming the field (not 54000)');
SELECT isnt(scoreledger.create_tenant(repeat('n', 200)), NULL, 'a 200-character name is accepted');
SELECT tests.act_as('carol') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.create_correction_batch(%L, %L)', repeat('r', 2 * 1024 * 1024),
                                     jsonb_build_array(tests.drop_item(1, 1))),
          'SL422', 'reason: must be at most 2000 characters (got 2097152)', 'a 2 MB batch reason is SL422');
SELECT tests.throws_code_like(format('SELECT scoreledger.create_correction_batch(%L, %L)', repeat('r', 2001),
                                     jsonb_build_array(tests.drop_item(1, 1))),
          'SL422', 'reason: must be at most 2000%', 'one character over is SL422 too');
SELECT scoreledger.create_correction_batch(repeat('r', 2000), jsonb_build_array(tests.drop_item(1, 1))) AS long_ok \gset
SELECT is(pg_temp.status(:'long_ok'), 'draft', 'a 2000-character reason is accepted');
SELECT tests.throws_code_like(format('SELECT scoreledger.update_correction_batch(%L, %L, NULL)', :'long_ok', repeat('r', 2001)),
          'SL422', 'reason: must be at most 2000%', 'editing the reason beyond the bound is SL422');
SELECT scoreledger.submit_correction_batch(:'long_ok') \gset
SELECT tests.act_as('dave') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.approve_correction_batch(%L, %L)', :'long_ok', repeat('x', 2001)),
          'SL422', 'note: must be at most 2000%', 'an approval note beyond the bound is SL422');
SELECT tests.throws_code_like(format('SELECT scoreledger.reject_correction_batch(%L, %L)', :'long_ok', repeat('x', 2001)),
          'SL422', 'note: must be at most 2000%', 'a rejection note beyond the bound is SL422');
SELECT tests.throws_code_like(format('SELECT scoreledger.revert_correction_batch(%L, %L)', :'scoped', repeat('x', 2001)),
          'SL422', 'reason: must be at most 2000%', 'a revert reason beyond the bound is SL422');
SELECT is(pg_temp.status(:'long_ok') || ' ' || pg_temp.status(:'scoped'), 'pending_review applied', 'the refused calls changed nothing');

SELECT tests.clear_context() \gset
SELECT is((SELECT string_agg(invariant || ': ' || breaches, ', ') FROM scoreledger.check_invariants() WHERE breaches > 0), NULL,
          'check_invariants finds no breach');

SELECT * FROM finish();
ROLLBACK;
