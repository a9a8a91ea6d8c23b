-- =====================================================================
-- Policy and the batch state machine, as data.
--
-- workflow_statuses and workflow_transitions are the one statement of
-- which states a batch has and how it moves between them. Everything that
-- asks "may this batch do X now?" reads them: the workflow trigger (for
-- the owner's plain UPDATE too), require_transition (every API function
-- that moves or previews a batch), the editable-only guard of corrections,
-- the list's status filter, and the action center's view
-- scoreledger.batch_next_actions. Adding a state is one row in each view
-- (and its name in the status CHECK of migration 0001); a later machine
-- (Phase 5) adds rows under its own `machine`.
--
-- Views of VALUES, not tables: the machine is code, versioned and loaded
-- with the functions that read it, so it needs no migration to change and
-- no row-security exemption (it holds no tenant data). Loaded before
-- sql/30_scoring.sql, whose active_batches asks which statuses are in
-- effect.
-- =====================================================================

-- Every status: editable (its corrections may change), frozen (its record
-- is history: only the machine's moves touch it), final (nothing follows),
-- initial (the only status a row is inserted in, whoever inserts it: every
-- other status is reached by a move), in_effect (its corrections count in
-- scoring: sql/30_scoring.sql's active_batches), and its group's place in
-- the action center (most urgent first).
CREATE OR REPLACE VIEW scoreledger_private.workflow_statuses AS
  SELECT * FROM (VALUES
    ('batch', 'pending_review', 1, true, false, false, false, false),
    ('batch', 'approved', 2, true, false, false, false, false),
    ('batch', 'draft', 3, true, false, false, true, false),
    ('batch', 'rejected', 4, true, false, false, false, false),
    ('batch', 'applied', 5, false, true, false, false, true),
    ('batch', 'reverted', 6, false, true, true, false, false),
    ('batch', 'discarded', 7, false, false, true, false, false)
  ) s(machine, status, action_order, editable, frozen, final, initial, in_effect);
COMMENT ON VIEW scoreledger_private.workflow_statuses IS
  'The statuses of each state machine: editable, frozen (record immutable), final, initial (the only status a row is inserted in), in effect (counted in scoring), and the action center''s group order.';

-- Every action allowed from a status: where it leads, the capability it
-- needs (under enforce_capabilities), what a batch in from_status waits for
-- when this action is the awaited one, whether the tenant policy
-- require_approval withholds it (needs_approval_off), whether a
-- compensating batch is refused it (original_only), whether only a
-- compensating batch may take it (compensating_only), whether it only
-- reads (a preview: never a move, never listed as a next action), and
-- whether dual control applies (dual_control: not by the batch's creator,
-- last editor or anyone who changed its corrections).
-- An action that keeps the status (edit of a draft, a preview) is a row
-- from a status to itself. A compensating batch is inserted as a draft by
-- revert, with the original's corrections, and leaves it only by
-- `compensate` in the same transaction: nobody submits, edits, applies or
-- discards it.
CREATE OR REPLACE VIEW scoreledger_private.workflow_transitions AS
  SELECT * FROM (VALUES
    ('batch', 'draft', 1, 'submit', 'pending_review', 'create_batch', 'submit for review', false, true, false, false, false),
    ('batch', 'draft', 2, 'apply', 'applied', 'apply_batch', 'apply', true, true, false, false, false),
    ('batch', 'draft', 3, 'edit', 'draft', 'create_batch', NULL, false, true, false, false, false),
    ('batch', 'draft', 4, 'discard', 'discarded', 'create_batch', NULL, false, true, false, false, false),
    ('batch', 'draft', 5, 'preview', 'draft', NULL, NULL, false, false, true, false, false),
    -- Revert's second half: the compensating batch, rescored, is applied.
    ('batch', 'draft', 6, 'compensate', 'applied', 'revert_batch', NULL, false, false, false, true, false),
    ('batch', 'pending_review', 1, 'approve', 'approved', 'approve_batch',
     'approval by someone other than its creator', false, false, false, false, true),
    ('batch', 'pending_review', 2, 'reject', 'rejected', 'approve_batch', NULL, false, false, false, false, false),
    ('batch', 'pending_review', 3, 'edit', 'draft', 'create_batch', NULL, false, false, false, false, false),
    ('batch', 'pending_review', 4, 'discard', 'discarded', 'create_batch', NULL, false, false, false, false, false),
    -- The approver is the one who most needs the preview.
    ('batch', 'pending_review', 5, 'preview', 'pending_review', NULL, NULL, false, false, true, false, false),
    ('batch', 'approved', 1, 'apply', 'applied', 'apply_batch', 'apply', false, false, false, false, false),
    ('batch', 'approved', 2, 'edit', 'draft', 'create_batch', NULL, false, false, false, false, false),
    ('batch', 'approved', 3, 'discard', 'discarded', 'create_batch', NULL, false, false, false, false, false),
    ('batch', 'approved', 4, 'preview', 'approved', NULL, NULL, false, false, true, false, false),
    ('batch', 'rejected', 1, 'edit', 'draft', 'create_batch', 'edit (back to draft)', false, false, false, false, false),
    ('batch', 'rejected', 2, 'discard', 'discarded', 'create_batch', 'discard', false, false, false, false, false),
    -- A compensating batch is undone by a new batch, never by a revert.
    ('batch', 'applied', 1, 'revert', 'reverted', 'revert_batch', NULL, false, true, false, false, false),
    ('batch', 'applied', 2, 'preview_revert', 'applied', NULL, NULL, false, true, true, false, false)
  ) t(machine, from_status, position, action, to_status, capability, waits_for, needs_approval_off, original_only,
      read_only, compensating_only, dual_control);
COMMENT ON VIEW scoreledger_private.workflow_transitions IS
  'The allowed transitions of each state machine: action, target status, capability, what is awaited, policy conditions.';

-- The status a new row of `machine` is inserted in.
CREATE OR REPLACE FUNCTION scoreledger_private.initial_status(machine text)
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT s.status FROM scoreledger_private.workflow_statuses s WHERE s.machine = initial_status.machine AND s.initial
$$;

-- Each batch with every transition out of its status, and whether the
-- tenant's policy and the batch's kind allow it now.
CREATE OR REPLACE VIEW scoreledger_private.batch_transitions AS
  SELECT b.tenant_id, b.batch_id, b.status, t.position, t.action, t.to_status, t.capability, t.waits_for, t.read_only,
         NOT (t.needs_approval_off AND tn.require_approval) AS policy_allows,
         NOT (t.original_only AND b.reverts_batch_id IS NOT NULL)
           AND NOT (t.compensating_only AND b.reverts_batch_id IS NULL) AS kind_allows
  FROM scoreledger_private.correction_batches b
  JOIN scoreledger_private.tenants tn ON tn.tenant_id = b.tenant_id
  JOIN scoreledger_private.workflow_transitions t ON t.machine = 'batch' AND t.from_status = b.status;
COMMENT ON VIEW scoreledger_private.batch_transitions IS
  'Every transition out of each batch''s status, with whether the tenant policy and the batch''s kind allow it.';

-- With enforce_capabilities on, the actor must hold the capability.
CREATE OR REPLACE FUNCTION scoreledger_private.require_capability(capability text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
BEGIN
  IF EXISTS (SELECT 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant AND t.enforce_capabilities)
     AND NOT EXISTS (SELECT 1 FROM scoreledger_private.capability_grants g
                     WHERE g.tenant_id = tenant AND g.user_id = actor AND g.capability = require_capability.capability) THEN
    PERFORM scoreledger_private.fail('SL403', format('user %s lacks the capability %s required here', actor, capability),
      'an administrator can grant it with scoreledger.grant_capability(user_id, capability)');
  END IF;
END
$$;

-- May `batch` take `action` now? Checks the action's capability (SL403),
-- then the state machine (SL409, naming the status and what is allowed
-- instead). Returns the status the action leads to.
CREATE OR REPLACE FUNCTION scoreledger_private.require_transition(batch scoreledger_private.correction_batches, action text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  needed text;
  move record;
  allowed_now text;
BEGIN
  SELECT max(t.capability) INTO needed FROM scoreledger_private.workflow_transitions t
  WHERE t.machine = 'batch' AND t.action = require_transition.action;
  IF needed IS NOT NULL THEN
    PERFORM scoreledger_private.require_capability(needed);
  END IF;
  SELECT * INTO move FROM scoreledger_private.batch_transitions bt
  WHERE bt.tenant_id = batch.tenant_id AND bt.batch_id = batch.batch_id AND bt.action = require_transition.action;
  IF move.policy_allows AND move.kind_allows THEN
    RETURN move.to_status;
  END IF;
  SELECT coalesce(string_agg(bt.action, ', ' ORDER BY bt.position), 'nothing') INTO allowed_now
  FROM scoreledger_private.batch_transitions bt
  WHERE bt.tenant_id = batch.tenant_id AND bt.batch_id = batch.batch_id AND bt.policy_allows AND bt.kind_allows;
  IF move.action IS NULL THEN
    PERFORM scoreledger_private.fail('SL409', format('batch %s is %s; to %s it must be %s (allowed now: %s)',
      batch.batch_id, batch.status, action,
      (SELECT string_agg(DISTINCT t.from_status, ' or ') FROM scoreledger_private.workflow_transitions t
        WHERE t.machine = 'batch' AND t.action = require_transition.action), allowed_now));
  ELSIF NOT move.kind_allows AND batch.reverts_batch_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL409', format('batch %s is %s; only a compensating batch may %s (allowed now: %s)',
      batch.batch_id, batch.status, action, allowed_now));
  ELSIF NOT move.kind_allows THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'batch %s is %s and itself a revert (a compensating batch); to %s it, apply a new batch instead (allowed now: %s)',
      batch.batch_id, batch.status, action, allowed_now));
  END IF;
  PERFORM scoreledger_private.fail('SL409', format('batch %s is %s; this tenant requires approval before %s (allowed now: %s)',
    batch.batch_id, batch.status, action, allowed_now));
  RETURN NULL;
END
$$;

-- The action center: what each batch waits for, what may happen next under
-- the tenant's policy, and its impact figures as stored (never recomputed
-- here: a preview per open batch is seconds at scale).
CREATE OR REPLACE VIEW scoreledger.batch_next_actions AS
  SELECT b.batch_id, b.status,
         n.waiting_for, coalesce(n.next_actions, '{}') AS next_actions, s.action_order,
         b.figures_submissions_affected AS submissions_affected, b.figures_pass_to_fail AS pass_to_fail,
         b.figures_fail_to_pass AS fail_to_pass, b.figures_at,
         b.figures_interventions_opened AS interventions_opened,
         b.figures_interventions_withdrawn AS interventions_withdrawn,
         b.figures_remedial_completed AS remedial_completed
  FROM scoreledger_private.correction_batches b
  JOIN scoreledger_private.workflow_statuses s ON s.machine = 'batch' AND s.status = b.status
  LEFT JOIN LATERAL (
    SELECT array_agg(bt.action ORDER BY bt.position)
             FILTER (WHERE bt.policy_allows AND bt.kind_allows AND NOT bt.read_only) AS next_actions,
           string_agg(bt.waits_for, ' or ' ORDER BY bt.position) FILTER (WHERE bt.policy_allows AND bt.kind_allows)
             || CASE WHEN bool_or(bt.waits_for IS NOT NULL AND NOT bt.policy_allows)
                     THEN ' (this tenant requires approval)' ELSE '' END AS waiting_for
    FROM scoreledger_private.batch_transitions bt
    WHERE bt.tenant_id = b.tenant_id AND bt.batch_id = b.batch_id
  ) n ON true;
COMMENT ON VIEW scoreledger.batch_next_actions IS
  'The action center: per batch, what it waits for (null when nothing is awaited), the actions allowed now under the tenant''s policy, its group order, and its impact figures as stored at creation, last edit, apply or revert (figures_at): submissions affected, pass<->fail flips, and the interventions opened and withdrawn and remedial work completed (null on batches stored before these were counted).';
GRANT SELECT ON scoreledger.batch_next_actions TO scoreledger_app;

-- SL422 naming `field` when `value` is longer than `max_chars` (a bound
-- of the one list, scoreledger_private.input_limits() in sql/00_errors.sql,
-- passed by the caller as input_limit('…')); null passes: whether a field
-- is required is the caller's rule.
CREATE OR REPLACE FUNCTION scoreledger_private.require_text_within(field text, value text, max_chars bigint)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF pg_catalog.length(value) > max_chars THEN
    PERFORM scoreledger_private.fail('SL422', format('%s: must be at most %s characters (got %s)',
      field, max_chars, pg_catalog.length(value)));
  END IF;
END
$$;
