-- The batch state machine as data (issue 11, point 1): workflow_statuses
-- and workflow_transitions (sql/25_workflow.sql) are the single source.
-- The status CHECK names exactly their statuses; the workflow trigger lets
-- the owner's direct UPDATE through for exactly the pairs in the relation
-- (under the tenant's policy, and never reverting a compensating batch);
-- scoreledger.batch_next_actions shows what each batch waits for and may do
-- next under both policies; the impact figures it shows are stored, equal
-- to what the preview said at creation and edit and to what apply and
-- revert wrote, written by no preview, and immutable once applied.
--
-- Adding a state is one row in workflow_statuses, its rows in
-- workflow_transitions and its name in the status CHECK: the first block
-- below fails until all three agree, and the pair test covers it at once.
BEGIN;
SELECT plan(97);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.correction(kind text, n int, correct text[] DEFAULT NULL) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('type', kind, 'evaluation_version_id', tests.uuid_of('version', 1),
                                                                'question_version_id', tests.uuid_of('q' || n, 1),
                                                                'correct', to_jsonb(correct))))
$$;
CREATE FUNCTION pg_temp.draft(reason text, n int DEFAULT 1) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as('maker');
  RETURN scoreledger.create_correction_batch(reason, pg_temp.correction('drop_item', n));
END $$;
-- A batch's row in the action center as one readable line.
CREATE FUNCTION pg_temp.center(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT format('%s | %s | %s | %s', n.status, coalesce(n.waiting_for, '-'), n.next_actions, n.action_order)
  FROM scoreledger.batch_next_actions n WHERE n.batch_id = batch
$$;
CREATE FUNCTION pg_temp.figures(batch uuid) RETURNS text LANGUAGE sql AS $$
  SELECT format('%s/%s/%s', n.submissions_affected, n.pass_to_fail, n.fail_to_pass)
  FROM scoreledger.batch_next_actions n WHERE n.batch_id = batch
$$;
CREATE FUNCTION pg_temp.said(preview jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT format('%s/%s/%s', preview->'submissionsAffected', preview->'passToFail', preview->'failToPass')
$$;
-- As the table owner (RLS forced) in tenant 1, acting as `who`: moves a
-- batch's status directly and always rolls the move back. Returns the
-- SQLSTATE, or 'moved'.
CREATE FUNCTION pg_temp.owner_move(batch uuid, to_status text, who text DEFAULT 'third') RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.act_as_owner(tests.uuid_of('tenant', 1));
  PERFORM set_config('scoreledger.actor_id', tests.actor(who)::text, true);
  BEGIN
    UPDATE scoreledger_private.correction_batches b SET status = to_status WHERE b.batch_id = batch;
    RAISE EXCEPTION USING ERRCODE = 'SLTST', MESSAGE = 'moved';
  EXCEPTION WHEN OTHERS THEN
    RETURN CASE WHEN SQLSTATE = 'SLTST' THEN 'moved' ELSE SQLSTATE END;
  END;
END $$;

-- ---------------------------------------------------------------------
-- Fixture: tenant 1 with evaluation 1 (q1 single B 1pt, q2 multiple A,B
-- 2pt, q3 partial A,B,C 3pt; pass mark 0.5) and five submissions; one
-- batch in each status.
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('state machine 1', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('state machine 2', tests.uuid_of('tenant', 2)) \gset
SELECT tests.act_as('maker') \gset
SELECT tests.make_evaluation(1) \gset
SELECT tests.submit(1, 1, '{B}', '{A,B}', '{A,B,C}', 1) \gset
SELECT tests.submit(1, 2, '{A}', '{A}', '{A}', 2) \gset
SELECT tests.submit(1, 3, '{C}', '{A,B}', '{A}', 3) \gset
SELECT tests.submit(1, 4, '{B}', '{A}', '{A,B}', 4) \gset
SELECT tests.submit(1, 5, '{A}', '{A}', '{A,B}', 5) \gset

SELECT pg_temp.draft('a draft') AS s_draft \gset
SELECT pg_temp.draft('under review') AS s_pending \gset
SELECT scoreledger.submit_correction_batch(:'s_pending') \gset
SELECT pg_temp.draft('approved') AS s_approved \gset
SELECT scoreledger.submit_correction_batch(:'s_approved') \gset
SELECT pg_temp.draft('rejected') AS s_rejected \gset
SELECT scoreledger.submit_correction_batch(:'s_rejected') \gset
SELECT pg_temp.draft('applied', 2) AS s_applied \gset
SELECT scoreledger.apply_correction_batch(:'s_applied') \gset
SELECT pg_temp.draft('reverted', 3) AS s_reverted \gset
SELECT scoreledger.apply_correction_batch(:'s_reverted') \gset
SELECT scoreledger.revert_correction_batch(:'s_reverted', 'undo') AS s_compensating \gset
SELECT pg_temp.draft('discarded') AS s_discarded \gset
SELECT scoreledger.discard_correction_batch(:'s_discarded') \gset
SELECT tests.act_as('checker') \gset
SELECT scoreledger.approve_correction_batch(:'s_approved', 'ok') \gset
SELECT scoreledger.reject_correction_batch(:'s_rejected', 'no') \gset
SELECT tests.act_as('maker') \gset

CREATE TEMP TABLE states (status text, batch uuid, compensating boolean);
INSERT INTO states VALUES ('draft', :'s_draft', false), ('pending_review', :'s_pending', false),
  ('approved', :'s_approved', false), ('rejected', :'s_rejected', false), ('applied', :'s_applied', false),
  ('applied', :'s_compensating', true), ('reverted', :'s_reverted', false), ('discarded', :'s_discarded', false);
GRANT SELECT ON states TO PUBLIC;
SELECT is((SELECT count(*) FROM states s WHERE (SELECT b.status FROM scoreledger.correction_batches b WHERE b.id = s.batch) = s.status),
          8::bigint, 'fixture: one batch in each status, and a compensating one');

-- =====================================================================
-- 1. One source: the CHECK, the statuses and the transitions agree
-- =====================================================================
RESET ROLE;
SELECT is((SELECT array_agg(m[1] ORDER BY m[1])
           FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') m
           WHERE c.conrelid = 'scoreledger_private.correction_batches'::regclass AND c.contype = 'c'
             AND pg_get_constraintdef(c.oid) ~ '^CHECK \(\(status = ANY'),
          (SELECT array_agg(s.status ORDER BY s.status) FROM scoreledger_private.workflow_statuses s WHERE s.machine = 'batch'),
          'the status CHECK of correction_batches names exactly the statuses of the machine');
SELECT is((SELECT count(*) FROM scoreledger_private.workflow_transitions t
           WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.workflow_statuses s
                             WHERE s.machine = t.machine AND s.status = t.from_status)
              OR NOT EXISTS (SELECT 1 FROM scoreledger_private.workflow_statuses s
                             WHERE s.machine = t.machine AND s.status = t.to_status)), 0::bigint,
          'every transition leads from a status to a status of its machine');
SELECT is((SELECT array_agg(s.status ORDER BY s.status) FROM scoreledger_private.workflow_statuses s
           WHERE s.machine = 'batch' AND s.final = EXISTS (
             SELECT 1 FROM scoreledger_private.workflow_transitions t
             WHERE t.machine = 'batch' AND t.from_status = s.status AND NOT t.read_only)),
          NULL, 'a status is final exactly when no action moves a batch out of it');
SELECT is((SELECT array_agg(s.status ORDER BY s.status) FROM scoreledger_private.workflow_statuses s
           WHERE s.machine = 'batch' AND s.editable),
          '{approved,draft,pending_review,rejected}', 'the editable statuses: those not yet applied, discarded or reverted');
SELECT is((SELECT array_agg(s.status ORDER BY s.status) FROM scoreledger_private.workflow_statuses s
           WHERE s.machine = 'batch' AND s.frozen),
          '{applied,reverted}', 'the frozen statuses (record immutable): applied and reverted');
SELECT is((SELECT array_agg(s.status ORDER BY s.action_order) FROM scoreledger_private.workflow_statuses s WHERE s.machine = 'batch'),
          '{pending_review,approved,draft,rejected,applied,reverted,discarded}', 'the action center''s group order');
SELECT is((SELECT count(*) FROM (SELECT t.action FROM scoreledger_private.workflow_transitions t
                                 GROUP BY t.machine, t.action HAVING count(DISTINCT t.capability) > 1) x), 0::bigint,
          'each action needs one capability, whatever its status');
SELECT is((SELECT count(*) FROM (SELECT t.machine, t.from_status, t.action FROM scoreledger_private.workflow_transitions t
                                 GROUP BY 1, 2, 3 HAVING count(*) > 1) x), 0::bigint,
          'an action leads to one status from a given status');
SELECT is((SELECT array_agg(DISTINCT t.capability ORDER BY t.capability) FROM scoreledger_private.workflow_transitions t
           WHERE t.capability IS NOT NULL
             AND t.capability NOT IN (SELECT m[1] FROM pg_constraint c,
                                        regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') m
                                      WHERE c.conrelid = 'scoreledger_private.capability_grants'::regclass AND c.contype = 'c')),
          NULL, 'every capability the machine needs is one a user can be granted');
SELECT is((SELECT count(*) FROM scoreledger_private.workflow_transitions t
           WHERE t.read_only AND (t.to_status <> t.from_status OR t.capability IS NOT NULL)), 0::bigint,
          'a read-only action (a preview) never moves a batch and needs no capability');

-- =====================================================================
-- 2. The workflow trigger lets exactly the machine's pairs through, for
--    the owner's direct UPDATE too
-- =====================================================================
-- The record guard speaks first for an applied or reverted batch (its
-- record is immutable, SL423); set it aside here to reach the workflow
-- trigger behind it. ALTER TABLE is rolled back with the test.
ALTER TABLE scoreledger_private.correction_batches DISABLE TRIGGER batch_record_immutable;
SELECT is(pg_temp.owner_move(s.batch, target.status) = 'SL409',
          NOT EXISTS (SELECT 1 FROM scoreledger_private.workflow_transitions t
                      WHERE t.machine = 'batch' AND t.from_status = s.status AND t.to_status = target.status
                        AND NOT t.read_only AND NOT (t.original_only AND s.compensating)),
          format('owner moving a%s batch from %s to %s: refused (SL409) exactly when the machine has no such move',
                 CASE WHEN s.compensating THEN ' compensating' ELSE '' END, s.status, target.status))
FROM states s
CROSS JOIN (SELECT w.status, w.action_order FROM scoreledger_private.workflow_statuses w WHERE w.machine = 'batch') target
WHERE target.status <> s.status AND (NOT s.compensating OR target.status = 'reverted')
ORDER BY s.status, s.compensating, target.action_order;
ALTER TABLE scoreledger_private.correction_batches ENABLE TRIGGER batch_record_immutable;
SELECT is(pg_temp.owner_move(:'s_applied', 'draft'), 'SL423', 'with the record guard back, an applied record is immutable first');
SELECT is(pg_temp.owner_move(:'s_pending', 'approved', 'maker'), 'SL403',
          'a move the machine allows still meets dual control (the creator cannot approve)');
SELECT is(pg_temp.owner_move(:'s_draft', 'pending_review'), 'moved', 'an allowed move goes through for the owner');

-- Under require_approval, draft -> applied is withheld, on the row too.
SELECT tests.act_as('admin') \gset
SELECT scoreledger.set_tenant_policy(true, NULL) \gset
SELECT is(pg_temp.owner_move(:'s_draft', 'applied'), 'SL409', 'under require_approval the owner cannot move a draft to applied');
SELECT isnt(pg_temp.owner_move(:'s_approved', 'applied'), 'SL409', '... but approved -> applied stays in the machine');

-- =====================================================================
-- 3. The action center: what each batch waits for, what may happen next
-- =====================================================================
SELECT tests.act_as('maker') \gset
SELECT is((SELECT array_agg(c.column_name || ' ' || c.data_type ORDER BY c.ordinal_position)
           FROM information_schema.columns c WHERE c.table_schema = 'scoreledger' AND c.table_name = 'batch_next_actions'),
          '{"batch_id uuid","status text","waiting_for text","next_actions ARRAY","action_order integer",'
          '"submissions_affected integer","pass_to_fail integer","fail_to_pass integer",'
          '"figures_at timestamp with time zone","interventions_opened integer",'
          '"interventions_withdrawn integer","remedial_completed integer"}',
          'batch_next_actions has exactly the columns the shell codes against');
SELECT is(pg_temp.center(s.batch), e.line, format('require_approval on: a%s batch in %s', CASE WHEN s.compensating THEN ' compensating' ELSE '' END, s.status))
FROM states s JOIN (VALUES
  ('draft', false, 'draft | submit for review (this tenant requires approval) | {submit,edit,discard} | 3'),
  ('pending_review', false, 'pending_review | approval by someone other than its creator | {approve,reject,edit,discard} | 1'),
  ('approved', false, 'approved | apply | {apply,edit,discard} | 2'),
  ('rejected', false, 'rejected | edit (back to draft) or discard | {edit,discard} | 4'),
  ('applied', false, 'applied | - | {revert} | 5'),
  ('applied', true, 'applied | - | {} | 5'),
  ('reverted', false, 'reverted | - | {} | 6'),
  ('discarded', false, 'discarded | - | {} | 7')) e(status, compensating, line)
  ON e.status = s.status AND e.compensating = s.compensating
ORDER BY s.status, s.compensating;
SELECT tests.act_as('admin') \gset
SELECT scoreledger.set_tenant_policy(false, NULL)->'pending_change'->>'change_id' AS lowering \gset
-- Lowering is dual-controlled: another user confirms it.
SELECT tests.act_as('checker') \gset
SELECT scoreledger.confirm_tenant_policy(:'lowering') \gset
SELECT tests.act_as('maker') \gset
SELECT is(pg_temp.center(s.batch), e.line, format('require_approval off: a%s batch in %s', CASE WHEN s.compensating THEN ' compensating' ELSE '' END, s.status))
FROM states s JOIN (VALUES
  ('draft', false, 'draft | submit for review or apply | {submit,apply,edit,discard} | 3'),
  ('pending_review', false, 'pending_review | approval by someone other than its creator | {approve,reject,edit,discard} | 1'),
  ('approved', false, 'approved | apply | {apply,edit,discard} | 2'),
  ('rejected', false, 'rejected | edit (back to draft) or discard | {edit,discard} | 4'),
  ('applied', false, 'applied | - | {revert} | 5'),
  ('applied', true, 'applied | - | {} | 5'),
  ('reverted', false, 'reverted | - | {} | 6'),
  ('discarded', false, 'discarded | - | {} | 7')) e(status, compensating, line)
  ON e.status = s.status AND e.compensating = s.compensating
ORDER BY s.status, s.compensating;

-- Every next action the view offers is one the API accepts (checked
-- through require_transition, which every API function calls).
SELECT tests.act_as_owner(tests.uuid_of('tenant', 1)) \gset
SELECT set_config('scoreledger.actor_id', tests.actor('maker')::text, true) \gset
SELECT is((SELECT count(*) FROM scoreledger.batch_next_actions n CROSS JOIN unnest(n.next_actions) a
           WHERE tests.sqlstate_of(format('SELECT scoreledger_private.require_transition(b, %L) FROM scoreledger_private.correction_batches b WHERE b.batch_id = %L', a, n.batch_id)) IS NOT NULL),
          0::bigint, 'every action the view offers passes require_transition');

-- Tenancy: another tenant, or no context, sees none of these rows.
SELECT tests.act_as('maker', 2) \gset
SELECT is((SELECT count(*) FROM scoreledger.batch_next_actions), 0::bigint, 'another tenant sees none of tenant 1''s batches');
SELECT tests.authenticate_without_context() \gset
SELECT is((SELECT count(*) FROM scoreledger.batch_next_actions), 0::bigint, 'without a context the view shows no rows');

-- =====================================================================
-- 4. require_transition: SL409 names the status and what is allowed
-- =====================================================================
SELECT tests.act_as('checker') \gset
SELECT tests.throws_code_like(format($$SELECT scoreledger.approve_correction_batch(%L, 'x')$$, :'s_draft'), 'SL409',
  '%is draft; to approve it must be pending_review (allowed now: submit, apply, edit, discard, preview)',
  'approving a draft: SL409 naming the status, where approve starts, and what is allowed now');
SELECT tests.throws_code_like(format($$SELECT scoreledger.revert_correction_batch(%L, 'x')$$, :'s_compensating'), 'SL409',
  '%is applied and itself a revert (a compensating batch)%', 'reverting a compensating batch: SL409 saying it is one');
SELECT tests.throws_code_like(format($$SELECT scoreledger.preview_correction_batch(%L)$$, :'s_applied'), 'SL409',
  '%is applied;%allowed now: revert, preview_revert)', 'previewing an applied batch: SL409 pointing at preview_revert');

-- =====================================================================
-- 5. Stored figures: what the preview said, what apply and revert wrote
-- =====================================================================
SELECT tests.act_as('maker') \gset
SELECT scoreledger.create_correction_batch('drop q3', pg_temp.correction('drop_item', 3)) AS fb \gset
SELECT scoreledger.preview_correction_batch(:'fb') AS fb_preview \gset
SELECT is(pg_temp.figures(:'fb'), pg_temp.said(:'fb_preview'), 'at creation the stored figures are what the preview says');
SELECT is(pg_temp.figures(:'fb'), '5/1/0', '... 5 submissions, one pass -> fail, none fail -> pass');
SELECT figures_at AS fb_at FROM scoreledger.batch_next_actions WHERE batch_id = :'fb' \gset
SELECT isnt(:'fb_at'::timestamptz, NULL::timestamptz, 'figures_at says when they were taken');
SELECT scoreledger.preview_correction_batch(:'fb') \gset
SELECT count(*) AS fb_changes FROM scoreledger.preview_correction_batch_changes(:'fb') \gset
SELECT is((SELECT figures_at FROM scoreledger.batch_next_actions WHERE batch_id = :'fb'), :'fb_at'::timestamptz,
          'a preview writes nothing: the figures stay as taken');

SELECT scoreledger.update_correction_batch(:'fb', NULL, pg_temp.correction('replace_key', 1, '{A}')) \gset
SELECT scoreledger.preview_correction_batch(:'fb') AS fb_preview2 \gset
SELECT is(pg_temp.figures(:'fb'), pg_temp.said(:'fb_preview2'), 'after an edit the stored figures are the new preview''s');
SELECT is(pg_temp.figures(:'fb'), '5/0/1', '... 5 submissions, none pass -> fail, one fail -> pass');
SELECT cmp_ok((SELECT figures_at FROM scoreledger.batch_next_actions WHERE batch_id = :'fb'), '>', :'fb_at'::timestamptz,
              '... taken later');
SELECT scoreledger.update_correction_batch(:'fb', 'reason only', NULL) \gset
SELECT is(pg_temp.figures(:'fb'), '5/0/1', 'an edit of the reason alone keeps the figures');

SELECT scoreledger.apply_correction_batch(:'fb') AS fb_applied \gset
SELECT is(pg_temp.figures(:'fb'), format('%s/0/1', :'fb_applied'::jsonb->'submissions_rescored'),
          'applied: submissions_affected is what apply rescored, pass<->fail what the preview foretold');
SELECT is(pg_temp.figures(:'fb'), '5/0/1', '... 5/0/1');

SELECT scoreledger.preview_revert(:'fb') AS fb_revert_preview \gset
SELECT scoreledger.revert_correction_batch(:'fb', 'undo the key') AS fb_comp \gset
SELECT is(pg_temp.figures(:'fb_comp'), pg_temp.said(:'fb_revert_preview'),
          'the compensating batch stores what revert wrote, as preview_revert foretold');
SELECT is(pg_temp.figures(:'fb_comp'), format('%s/1/0', scoreledger.get_correction_batch(:'fb_comp')->'apply_result'->'submissions_rescored'),
          '... its submissions_affected is its apply_result''s');
SELECT is(pg_temp.figures(:'fb'), '5/0/1', 'the reverted original keeps the figures of its apply');

-- Once applied, the figures are part of the immutable record.
SELECT tests.act_as('maker') \gset
SELECT tests.act_as_owner(tests.uuid_of('tenant', 1)) \gset
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET figures_pass_to_fail = 9 WHERE batch_id = %L$$, :'fb'),
          'SL423', '%', 'the owner cannot rewrite a reverted batch''s figures');
SELECT tests.throws_code_like(format($$UPDATE scoreledger_private.correction_batches SET figures_at = now() WHERE batch_id = %L$$, :'fb_comp'),
          'SL423', '%', 'nor an applied (compensating) batch''s');

SELECT * FROM finish();
ROLLBACK;
