-- Governance (contract section 7, issue 6): the per-tenant policy (both
-- settings off by default, so Phases 1-3 behave as before); the workflow
-- draft -> pending_review -> approved -> applied -> reverted, with rejected
-- and discarded; every allowed transition writes one event (from, to,
-- actor, note) and every refused one is SL409 and writes nothing; with
-- require_approval apply needs an approved batch, and an edit voids an
-- approval; dual control (the approver is neither the creator nor the last
-- editor: SL403), enforced on the row itself, for the table owner too;
-- capabilities (create_batch, approve_batch, apply_batch, revert_batch)
-- checked only when enforce_capabilities is on; once enforced, grants,
-- revokes and policy changes need approve_batch and nobody changes their own
-- capabilities (SL403), and enforcing needs an approve_batch holder (SL409);
-- grants, revokes and policy changes audited in the append-only
-- governance_events; both event tables
-- append-only for the owner (SL423); tenant isolation of the new tables.
--
-- Actors (tests.uuid_of(name, 1)): maker creates and edits, checker and
-- checker2 approve or reject, applier applies and reverts, editor edits a
-- batch someone else made, admin sets the policy and grants, stranger holds
-- nothing.
BEGIN;
SELECT plan(237);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql,
-- the named actors tests.actor and tests.act_as in setup/governance.sql.)
-- 'SQLSTATE: message' of the statement, whose effects are never kept (not
-- even when it succeeds: 'P0001: no error (effects rolled back)').
CREATE FUNCTION pg_temp.try(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RAISE EXCEPTION 'no error (effects rolled back)';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- A corrections document of one entry on item n of evaluation 1.
CREATE FUNCTION pg_temp.drop_item(n int) RETURNS jsonb LANGUAGE sql AS $$ SELECT jsonb_build_array(tests.drop_item(1, n)) $$;
CREATE FUNCTION pg_temp.replace_key(n int, correct text[]) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_array(tests.replace_key(1, n, correct))
$$;
-- A new draft made by the maker (drop item n of evaluation 1).
CREATE FUNCTION pg_temp.draft(reason text, n int DEFAULT 1) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as('maker');
  RETURN scoreledger.create_correction_batch(reason, pg_temp.drop_item(n));
END $$;
-- The last event of a batch, without its time, plus the batch's status now.
CREATE FUNCTION pg_temp.last_event(batch uuid) RETURNS jsonb LANGUAGE sql AS $$
  SELECT (d->'events'->-1) - 'at' || jsonb_build_object('status', d->'status')
  FROM scoreledger.get_correction_batch(batch) d
$$;
CREATE FUNCTION pg_temp.event(from_status text, to_status text, who text, note text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('from', from_status, 'to', to_status, 'actor', tests.actor(who), 'note', note,
                            'status', to_status)
$$;
-- The timeline of a batch: 'from>to' of every event, in order.
CREATE FUNCTION pg_temp.timeline(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(coalesce(e->>'from', 'new') || '>' || (e->>'to'), ' ' ORDER BY n)
  FROM jsonb_array_elements(scoreledger.get_correction_batch(batch)->'events') WITH ORDINALITY x(e, n)
$$;
CREATE FUNCTION pg_temp.status(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT status FROM scoreledger.correction_batches WHERE id = batch
$$;
-- Every batch event of the current tenant (through the API).
CREATE FUNCTION pg_temp.all_events() RETURNS bigint LANGUAGE sql AS $$
  SELECT coalesce(sum(jsonb_array_length(scoreledger.get_correction_batch(b.id)->'events')), 0)::bigint
  FROM scoreledger.correction_batches b
$$;
-- Runs one workflow action on a batch as `who` (by default the natural
-- actor: checker approves and rejects, applier applies and reverts, maker
-- does the rest); raises what the action raises.
CREATE FUNCTION pg_temp.acted(action text, batch uuid, who text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as(coalesce(who, CASE WHEN action IN ('approve', 'reject') THEN 'checker'
                                         WHEN action IN ('apply', 'revert') THEN 'applier' ELSE 'maker' END));
  CASE action
    WHEN 'submit' THEN PERFORM scoreledger.submit_correction_batch(batch);
    WHEN 'approve' THEN PERFORM scoreledger.approve_correction_batch(batch, 'looks right');
    WHEN 'reject' THEN PERFORM scoreledger.reject_correction_batch(batch, 'not convinced');
    WHEN 'discard' THEN PERFORM scoreledger.discard_correction_batch(batch);
    WHEN 'edit' THEN PERFORM scoreledger.update_correction_batch(batch, 'edited reason', NULL);
    WHEN 'apply' THEN PERFORM scoreledger.apply_correction_batch(batch);
    WHEN 'revert' THEN PERFORM scoreledger.revert_correction_batch(batch, 'undo it');
    WHEN 'create' THEN PERFORM scoreledger.create_correction_batch('made by ' || coalesce(who, 'maker'), pg_temp.drop_item(2));
  END CASE;
END $$;
-- The same, returning 'ok' or the SQLSTATE (and staying in the actor's role).
CREATE FUNCTION pg_temp.act(action text, batch uuid, who text DEFAULT NULL) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as(coalesce(who, CASE WHEN action IN ('approve', 'reject') THEN 'checker'
                                         WHEN action IN ('apply', 'revert') THEN 'applier' ELSE 'maker' END));
  BEGIN
    PERFORM pg_temp.acted(action, batch, who);
  EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
  END;
  RETURN 'ok';
END $$;
-- The statement running the action, for tests.throws_code_like.
CREATE FUNCTION pg_temp.action(action text, batch uuid, who text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT pg_temp.acted(%L, %L::uuid, %L)', action, batch, who)
$$;
-- Runs an action that must be refused and raises its error as it came, or
-- a plain error (P0001) if it succeeded or anything changed anyway (the
-- batch document, or any batch's events).
CREATE FUNCTION pg_temp.refuse(action text, batch uuid, who text DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  before_doc jsonb;
  before_events bigint;
  code text;
  message text;
BEGIN
  PERFORM tests.act_as('maker');
  before_doc := scoreledger.get_correction_batch(batch);
  before_events := pg_temp.all_events();
  BEGIN
    PERFORM pg_temp.acted(action, batch, who);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
  END;
  PERFORM tests.act_as('maker');
  IF code IS NULL THEN
    RAISE EXCEPTION '% was not refused', action;
  ELSIF scoreledger.get_correction_batch(batch) IS DISTINCT FROM before_doc THEN
    RAISE EXCEPTION '% was refused (%) but the batch changed', action, code;
  ELSIF pg_temp.all_events() <> before_events THEN
    RAISE EXCEPTION '% was refused (%) but an event was written', action, code;
  END IF;
  RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END $$;
-- The statement of a refusal, for tests.throws_code_like.
CREATE FUNCTION pg_temp.refusal(action text, batch uuid, who text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT pg_temp.refuse(%L, %L::uuid, %L)', action, batch, who)
$$;
-- Governance events of the current tenant as 'kind user capability by actor'
-- with actor names, oldest first.
CREATE FUNCTION pg_temp.governance_log() RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(format('%s %s %s by %s', e.kind,
                                    coalesce((SELECT n FROM unnest(ARRAY['maker', 'checker', 'checker2', 'applier', 'editor', 'admin', 'stranger']) n
                                              WHERE tests.actor(n) = e.user_id), e.user_id::text, '-'),
                                    coalesce(e.capability, '-'),
                                    coalesce((SELECT n FROM unnest(ARRAY['maker', 'checker', 'checker2', 'applier', 'editor', 'admin', 'stranger']) n
                                              WHERE tests.actor(n) = e.actor_id), e.actor_id::text)),
                             '; ' ORDER BY e.event_id), '')
  FROM scoreledger.governance_events e
$$;
-- As the table owner (RLS forced) in tenant 1 with the given actor (or none).
CREATE FUNCTION pg_temp.as_owner(who text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as_owner(tests.uuid_of('tenant', 1));
  PERFORM set_config('scoreledger.actor_id', coalesce(tests.actor(who)::text, ''), true);
END $$;

-- ---------------------------------------------------------------------
-- Fixture: tenant 1 with evaluation 1 and two submissions; tenant 2 with
-- its own evaluation and one capability grant.
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('governance tenant 1', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('governance tenant 2', tests.uuid_of('tenant', 2)) \gset
SELECT tests.act_as('admin', 2) \gset
SELECT tests.make_evaluation(1) \gset
SELECT scoreledger.grant_capability(tests.actor('stranger'), 'create_batch') \gset
SELECT scoreledger.create_correction_batch('tenant 2 batch', pg_temp.drop_item(1)) AS t2_batch \gset
SELECT scoreledger.submit_correction_batch(:'t2_batch') \gset
SELECT tests.act_as('maker') \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 1) \gset
SELECT tests.submit(1, 2, '{A}', '{A}', '{A}', 2) \gset

-- =====================================================================
-- 1. Policy defaults: both off; Phases 1-3 behave as before
-- =====================================================================
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)),
          '(f,f)', 'a new tenant has require_approval and enforce_capabilities off');
SELECT is((SELECT count(*) FROM scoreledger.capabilities), 0::bigint, 'a new tenant has no capability grants');
SELECT tests.act_as('stranger') \gset
SELECT scoreledger.create_correction_batch('phase 1 style', pg_temp.drop_item(3)) AS classic \gset
SELECT is(pg_temp.status(:'classic'), 'draft', 'without any grant, a user creates a draft (policy off)');
SELECT is(scoreledger.apply_correction_batch(:'classic')->>'status', 'applied',
          'a draft is applied directly, with no review and no grant (policy off)');
SELECT is(pg_temp.timeline(:'classic'), 'new>draft draft>applied', 'its events: new -> draft -> applied');
SELECT ok((scoreledger.get_correction_batch(:'classic')->'events'->0) ?& ARRAY['from', 'to', 'actor', 'at', 'note']
          AND (scoreledger.get_correction_batch(:'classic')->'events'->1->>'actor')::uuid = tests.actor('stranger'),
          'get_correction_batch returns events with from, to, actor, at and note');
SELECT isnt(scoreledger.revert_correction_batch(:'classic', 'phase 3 style'), NULL,
            'an applied batch is reverted with no grant (policy off)');
SELECT is(pg_temp.status(:'classic'), 'reverted', 'and is then reverted');

-- =====================================================================
-- 2. Every allowed transition succeeds and records one event
-- =====================================================================
-- Batch A: new -> draft -> (edit) draft -> pending_review -> approved -> applied -> reverted
SELECT pg_temp.draft('batch A') AS a \gset
SELECT is(pg_temp.last_event(:'a'), pg_temp.event(NULL, 'draft', 'maker'), 'create: new -> draft, by the maker');
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.update_correction_batch(:'a', 'batch A, reworded', NULL),
          jsonb_build_object('batch_id', :'a'::uuid, 'status', 'draft', 'previous_status', 'draft'),
          'update_correction_batch of a draft returns draft -> draft');
SELECT is(pg_temp.last_event(:'a'), pg_temp.event('draft', 'draft', 'maker', 'edited'), 'edit of a draft: event draft -> draft, note edited');
SELECT is(scoreledger.submit_correction_batch(:'a'),
          jsonb_build_object('batch_id', :'a'::uuid, 'status', 'pending_review', 'previous_status', 'draft'),
          'submit returns draft -> pending_review');
SELECT is(pg_temp.last_event(:'a'), pg_temp.event('draft', 'pending_review', 'maker'), 'submit: event draft -> pending_review by the maker');
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.approve_correction_batch(:'a', '  checked against the item bank  ')->>'status', 'approved',
          'approve by someone else returns approved');
SELECT is(pg_temp.last_event(:'a'), pg_temp.event('pending_review', 'approved', 'checker', 'checked against the item bank'),
          'approve: event pending_review -> approved by the checker, with the (trimmed) note');
SELECT tests.act_as('applier') \gset
SELECT is(scoreledger.apply_correction_batch(:'a')->>'status', 'applied', 'an approved batch is applied');
SELECT is(pg_temp.last_event(:'a') - 'note', pg_temp.event('approved', 'applied', 'applier') - 'note',
          'apply: event approved -> applied by the applier');
SELECT matches(pg_temp.last_event(:'a')->>'note', '^2 submissions rescored, \d+ scores changed$', 'the apply event''s note gives the counts');
SELECT is((scoreledger.get_correction_batch(:'a')->>'applied_by')::uuid, tests.actor('applier'), 'applied_by is the applier');
SELECT scoreledger.revert_correction_batch(:'a', 'board said no') AS a_comp \gset
SELECT is(pg_temp.last_event(:'a') - 'note', pg_temp.event('applied', 'reverted', 'applier') - 'note',
          'revert: event applied -> reverted by the applier');
SELECT matches(pg_temp.last_event(:'a')->>'note', 'board said no', 'the revert event''s note carries the reason');
SELECT is(pg_temp.timeline(:'a'), 'new>draft draft>draft draft>pending_review pending_review>approved approved>applied applied>reverted',
          'batch A''s timeline has one event per step');

-- Batch B: pending_review -> rejected -> (edit) draft -> pending_review -> discarded
SELECT pg_temp.draft('batch B') AS b \gset
SELECT is(pg_temp.act('submit', :'b'), 'ok', 'batch B submitted');
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.reject_correction_batch(:'b', ' wrong item ')->>'status', 'rejected', 'reject returns rejected');
SELECT is(pg_temp.last_event(:'b'), pg_temp.event('pending_review', 'rejected', 'checker', 'wrong item'),
          'reject: event pending_review -> rejected by the checker, with the note');
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.update_correction_batch(:'b', NULL, pg_temp.drop_item(2)),
          jsonb_build_object('batch_id', :'b'::uuid, 'status', 'draft', 'previous_status', 'rejected'),
          'editing a rejected batch returns rejected -> draft');
SELECT is(pg_temp.last_event(:'b'), pg_temp.event('rejected', 'draft', 'maker', 'edited'), 'edit: event rejected -> draft, note edited');
SELECT is(scoreledger.get_correction_batch(:'b')->'corrections', pg_temp.drop_item(2), 'the edit replaced the corrections');
SELECT is(pg_temp.act('submit', :'b'), 'ok', 'the edited batch is submitted again');
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.discard_correction_batch(:'b')->>'status', 'discarded', 'a batch under review is discarded');
SELECT is(pg_temp.last_event(:'b'), pg_temp.event('pending_review', 'discarded', 'maker'), 'discard: event pending_review -> discarded');

-- Batch C: pending_review -> approved -> (edit) draft -> discarded
SELECT pg_temp.draft('batch C') AS c \gset
SELECT pg_temp.act('submit', :'c') || pg_temp.act('approve', :'c') AS ignored \gset
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.update_correction_batch(:'c', 'batch C after review', NULL)->>'previous_status', 'approved',
          'editing an approved batch returns previous_status approved');
SELECT is(pg_temp.last_event(:'c'), pg_temp.event('approved', 'draft', 'maker', 'edited'), 'edit: event approved -> draft');
SELECT is(scoreledger.discard_correction_batch(:'c')->>'previous_status', 'draft', 'a draft is discarded');
SELECT is(pg_temp.last_event(:'c'), pg_temp.event('draft', 'discarded', 'maker'), 'discard: event draft -> discarded');

-- Batch D: pending_review -> (edit) draft; approved -> discarded
SELECT pg_temp.draft('batch D') AS d \gset
SELECT is(pg_temp.act('submit', :'d'), 'ok', 'batch D submitted');
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.update_correction_batch(:'d', 'batch D reworded', NULL)->>'status', 'draft',
          'editing a batch under review sends it back to draft');
SELECT is(pg_temp.last_event(:'d'), pg_temp.event('pending_review', 'draft', 'maker', 'edited'), 'edit: event pending_review -> draft');
SELECT is(pg_temp.act('submit', :'d') || pg_temp.act('approve', :'d') || pg_temp.act('discard', :'d'), 'okokok',
          'batch D submitted, approved and discarded');
SELECT is(pg_temp.last_event(:'d'), pg_temp.event('approved', 'discarded', 'maker'), 'discard: event approved -> discarded');

-- Batch E: pending_review -> rejected -> discarded
SELECT pg_temp.draft('batch E') AS e \gset
SELECT is(pg_temp.act('submit', :'e') || pg_temp.act('reject', :'e') || pg_temp.act('discard', :'e'), 'okokok',
          'batch E submitted, rejected and discarded');
SELECT is(pg_temp.last_event(:'e'), pg_temp.event('rejected', 'discarded', 'maker'), 'discard: event rejected -> discarded');
SELECT is(pg_temp.timeline(:'e'), 'new>draft draft>pending_review pending_review>rejected rejected>discarded', 'batch E''s timeline');

-- Reject needs a note.
SELECT pg_temp.draft('batch F') AS f \gset
SELECT is(pg_temp.act('submit', :'f'), 'ok', 'batch F submitted');
SELECT tests.act_as('checker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.reject_correction_batch(%L, '  ')$$, :'f'), 'SL422', '%',
               'rejecting with a blank note is SL422');
SELECT tests.throws_code_like(format($$SELECT scoreledger.reject_correction_batch(%L, NULL)$$, :'f'), 'SL422', '%',
               'rejecting without a note is SL422');
SELECT is(pg_temp.status(:'f'), 'pending_review', 'and the batch is still under review');

-- =====================================================================
-- 3. Every refused transition is SL409 and writes nothing
-- =====================================================================
SELECT pg_temp.draft('state draft') AS s_draft \gset
SELECT pg_temp.draft('state pending') AS s_pending \gset
SELECT pg_temp.act('submit', :'s_pending') AS ignored \gset
SELECT pg_temp.draft('state approved') AS s_approved \gset
SELECT pg_temp.act('submit', :'s_approved') || pg_temp.act('approve', :'s_approved') AS ignored \gset
SELECT pg_temp.draft('state rejected') AS s_rejected \gset
SELECT pg_temp.act('submit', :'s_rejected') || pg_temp.act('reject', :'s_rejected') AS ignored \gset
SELECT pg_temp.draft('state applied', 2) AS s_applied \gset
SELECT pg_temp.act('apply', :'s_applied') AS ignored \gset
SELECT pg_temp.draft('state reverted', 3) AS s_reverted \gset
SELECT pg_temp.act('apply', :'s_reverted') || pg_temp.act('revert', :'s_reverted') AS ignored \gset
SELECT pg_temp.draft('state discarded') AS s_discarded \gset
SELECT pg_temp.act('discard', :'s_discarded') AS ignored \gset
SELECT tests.act_as('maker') \gset
SELECT is((SELECT string_agg(pg_temp.status(id), ',' ORDER BY n)
           FROM unnest(ARRAY[:'s_draft', :'s_pending', :'s_approved', :'s_rejected', :'s_applied', :'s_reverted', :'s_discarded']::uuid[])
                WITH ORDINALITY x(id, n)),
          'draft,pending_review,approved,rejected,applied,reverted,discarded', 'one batch in each of the seven statuses');

CREATE TEMP TABLE states (state text, batch uuid);
INSERT INTO states VALUES ('draft', :'s_draft'), ('pending_review', :'s_pending'), ('approved', :'s_approved'),
  ('rejected', :'s_rejected'), ('applied', :'s_applied'), ('reverted', :'s_reverted'), ('discarded', :'s_discarded');
GRANT SELECT ON states TO PUBLIC;

SELECT tests.throws_code_like(pg_temp.refusal(r.action, s.batch), 'SL409', '%', format('%s of a %s batch is SL409 and writes nothing', r.action, r.state))
FROM (SELECT v.*, row_number() OVER () AS n FROM (VALUES ('submit', 'pending_review'), ('submit', 'approved'), ('submit', 'rejected'), ('submit', 'applied'),
             ('submit', 'reverted'), ('submit', 'discarded'),
             ('approve', 'draft'), ('approve', 'approved'), ('approve', 'rejected'), ('approve', 'applied'),
             ('approve', 'reverted'), ('approve', 'discarded'),
             ('reject', 'draft'), ('reject', 'approved'), ('reject', 'rejected'), ('reject', 'applied'),
             ('reject', 'reverted'), ('reject', 'discarded'),
             ('discard', 'applied'), ('discard', 'reverted'), ('discard', 'discarded'),
             ('edit', 'applied'), ('edit', 'reverted'), ('edit', 'discarded'),
             ('apply', 'pending_review'), ('apply', 'rejected'), ('apply', 'discarded'), ('apply', 'reverted'),
             ('revert', 'draft'), ('revert', 'pending_review'), ('revert', 'approved'), ('revert', 'rejected'),
             ('revert', 'discarded'), ('revert', 'reverted')) v(action, state)) r
JOIN states s ON s.state = r.state
ORDER BY r.n;

SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(pg_temp.refusal('discard', :'a_comp'), 'SL409', '%', 'a compensating (applied) batch cannot be discarded');
SELECT tests.act_as('checker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'x')$$, :'s_draft'),
               'SL409', '%draft%', 'the SL409 message names the state (approve a draft)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'x')$$, tests.uuid_of('nowhere', 1)),
               'SL404', '%', 'approving an unknown batch is SL404');
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'x')$$, :'t2_batch'),
               'SL404', '%', 'approving another tenant''s batch is SL404');
SELECT tests.throws_code_like(format($$SELECT scoreledger.submit_correction_batch(%L)$$, :'t2_batch'),
               'SL404', '%', 'submitting another tenant''s batch is SL404');

-- =====================================================================
-- 4. require_approval: apply needs an approved batch; an edit voids it
-- =====================================================================
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.set_tenant_policy(true, NULL), '{"require_approval": true, "enforce_capabilities": false}'::jsonb,
          'set_tenant_policy(true, null) turns require_approval on and keeps enforce_capabilities');
SELECT pg_temp.draft('needs review', 2) AS r1 \gset
SELECT tests.act_as('applier') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'r1'), 'SL409', '%requires approval%',
               'with require_approval, applying a draft is SL409 (says approval is required)');
SELECT tests.throws_code_like(pg_temp.refusal('apply', :'r1'), 'SL409', '%', 'and writes nothing');
SELECT is(pg_temp.act('submit', :'r1'), 'ok', 'the draft is submitted');
SELECT tests.throws_code_like(pg_temp.refusal('apply', :'r1'), 'SL409', '%', 'a batch under review still cannot be applied');
SELECT is(pg_temp.act('approve', :'r1'), 'ok', 'the checker approves it');
SELECT tests.act_as('applier') \gset
SELECT is(scoreledger.apply_correction_batch(:'r1')->>'status', 'applied', 'with require_approval, an approved batch is applied');

-- Edit after approval: back to draft, needs a new review.
SELECT pg_temp.draft('approved then edited', 3) AS r2 \gset
SELECT is(pg_temp.act('submit', :'r2') || pg_temp.act('approve', :'r2'), 'okok', 'batch submitted and approved');
SELECT tests.act_as('maker') \gset
SELECT is(scoreledger.update_correction_batch(:'r2', NULL, pg_temp.replace_key(1, '{C}'))->>'status', 'draft',
          'editing the approved batch sends it back to draft');
SELECT tests.throws_code_like(pg_temp.refusal('apply', :'r2'), 'SL409', '%', 'the edited batch is no longer approved: apply is SL409');
SELECT is(pg_temp.act('submit', :'r2'), 'ok', 'it is submitted again');
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'r2', 'maker'), 'SL403', '%', 'its creator (and last editor) still cannot approve it');
SELECT is(pg_temp.act('approve', :'r2', 'checker2'), 'ok', 'a checker approves the new content');
SELECT is(pg_temp.act('apply', :'r2'), 'ok', 'and now it is applied');
SELECT tests.act_as('maker') \gset
SELECT is(pg_temp.timeline(:'r2'),
          'new>draft draft>pending_review pending_review>approved approved>draft draft>pending_review pending_review>approved approved>applied',
          'its timeline shows the voided approval and the second review');
SELECT is(scoreledger.get_correction_batch(:'r2')->'corrections', pg_temp.replace_key(1, '{C}'), 'what was applied is the edited content');

SELECT tests.act_as('admin') \gset
SELECT scoreledger.set_tenant_policy(false, NULL) AS lowering \gset
SELECT is(:'lowering'::jsonb->>'require_approval', 'true', 'lowering require_approval is only requested: it stays on (dual control)');
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.confirm_tenant_policy((:'lowering'::jsonb->'pending_change'->>'change_id')::uuid)->>'require_approval', 'false',
          'require_approval is turned off again once another user confirms');
SELECT pg_temp.draft('no review needed again', 1) AS r3 \gset
SELECT is(pg_temp.act('apply', :'r3'), 'ok', 'and a draft is applied directly again');

-- =====================================================================
-- 5. Dual control
-- =====================================================================
SELECT pg_temp.draft('dual control') AS dc \gset
SELECT is(pg_temp.act('submit', :'dc'), 'ok', 'the maker submits');
SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'mine')$$, :'dc'), 'SL403', 'dual control%',
               'the creator cannot approve their own batch (SL403, dual control)');
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'dc', 'maker'), 'SL403', '%', 'and the refusal writes nothing');
-- The same person with a fresh context (as a second session would set it).
SELECT scoreledger.set_context(tests.uuid_of('tenant', 1), tests.actor('maker')) \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'mine')$$, :'dc'), 'SL403', '%',
               'a fresh context for the same actor is still the creator');
SELECT is(pg_temp.status(:'dc'), 'pending_review', 'the batch is still under review');

-- The last editor cannot approve; neither can the creator after someone else's edit.
SELECT pg_temp.draft('edited by someone else') AS dc2 \gset
SELECT tests.act_as('editor') \gset
SELECT is(scoreledger.update_correction_batch(:'dc2', 'editor''s wording', NULL)->>'status', 'draft', 'another user edits the draft');
SELECT is((scoreledger.get_correction_batch(:'dc2')->>'updated_by')::uuid, tests.actor('editor'), 'updated_by is the editor');
SELECT is(pg_temp.act('submit', :'dc2', 'editor'), 'ok', 'the editor submits it');
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'dc2', 'editor'), 'SL403', '%', 'the last editor cannot approve it');
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'dc2', 'maker'), 'SL403', '%', 'the creator cannot approve it either');
SELECT is(pg_temp.act('approve', :'dc2', 'checker'), 'ok', 'a third person approves it');

-- The table owner, directly on the row: dual control still holds.
SELECT pg_temp.draft('owner path') AS ow \gset
SELECT pg_temp.act('submit', :'ow') AS ignored \gset
SELECT pg_temp.draft('owner path, edited') AS ow2 \gset
SELECT tests.act_as('editor') \gset
SELECT scoreledger.update_correction_batch(:'ow2', 'edited by the editor', NULL) \gset
SELECT pg_temp.act('submit', :'ow2', 'editor') AS ignored \gset
SELECT pg_temp.as_owner('maker') \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'ow'),
               'SL403', '%', 'the owner updating status to approved with the creator as current actor is SL403');
SELECT pg_temp.as_owner('editor') \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'ow2'),
               'SL403', '%', 'the owner updating status to approved with the last editor as current actor is SL403');
SELECT pg_temp.as_owner(NULL) \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'ow'),
               'SL403', '%', 'the owner approving with no current actor is SL403');
SELECT pg_temp.as_owner('maker') \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches
                                    SET status = 'approved', created_by = %L, updated_by = %L WHERE batch_id = %L$$,
                                  tests.actor('stranger'), tests.actor('stranger'), :'ow'),
               -- Refused either by dual control (SL403) or, first, because the creator is immutable (SL423).
               ARRAY['SL403', 'SL423'], '%', 'the creator cannot launder an approval by rewriting created_by/updated_by in the same UPDATE');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET created_by = %L, updated_by = %L WHERE batch_id = %L$$,
                                  tests.actor('stranger'), tests.actor('stranger'), :'ow'),
               'SL423', '%', 'nor by rewriting created_by first, in an UPDATE of its own (the creator is immutable: SL423)');
SELECT tests.act_as('maker') \gset
SELECT is(pg_temp.status(:'ow') || ',' || pg_temp.status(:'ow2'), 'pending_review,pending_review', 'both batches are still under review');

-- Skipping states by a direct UPDATE is SL409, whoever acts.
SELECT pg_temp.as_owner('checker') \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = %L WHERE batch_id = %L$$, x.to_status, s.batch),
          'SL409', '%', format('the owner cannot move a batch from %s to %s directly (SL409)', x.from_status, x.to_status))
FROM (SELECT v.*, row_number() OVER () AS n FROM (VALUES ('draft', 'approved'), ('draft', 'rejected'), ('rejected', 'approved'), ('rejected', 'pending_review'),
             ('discarded', 'draft'), ('discarded', 'pending_review'), ('approved', 'pending_review'), ('approved', 'rejected'),
             ('pending_review', 'applied')) v(from_status, to_status)) x
JOIN states s ON s.state = x.from_status
ORDER BY x.n;
SELECT lives_ok(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'ow'),
          'the owner with a third person as current actor can move pending_review -> approved (the trigger is not a blanket ban)');
SELECT tests.act_as('maker') \gset
SELECT is((SELECT string_agg(pg_temp.status(batch), ',' ORDER BY state) FROM states),
          'applied,approved,discarded,draft,pending_review,rejected,reverted', 'no refused direct update changed a status');

-- =====================================================================
-- 6. Capabilities
-- =====================================================================
-- No lock-out: enforcing is refused until someone of this tenant holds
-- approve_batch (a grant in another tenant, or of another capability, does
-- not count).
SELECT tests.act_as('admin') \gset
SELECT (SELECT count(*) FROM scoreledger.governance_events) AS gov_before_enforce \gset
SELECT tests.throws_code_like('SELECT scoreledger.set_tenant_policy(NULL, true)', 'SL409', '%approve\_batch%',
               'enforcing while nobody holds approve_batch is SL409 naming approve_batch (no lock-out)');
SELECT tests.throws_code_like('SELECT scoreledger.set_tenant_policy(true, true)', 'SL409', '%',
               '... also when require_approval changes in the same call');
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'create_batch');
                                    SELECT scoreledger.set_tenant_policy(NULL, true)$$, tests.actor('maker')),
               'SL409', '%approve\_batch%', 'a holder of another capability is not enough to enforce');
SELECT tests.throws_code_like(format($$SELECT tests.act_as('admin', 2);
                                    SELECT scoreledger.grant_capability(%L, 'approve_batch');
                                    SELECT tests.act_as('admin');
                                    SELECT scoreledger.set_tenant_policy(NULL, true)$$, tests.actor('checker')),
               'SL409', '%approve\_batch%', 'an approve_batch holder in another tenant does not count');
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)),
          '(f,f)', 'the refused policy changes left the policy as it was');
SELECT is((SELECT count(*) FROM scoreledger.governance_events), :gov_before_enforce::bigint, '... and recorded nothing');
-- Not enforced yet: anyone with an actor administers, themselves included.
SELECT is(scoreledger.grant_capability(tests.actor('admin'), 'approve_batch'), true,
          'not enforced: the admin grants themselves approve_batch');
SELECT is(scoreledger.set_tenant_policy(NULL, true), '{"require_approval": false, "enforce_capabilities": true}'::jsonb,
          'with an approve_batch holder, enforce_capabilities is turned on');
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)),
          '(f,t)', 'the tenants view shows the policy');

-- create_batch: create, submit, edit and discard
SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.create_correction_batch('x', %L)$$, pg_temp.drop_item(1)),
               'SL403', '%create\_batch%', 'without create_batch, creating a batch is SL403 naming the capability');
SELECT tests.throws_code_like(pg_temp.refusal('submit', :'s_draft'), 'SL403', '%', 'without create_batch, submitting is SL403');
SELECT tests.throws_code_like(pg_temp.refusal('edit', :'s_draft'), 'SL403', '%', 'without create_batch, editing is SL403');
SELECT tests.throws_code_like(pg_temp.refusal('discard', :'s_draft'), 'SL403', '%', 'without create_batch, discarding is SL403');
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.grant_capability(tests.actor('maker'), 'create_batch'), true, 'grant create_batch to the maker returns true');
SELECT is(scoreledger.grant_capability(tests.actor('maker'), 'create_batch'), false, 'granting it again returns false');
SELECT is(pg_temp.act('create', NULL, 'maker'), 'ok', 'with create_batch, the maker creates a batch');
SELECT pg_temp.draft('capability batch') AS cap \gset
SELECT is(pg_temp.act('edit', :'cap'), 'ok', 'with create_batch, the maker edits');
SELECT is(pg_temp.act('submit', :'cap'), 'ok', 'with create_batch, the maker submits');
SELECT tests.throws_code_like(pg_temp.action('create', NULL, 'checker'), 'SL403', '%', 'a grant is per user: the checker still cannot create');
SELECT tests.throws_code_like(pg_temp.action('create', NULL, 'stranger'), 'SL403', '%', 'a grant is per tenant: the stranger''s grant in tenant 2 does not count here');

-- approve_batch: approve and reject
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'cap'), 'SL403', '%', 'without approve_batch, approving is SL403');
SELECT tests.throws_code_like(pg_temp.refusal('reject', :'cap'), 'SL403', '%', 'without approve_batch, rejecting is SL403');
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.grant_capability(tests.actor('checker'), 'approve_batch')
          AND scoreledger.grant_capability(tests.actor('maker'), 'approve_batch'), true,
          'approve_batch granted to the checker and to the maker');
SELECT tests.throws_code_like(pg_temp.refusal('approve', :'cap', 'maker'), 'SL403', '%', 'holding approve_batch does not let the creator approve their own batch');
SELECT is(pg_temp.act('approve', :'cap'), 'ok', 'with approve_batch, the checker approves');
SELECT pg_temp.draft('to be rejected') AS cap2 \gset
SELECT is(pg_temp.act('submit', :'cap2') || pg_temp.act('reject', :'cap2'), 'okok', 'with approve_batch, the checker rejects');

-- apply_batch
SELECT tests.throws_code_like(pg_temp.refusal('apply', :'cap'), 'SL403', '%', 'without apply_batch, applying is SL403');
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.grant_capability(tests.actor('applier'), 'apply_batch'), true, 'apply_batch granted to the applier');
SELECT is(pg_temp.act('apply', :'cap'), 'ok', 'with apply_batch, the applier applies');

-- revert_batch
SELECT tests.throws_code_like(pg_temp.refusal('revert', :'cap'), 'SL403', '%', 'without revert_batch, reverting is SL403');
SELECT tests.act_as('admin') \gset
SELECT is(scoreledger.grant_capability(tests.actor('applier'), 'revert_batch'), true, 'revert_batch granted to the applier');
SELECT is(pg_temp.act('revert', :'cap'), 'ok', 'with revert_batch, the applier reverts');

SELECT tests.act_as('admin') \gset
SELECT is((SELECT string_agg(x, ' ' ORDER BY x COLLATE "C")
           FROM (SELECT c.capability || ':' || coalesce(n.name, c.user_id::text) || ':' || (c.granted_by = tests.actor('admin'))
                        || ':' || (c.granted_at IS NOT NULL) AS x
                 FROM scoreledger.capabilities c
                 LEFT JOIN (VALUES ('maker'), ('checker'), ('applier'), ('admin')) n(name) ON tests.actor(n.name) = c.user_id) g),
          'apply_batch:applier:true:true approve_batch:admin:true:true approve_batch:checker:true:true approve_batch:maker:true:true '
          'create_batch:maker:true:true revert_batch:applier:true:true',
          'the capabilities view lists every grant with granted_by and granted_at');

-- revoke
SELECT is(scoreledger.revoke_capability(tests.actor('maker'), 'create_batch'), true, 'revoke create_batch from the maker returns true');
SELECT is(scoreledger.revoke_capability(tests.actor('maker'), 'create_batch'), false, 'revoking it again returns false');
SELECT tests.throws_code_like(pg_temp.action('create', NULL, 'maker'), 'SL403', '%', 'after the revoke, the maker cannot create');
SELECT tests.throws_code_like(pg_temp.refusal('submit', :'s_draft'), 'SL403', '%', 'nor submit');

-- Administration is governed: grants, revokes and policy changes need
-- approve_batch, and nobody changes their own capabilities.
SELECT tests.act_as('admin') \gset
SELECT (SELECT count(*) FROM scoreledger.governance_events) AS gov_before_admin \gset
SELECT (SELECT string_agg(user_id || capability, ',' ORDER BY user_id, capability) FROM scoreledger.capabilities) AS caps_before_admin \gset
SELECT tests.act_as('applier') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'create_batch')$$, tests.actor('maker')),
               'SL403', '%approve\_batch%', 'enforced: granting without approve_batch is SL403 naming approve_batch');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revoke_capability(%L, 'approve_batch')$$, tests.actor('checker')),
               'SL403', '%approve\_batch%', 'enforced: revoking without approve_batch is SL403 naming approve_batch');
SELECT tests.throws_code_like('SELECT scoreledger.set_tenant_policy(NULL, false)', 'SL403', '%approve\_batch%',
               'enforced: a non-administrator cannot switch capabilities off (SL403 naming approve_batch)');
SELECT tests.throws_code_like('SELECT scoreledger.set_tenant_policy(true, NULL)', 'SL403', '%approve\_batch%',
               'enforced: a non-administrator cannot change require_approval either');
SELECT tests.act_as('stranger') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'approve_batch')$$, tests.actor('stranger')),
               'SL403', '%approve\_batch%', 'enforced: a user holding nothing cannot grant themselves approve_batch');
SELECT tests.act_as('admin') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'apply_batch')$$, tests.actor('admin')),
               'SL403', 'dual control%', 'enforced: an administrator cannot grant themselves a capability (SL403, dual control)');
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'approve_batch')$$, tests.actor('admin')),
               'SL403', 'dual control%', '... not even one they already hold');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revoke_capability(%L, 'approve_batch')$$, tests.actor('admin')),
               'SL403', 'dual control%', 'enforced: an administrator cannot revoke their own capability (SL403, dual control)');
SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'create_batch')$$, tests.actor('maker')),
               'SL403', 'dual control%', 'enforced: the maker, holding approve_batch, cannot grant themselves create_batch back');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revoke_capability(%L, 'approve_batch')$$, tests.actor('maker')),
               'SL403', 'dual control%', '... nor revoke their own approve_batch');
SELECT tests.act_as('admin') \gset
SELECT is((SELECT count(*) FROM scoreledger.governance_events), :gov_before_admin::bigint, 'the refused administration recorded nothing');
SELECT is((SELECT string_agg(user_id || capability, ',' ORDER BY user_id, capability) FROM scoreledger.capabilities), :'caps_before_admin',
          '... and changed no grant');
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)),
          '(f,t)', '... nor the policy');
-- Another holder of approve_batch administers the admin (effects rolled back).
SELECT tests.act_as('checker') \gset
SELECT is(pg_temp.try(format($$SELECT scoreledger.grant_capability(%L, 'apply_batch');
                               SELECT scoreledger.revoke_capability(%L, 'approve_batch')$$, tests.actor('admin'), tests.actor('admin'))),
          'P0001: no error (effects rolled back)', 'enforced: another holder of approve_batch may grant to and revoke from the admin');

-- Not enforced: nobody needs a capability.
-- Switching enforcement off: requested and confirmed by two holders of manage_policy.
SELECT tests.act_as('checker') \gset
SELECT scoreledger.grant_capability(tests.actor('admin'), 'manage_policy') \gset
SELECT tests.act_as('admin') \gset
SELECT scoreledger.grant_capability(tests.actor('checker'), 'manage_policy') \gset
SELECT scoreledger.set_tenant_policy(false, false) AS unenforce \gset
SELECT is(:'unenforce'::jsonb->>'enforce_capabilities', 'true', 'switching enforcement off is only requested: it stays on');
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.confirm_tenant_policy((:'unenforce'::jsonb->'pending_change'->>'change_id')::uuid)->>'enforce_capabilities',
          'false', 'enforce_capabilities is turned off once another holder of manage_policy confirms');
SELECT tests.act_as('stranger') \gset
SELECT scoreledger.create_correction_batch('no grants needed', pg_temp.drop_item(1)) AS free \gset
SELECT is(pg_temp.status(:'free'), 'draft', 'not enforced: a user without create_batch creates');
SELECT is(pg_temp.act('submit', :'free', 'stranger'), 'ok', 'not enforced: ... and submits');
SELECT is(pg_temp.act('approve', :'free', 'editor'), 'ok', 'not enforced: a user without approve_batch approves');
SELECT is(pg_temp.act('apply', :'free', 'editor'), 'ok', 'not enforced: a user without apply_batch applies');
SELECT is(pg_temp.act('revert', :'free', 'editor'), 'ok', 'not enforced: a user without revert_batch reverts');
SELECT pg_temp.draft('reject and discard without grants') AS free2 \gset
SELECT is(pg_temp.act('submit', :'free2') || pg_temp.act('reject', :'free2', 'editor') || pg_temp.act('discard', :'free2'), 'okokok',
          'not enforced: reject (by a user without approve_batch) and discard (by one without create_batch)');
SELECT tests.act_as('maker') \gset
SELECT is(pg_temp.try(format($$SELECT scoreledger.revoke_capability(%L, 'approve_batch');
                               SELECT scoreledger.grant_capability(%L, 'apply_batch')$$, tests.actor('maker'), tests.actor('maker'))),
          'P0001: no error (effects rolled back)', 'not enforced: a user may revoke and grant their own capabilities again');

-- =====================================================================
-- 7. Grants, revokes and policy changes are audited
-- =====================================================================
SELECT tests.act_as('admin') \gset
SELECT is(pg_temp.governance_log(),
          'policy - - by admin; policy_requested - - by admin; policy_confirmed - - by checker; policy - - by checker; '
          'grant admin approve_batch by admin; policy - - by admin; grant maker create_batch by admin; '
          'grant checker approve_batch by admin; grant maker approve_batch by admin; grant applier apply_batch by admin; '
          'grant applier revert_batch by admin; revoke maker create_batch by admin; '
          'grant admin manage_policy by checker; grant checker manage_policy by admin; '
          'policy_requested - - by admin; policy_confirmed - - by checker; policy - - by checker',
          'governance_events: every policy change, grant and revoke, in order, with its actor (no event for a no-op)');
SELECT is((SELECT jsonb_agg(detail ORDER BY event_id) FROM scoreledger.governance_events WHERE kind = 'policy'),
          '[{"after": {"require_approval": true, "enforce_capabilities": false}, "before": {"require_approval": false, "enforce_capabilities": false}},
            {"after": {"require_approval": false, "enforce_capabilities": false}, "before": {"require_approval": true, "enforce_capabilities": false}},
            {"after": {"require_approval": false, "enforce_capabilities": true}, "before": {"require_approval": false, "enforce_capabilities": false}},
            {"after": {"require_approval": false, "enforce_capabilities": false}, "before": {"require_approval": false, "enforce_capabilities": true}}]'::jsonb,
          'policy events record the policy before and after');
SELECT ok((SELECT bool_and(occurred_at IS NOT NULL AND event_id IS NOT NULL) FROM scoreledger.governance_events),
          'every governance event has an id and a time');
SELECT (SELECT count(*) FROM scoreledger.governance_events) AS gov_count \gset
SELECT is(scoreledger.set_tenant_policy(false, false), '{"require_approval": false, "enforce_capabilities": false}'::jsonb,
          'setting the policy it already has returns it');
SELECT is((SELECT count(*) FROM scoreledger.governance_events), :gov_count::bigint, '... and records no event');

-- Invalid input and missing actor
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'delete_everything')$$, tests.actor('maker')),
               'SL422', 'capability%', 'granting an unknown capability is SL422 naming the field');
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, NULL)$$, tests.actor('maker')),
               'SL422', '%', 'granting a null capability is SL422');
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(NULL, 'create_batch')$$),
               'SL422', 'user\_id%', 'granting to no user is SL422');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revoke_capability(%L, 'Create_Batch')$$, tests.actor('maker')),
               'SL422', 'capability%', 'revoking an unknown capability is SL422');
SELECT is((SELECT count(*) FROM scoreledger.governance_events), :gov_count::bigint, 'refused grants and revokes record nothing');

SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), NULL) \gset
SELECT tests.throws_code_like(x.stmt, 'SL401', '%', x.what || ' without an actor is SL401')
FROM (VALUES (1, format($$SELECT scoreledger.grant_capability(%L, 'create_batch')$$, tests.actor('stranger')), 'grant_capability'),
             (2, format($$SELECT scoreledger.revoke_capability(%L, 'approve_batch')$$, tests.actor('checker')), 'revoke_capability'),
             (3, 'SELECT scoreledger.set_tenant_policy(true, true)', 'set_tenant_policy'),
             (4, format('SELECT scoreledger.submit_correction_batch(%L)', :'s_draft'), 'submit_correction_batch'),
             (5, format($$SELECT scoreledger.approve_correction_batch(%L, 'x')$$, :'s_pending'), 'approve_correction_batch'),
             (6, format($$SELECT scoreledger.reject_correction_batch(%L, 'x')$$, :'s_pending'), 'reject_correction_batch'),
             (7, format('SELECT scoreledger.discard_correction_batch(%L)', :'s_draft'), 'discard_correction_batch'),
             (8, format($$SELECT scoreledger.update_correction_batch(%L, 'x', NULL)$$, :'s_draft'), 'update_correction_batch'))
     x(n, stmt, what)
ORDER BY x.n;
SELECT tests.authenticate_without_context() \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.grant_capability(%L, 'create_batch')$$, tests.actor('stranger')), 'SL401', '%',
          'grant_capability without a tenant is SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.submit_correction_batch(%L)', :'s_draft'), 'SL401', '%',
          'submit_correction_batch without a tenant is SL401');
SELECT is((SELECT count(*) FROM scoreledger.capabilities) + (SELECT count(*) FROM scoreledger.governance_events), 0::bigint,
          'without a context, the capabilities and governance_events views show nothing');
SELECT tests.act_as('admin') \gset
SELECT is((SELECT count(*) FROM scoreledger.governance_events), :gov_count::bigint, '... and nothing was recorded');
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 1)),
          '(f,f)', 'the policy did not change');

-- =====================================================================
-- 8. Append-only events, privileges and tenant isolation
-- =====================================================================
SELECT pg_temp.as_owner('admin') \gset
SELECT tests.throws_code_like('UPDATE scoreledger_private.governance_events SET capability = ''apply_batch''', 'SL423', '%',
               'the owner cannot update governance events');
SELECT tests.throws_code_like('DELETE FROM scoreledger_private.governance_events', 'SL423', '%', 'the owner cannot delete governance events');
SELECT tests.throws_code_like('DELETE FROM scoreledger_private.governance_events WHERE false', 'SL423', '%',
               'even a delete of no governance event is refused');
SELECT tests.throws_code_like('TRUNCATE scoreledger_private.governance_events', 'SL423', '%', 'the owner cannot truncate governance events');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.batch_events SET note = 'rewritten' WHERE batch_id = %L$$, :'a'), 'SL423', '%',
               'the owner cannot update batch events');
SELECT tests.throws_code_like(format($$DELETE FROM scoreledger_private.batch_events WHERE batch_id = %L AND to_status = 'approved'$$, :'a'),
               'SL423', '%', 'the owner cannot delete an approval event');
SELECT tests.throws_code_like('TRUNCATE scoreledger_private.batch_events', 'SL423', '%', 'the owner cannot truncate batch events');

SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.capability_grants (tenant_id, user_id, capability, granted_by)
                                    VALUES (%L, %L, 'approve_batch', %L)$$, tests.uuid_of('tenant', 1), tests.actor('maker'), tests.actor('maker')),
               '42501', '%', 'scoreledger_app cannot grant itself a capability by writing the table');
SELECT tests.throws_code_like(format($$INSERT INTO scoreledger_private.governance_events (tenant_id, kind, user_id, capability, actor_id)
                                    VALUES (%L, 'grant', %L, 'approve_batch', %L)$$, tests.uuid_of('tenant', 1), tests.actor('maker'), tests.actor('maker')),
               '42501', '%', 'scoreledger_app cannot write governance events directly');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET status = 'approved' WHERE batch_id = %L$$, :'s_pending'),
               '42501', '%', 'scoreledger_app cannot update a batch''s status directly');

SELECT tests.clear_context() \gset
SELECT is((SELECT string_agg(c.relname || ':' || c.relrowsecurity || ':' || c.relforcerowsecurity, ' ' ORDER BY c.relname)
           FROM pg_class c WHERE c.relnamespace = 'scoreledger_private'::regnamespace
            AND c.relname IN ('capability_grants', 'governance_events')),
          'capability_grants:true:true governance_events:true:true', 'row-level security is enabled and forced on the new tables');
SELECT is((SELECT count(*) FROM pg_policies WHERE schemaname = 'scoreledger_private'
            AND tablename IN ('capability_grants', 'governance_events') AND policyname = 'tenant_isolation'),
          2::bigint, 'both tables have the tenant_isolation policy');

SELECT pg_temp.as_owner('admin') \gset
SELECT is((SELECT string_agg(table_name || ':' || (visible > 0) || ':' || of_other_tenants, ' ' ORDER BY table_name)
           FROM tests.private_table_rows(tests.uuid_of('tenant', 1))
           WHERE table_name IN ('scoreledger_private.capability_grants', 'scoreledger_private.governance_events')),
          'scoreledger_private.capability_grants:true:0 scoreledger_private.governance_events:true:0',
          'the owner in tenant 1 sees tenant 1''s grants and governance events, none of tenant 2''s');

SELECT tests.act_as('admin', 2) \gset
SELECT is((SELECT string_agg(capability || ':' || (user_id = tests.actor('stranger')), ' ') FROM scoreledger.capabilities),
          'create_batch:true', 'tenant 2 sees only its own grant');
SELECT is((SELECT string_agg(kind || ':' || capability, ' ') FROM scoreledger.governance_events),
          'grant:create_batch', 'tenant 2 sees only its own governance event');
SELECT is((SELECT (require_approval, enforce_capabilities)::text FROM scoreledger.tenants WHERE tenant_id = tests.uuid_of('tenant', 2)),
          '(f,f)', 'tenant 1''s policy changes did not touch tenant 2');
SELECT tests.throws_code_like(format('SELECT scoreledger.get_correction_batch(%L)', :'a'), 'SL404', '%',
          'tenant 2 cannot read tenant 1''s batch or its events');
SELECT is(scoreledger.revoke_capability(tests.actor('checker'), 'approve_batch'), false,
          'tenant 2 cannot revoke tenant 1''s grant (nothing to revoke here)');
SELECT tests.act_as('admin') \gset
SELECT ok(EXISTS (SELECT 1 FROM scoreledger.capabilities WHERE user_id = tests.actor('checker') AND capability = 'approve_batch'),
          'tenant 1''s grant is still there');

SELECT tests.clear_context() \gset
SELECT is((SELECT sum(breaches) FROM scoreledger.check_invariants()), 0::numeric, 'check_invariants finds no breach');

SELECT * FROM finish();
ROLLBACK;
