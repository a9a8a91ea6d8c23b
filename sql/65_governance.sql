-- =====================================================================
-- Governance: review workflow, dual control and capabilities.
-- Which status a batch may move to, by which action and capability, is
-- the state machine of sql/25_workflow.sql; these functions name the action
-- and add what the machine cannot say (dual control, a rejection's note).
-- Every transition is a batch event; every grant, revoke, policy change,
-- policy request, confirmation and supersession is a governance event,
-- written by the triggers of the table that changes (so the owner's plain
-- DML writes it too, or is refused). Both are append-only.
--
-- Lowering protection is dual-controlled (contract section 10): a call of
-- set_tenant_policy that turns require_approval or enforce_capabilities
-- off records a pending change instead; a different actor confirms it with
-- confirm_tenant_policy, and only then, in that transaction, may the
-- tenant row be lowered (its trigger checks). Raising takes effect at
-- once; a call that raises one setting and lowers the other raises now and
-- leaves the lowering pending. A tenant has at most one pending change: a
-- new request supersedes it (an event), so a confirmation always confirms
-- the latest request. Pending changes do not expire.
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.capability_grants');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.governance_events');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.policy_changes');

CREATE OR REPLACE TRIGGER governance_events_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.governance_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.governance_events', 'governance_events_append_only',
  'governance events are append-only');
CREATE OR REPLACE TRIGGER governance_events_never_truncated BEFORE TRUNCATE ON scoreledger_private.governance_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.governance_events', 'governance_events_never_truncated',
  'governance events are never truncated');

-- A governance change with nobody to name as its author is refused: the
-- event is the price of the change.
CREATE OR REPLACE FUNCTION scoreledger_private.record_governance_event(
  kind text, user_id uuid, capability text, detail jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF scoreledger.current_actor() IS NULL THEN
    PERFORM scoreledger_private.fail('SL401', format(
      'no actor: a governance change (%s) is recorded with its author; call set_context(tenant_id, actor_id)', kind));
  END IF;
  INSERT INTO scoreledger_private.governance_events (tenant_id, kind, user_id, capability, detail, actor_id)
  VALUES (scoreledger.current_tenant(), kind, user_id, capability, detail, scoreledger.current_actor());
END
$$;

-- ---------------------------------------------------------------------
-- Guards: grants and the policy write their own events
-- ---------------------------------------------------------------------

-- Every grant and revoke, by whatever path, is an event (one statement,
-- one pass over the rows it inserted or deleted). A grant is never edited:
-- it is granted or revoked.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_capability_grants__audited()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.record_governance_event(CASE TG_OP WHEN 'INSERT' THEN 'grant' ELSE 'revoke' END,
                                                      r.user_id, r.capability)
  FROM (SELECT * FROM changed_rows r ORDER BY r.user_id, r.capability) r;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER capability_grants_audited_insert AFTER INSERT ON scoreledger_private.capability_grants
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_capability_grants__audited();
SELECT scoreledger_private.declare_guard('scoreledger_private.capability_grants', 'capability_grants_audited_insert',
  'every grant writes its governance event');
CREATE OR REPLACE TRIGGER capability_grants_audited_delete AFTER DELETE ON scoreledger_private.capability_grants
  REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_capability_grants__audited();
SELECT scoreledger_private.declare_guard('scoreledger_private.capability_grants', 'capability_grants_audited_delete',
  'every revoke writes its governance event');
CREATE OR REPLACE TRIGGER capability_grants_never_edited BEFORE UPDATE ON scoreledger_private.capability_grants
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.capability_grants', 'capability_grants_never_edited',
  'a grant is never edited, only granted or revoked');
CREATE OR REPLACE TRIGGER capability_grants_never_truncated BEFORE TRUNCATE ON scoreledger_private.capability_grants
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.capability_grants', 'capability_grants_never_truncated',
  'grants are never truncated (a revoke is an event)');

-- The tenant row's policy: lowered only by a change a different actor
-- confirmed in this very transaction (confirm_tenant_policy), whoever
-- writes the row; every change of it is an event.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_tenants__policy_guarded()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  lowers_approval boolean := OLD.require_approval AND NOT NEW.require_approval;
  lowers_capabilities boolean := OLD.enforce_capabilities AND NOT NEW.enforce_capabilities;
BEGIN
  IF (lowers_approval OR lowers_capabilities) AND NOT EXISTS (
       SELECT 1 FROM scoreledger_private.policy_changes c
       WHERE c.tenant_id = OLD.tenant_id AND c.status = 'confirmed' AND c.decided_in = pg_catalog.pg_current_xact_id()
         AND (NOT lowers_approval OR c.require_approval IS NOT NULL)
         AND (NOT lowers_capabilities OR c.enforce_capabilities IS NOT NULL)) THEN
    PERFORM scoreledger_private.fail('SL403',
      'dual control: lowering a tenant''s protection needs a pending change confirmed by a different actor',
      'request it with scoreledger.set_tenant_policy, then another user runs scoreledger.confirm_tenant_policy(change_id)');
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.tg_tenants__policy_audited()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF (NEW.require_approval, NEW.enforce_capabilities) IS DISTINCT FROM (OLD.require_approval, OLD.enforce_capabilities) THEN
    PERFORM scoreledger_private.record_governance_event('policy', NULL, NULL, jsonb_build_object(
      'before', jsonb_build_object('require_approval', OLD.require_approval, 'enforce_capabilities', OLD.enforce_capabilities),
      'after', jsonb_build_object('require_approval', NEW.require_approval, 'enforce_capabilities', NEW.enforce_capabilities)));
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tenant_policy_lowered_when_confirmed BEFORE UPDATE ON scoreledger_private.tenants
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_tenants__policy_guarded();
SELECT scoreledger_private.declare_guard('scoreledger_private.tenants', 'tenant_policy_lowered_when_confirmed',
  'a tenant''s protection is lowered only by a change a different actor confirmed');
CREATE OR REPLACE TRIGGER tenant_policy_audited AFTER UPDATE ON scoreledger_private.tenants
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_tenants__policy_audited();
SELECT scoreledger_private.declare_guard('scoreledger_private.tenants', 'tenant_policy_audited',
  'every change of a tenant''s policy writes its governance event');

-- A policy change is requested pending, by the actor, and decided once:
-- confirmed by another actor, or superseded; what it asks never changes.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_policy_changes__guard()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  actor uuid := scoreledger.current_actor();
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' OR NEW.requested_by IS DISTINCT FROM actor THEN
      PERFORM scoreledger_private.fail('SL423', format(
        'policy change %s: a change is requested pending, by the acting user', NEW.change_id));
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.status <> 'pending'
     OR (NEW.tenant_id, NEW.change_id, NEW.require_approval, NEW.enforce_capabilities, NEW.requested_by, NEW.requested_at)
        IS DISTINCT FROM (OLD.tenant_id, OLD.change_id, OLD.require_approval, OLD.enforce_capabilities, OLD.requested_by, OLD.requested_at)
     OR NEW.decided_by IS DISTINCT FROM actor OR NEW.decided_in IS DISTINCT FROM pg_catalog.pg_current_xact_id() THEN
    PERFORM scoreledger_private.fail('SL423', format(
      'policy change %s is %s: it is decided once, by the acting user, and what it asks never changes', OLD.change_id, OLD.status));
  END IF;
  IF NEW.status = 'confirmed' AND actor = OLD.requested_by THEN
    PERFORM scoreledger_private.fail('SL403', format(
      'dual control: policy change %s must be confirmed by someone other than who requested it', OLD.change_id));
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.tg_policy_changes__audited()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.record_governance_event(
    CASE WHEN TG_OP = 'INSERT' THEN 'policy_requested' ELSE 'policy_' || NEW.status END, NULL, NULL,
    jsonb_strip_nulls(jsonb_build_object('change_id', NEW.change_id, 'require_approval', NEW.require_approval,
                                         'enforce_capabilities', NEW.enforce_capabilities)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER policy_changes_guarded BEFORE INSERT OR UPDATE ON scoreledger_private.policy_changes
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_policy_changes__guard();
SELECT scoreledger_private.declare_guard('scoreledger_private.policy_changes', 'policy_changes_guarded',
  'a policy change is requested pending and decided once, a confirmation by someone other than the requester');
CREATE OR REPLACE TRIGGER policy_changes_audited AFTER INSERT OR UPDATE ON scoreledger_private.policy_changes
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_policy_changes__audited();
SELECT scoreledger_private.declare_guard('scoreledger_private.policy_changes', 'policy_changes_audited',
  'every policy request, confirmation and supersession writes its governance event');
CREATE OR REPLACE TRIGGER policy_changes_never_deleted BEFORE DELETE ON scoreledger_private.policy_changes
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.policy_changes', 'policy_changes_never_deleted',
  'policy changes are never deleted');
CREATE OR REPLACE TRIGGER policy_changes_never_truncated BEFORE TRUNCATE ON scoreledger_private.policy_changes
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.policy_changes', 'policy_changes_never_truncated',
  'policy changes are never truncated');

-- Moves a locked batch to the status require_transition returned, and
-- records the event. The workflow trigger refuses, whoever writes, a move
-- the state machine (sql/25_workflow.sql) does not allow.
CREATE OR REPLACE FUNCTION scoreledger_private.transition_batch(
  batch scoreledger_private.correction_batches, to_status text, note text DEFAULT NULL)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  UPDATE scoreledger_private.correction_batches b SET status = to_status
  WHERE b.tenant_id = batch.tenant_id AND b.batch_id = batch.batch_id;
  PERFORM scoreledger_private.record_batch_event(batch.batch_id, batch.status, to_status, note);
  RETURN jsonb_build_object('batch_id', batch.batch_id, 'status', to_status, 'previous_status', batch.status);
END
$$;

-- Administration under enforced capabilities: changing grants or policy
-- needs approve_batch, and never for oneself — otherwise a maker could grant
-- themselves apply_batch, or switch approval off, and skip review.
CREATE OR REPLACE FUNCTION scoreledger_private.require_administrator(subject uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
BEGIN
  -- Administration of one tenant takes turns on its tenant row: two
  -- administrators revoking each other at once must not both succeed and
  -- leave nobody able to administer.
  PERFORM 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant FOR NO KEY UPDATE;
  IF EXISTS (SELECT 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant AND t.enforce_capabilities) THEN
    PERFORM scoreledger_private.require_capability('approve_batch');
    IF subject = actor THEN
      PERFORM scoreledger_private.fail('SL403', 'dual control: with capabilities enforced, nobody changes their own capabilities');
    END IF;
  END IF;
END
$$;

-- The tenant's policy as set_tenant_policy and confirm_tenant_policy
-- return it: the settings in force, plus the pending change if there is
-- one (the key is absent otherwise, so a caller of v1 sees what it saw).
CREATE OR REPLACE FUNCTION scoreledger_private.policy_document(tenant uuid)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  SELECT jsonb_build_object('require_approval', t.require_approval, 'enforce_capabilities', t.enforce_capabilities)
         || coalesce((SELECT jsonb_build_object('pending_change', jsonb_build_object(
                        'change_id', c.change_id, 'require_approval', c.require_approval,
                        'enforce_capabilities', c.enforce_capabilities,
                        'requested_by', c.requested_by, 'requested_at', c.requested_at))
                      FROM scoreledger_private.policy_changes c
                      WHERE c.tenant_id = t.tenant_id AND c.status = 'pending'), '{}')
  FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant
$$;

CREATE OR REPLACE FUNCTION scoreledger.set_tenant_policy(require_approval boolean, enforce_capabilities boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  current_policy scoreledger_private.tenants;
  lower_approval boolean;
  lower_capabilities boolean;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.set_tenant_policy', 'tenant+registry');
  SELECT * INTO current_policy FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant FOR UPDATE;
  PERFORM scoreledger_private.require_administrator(NULL);
  lower_approval := current_policy.require_approval AND NOT set_tenant_policy.require_approval;
  lower_capabilities := current_policy.enforce_capabilities AND NOT set_tenant_policy.enforce_capabilities;
  -- Enforcing with nobody able to administer would lock the tenant out.
  IF set_tenant_policy.enforce_capabilities AND NOT current_policy.enforce_capabilities
     AND NOT EXISTS (SELECT 1 FROM scoreledger_private.capability_grants g
                     WHERE g.tenant_id = tenant AND g.capability = 'approve_batch') THEN
    PERFORM scoreledger_private.fail('SL409', 'grant approve_batch to at least one user before enforcing capabilities');
  END IF;
  IF lower_approval OR lower_capabilities THEN
    PERFORM scoreledger_private.require_capability('manage_policy');
  END IF;
  -- Raising is immediate (the row's trigger writes the event).
  UPDATE scoreledger_private.tenants t
     SET require_approval = t.require_approval OR coalesce(set_tenant_policy.require_approval, false),
         enforce_capabilities = t.enforce_capabilities OR coalesce(set_tenant_policy.enforce_capabilities, false)
   WHERE t.tenant_id = tenant
     AND (NOT t.require_approval AND set_tenant_policy.require_approval
          OR NOT t.enforce_capabilities AND set_tenant_policy.enforce_capabilities);
  -- Lowering waits for a different actor; a new request supersedes the
  -- pending one (both are events, written by the table's trigger).
  IF lower_approval OR lower_capabilities THEN
    UPDATE scoreledger_private.policy_changes c
       SET status = 'superseded', decided_by = actor, decided_at = clock_timestamp(),
           decided_in = pg_catalog.pg_current_xact_id()
     WHERE c.tenant_id = tenant AND c.status = 'pending';
    INSERT INTO scoreledger_private.policy_changes
      (tenant_id, change_id, require_approval, enforce_capabilities, status, requested_by)
    VALUES (tenant, gen_random_uuid(), CASE WHEN lower_approval THEN false END,
            CASE WHEN lower_capabilities THEN false END, 'pending', actor);
  END IF;
  RETURN scoreledger_private.policy_document(tenant);
END
$$;
COMMENT ON FUNCTION scoreledger.set_tenant_policy(boolean, boolean) IS
  'Sets the tenant''s governance policy (null keeps a setting as it is): require_approval makes apply need an approved batch; enforce_capabilities makes every batch action need the actor''s capability. Raising takes effect at once; lowering becomes a pending change (returned as pending_change, superseding any earlier one) that another user confirms with confirm_tenant_policy. Under enforce_capabilities a lowering needs manage_policy. Audited; returns the policy in force.';
GRANT EXECUTE ON FUNCTION scoreledger.set_tenant_policy(boolean, boolean) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.confirm_tenant_policy(change_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  change scoreledger_private.policy_changes;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.confirm_tenant_policy', 'tenant+registry');
  -- The tenant row first, as set_tenant_policy takes it: a confirmation
  -- and a superseding request take turns.
  PERFORM 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant FOR UPDATE;
  PERFORM scoreledger_private.require_administrator(NULL);
  PERFORM scoreledger_private.require_capability('manage_policy');
  SELECT * INTO change FROM scoreledger_private.policy_changes c
  WHERE c.tenant_id = tenant AND c.change_id = confirm_tenant_policy.change_id FOR UPDATE;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('policy change %s does not exist', change_id));
  ELSIF change.status <> 'pending' THEN
    PERFORM scoreledger_private.fail('SL409', format('policy change %s is %s, not pending', change_id, change.status));
  ELSIF change.requested_by = actor THEN
    PERFORM scoreledger_private.fail('SL403', format(
      'dual control: you requested policy change %s, so someone else must confirm it', change_id));
  END IF;
  UPDATE scoreledger_private.policy_changes c
     SET status = 'confirmed', decided_by = actor, decided_at = clock_timestamp(),
         decided_in = pg_catalog.pg_current_xact_id()
   WHERE c.tenant_id = tenant AND c.change_id = change.change_id;
  UPDATE scoreledger_private.tenants t
     SET require_approval = t.require_approval AND change.require_approval IS NULL,
         enforce_capabilities = t.enforce_capabilities AND change.enforce_capabilities IS NULL
   WHERE t.tenant_id = tenant;
  RETURN scoreledger_private.policy_document(tenant) || jsonb_build_object('confirmed_change_id', change.change_id);
END
$$;
COMMENT ON FUNCTION scoreledger.confirm_tenant_policy(uuid) IS
  'Confirms a pending policy change (a lowering requested by set_tenant_policy) and applies it. The confirmer must not be its requester (SL403); under enforce_capabilities both need manage_policy. SL404 unknown change, SL409 not pending (confirmed or superseded). Audited; returns the policy in force.';
GRANT EXECUTE ON FUNCTION scoreledger.confirm_tenant_policy(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.grant_capability(user_id uuid, capability text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  granted boolean;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.grant_capability');
  IF user_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'user_id: is required');
  END IF;
  IF capability IS NULL OR capability NOT IN ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch', 'manage_policy',
                                                 'resolve_intervention') THEN
    PERFORM scoreledger_private.fail('SL422', format(
      'capability: unknown capability %L (expected create_batch, approve_batch, apply_batch, revert_batch, manage_policy or resolve_intervention)',
      capability));
  END IF;
  PERFORM scoreledger_private.require_administrator(grant_capability.user_id);
  INSERT INTO scoreledger_private.capability_grants (tenant_id, user_id, capability, granted_by)
  VALUES (tenant, grant_capability.user_id, grant_capability.capability, actor)
  ON CONFLICT DO NOTHING;
  granted := FOUND;
  RETURN granted;
END
$$;
COMMENT ON FUNCTION scoreledger.grant_capability(uuid, text) IS
  'Grants a capability (create_batch, approve_batch, apply_batch, revert_batch, manage_policy, resolve_intervention) to a user; audited. Returns false if already held.';
GRANT EXECUTE ON FUNCTION scoreledger.grant_capability(uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.revoke_capability(user_id uuid, capability text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  revoked boolean;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.revoke_capability');
  PERFORM scoreledger_private.require_actor();
  IF capability IS NULL OR capability NOT IN ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch', 'manage_policy',
                                                 'resolve_intervention') THEN
    PERFORM scoreledger_private.fail('SL422', format('capability: unknown capability %L', capability));
  END IF;
  PERFORM scoreledger_private.require_administrator(revoke_capability.user_id);
  DELETE FROM scoreledger_private.capability_grants g
  WHERE g.tenant_id = tenant AND g.user_id = revoke_capability.user_id AND g.capability = revoke_capability.capability;
  revoked := FOUND;
  RETURN revoked;
END
$$;
COMMENT ON FUNCTION scoreledger.revoke_capability(uuid, text) IS
  'Revokes a capability from a user; audited. Returns false if it was not held.';
GRANT EXECUTE ON FUNCTION scoreledger.revoke_capability(uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.submit_correction_batch(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  batch scoreledger_private.correction_batches;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.submit_correction_batch');
  PERFORM scoreledger_private.require_actor();
  batch := scoreledger_private.lock_batch(batch_id);
  RETURN scoreledger_private.transition_batch(batch, scoreledger_private.require_transition(batch, 'submit'));
END
$$;
COMMENT ON FUNCTION scoreledger.submit_correction_batch(uuid) IS 'Submits a draft batch for review (draft → pending_review).';
GRANT EXECUTE ON FUNCTION scoreledger.submit_correction_batch(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.approve_correction_batch(batch_id uuid, note text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  actor uuid := scoreledger_private.require_actor();
  batch scoreledger_private.correction_batches;
  to_status text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.approve_correction_batch');
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'approve');
  IF actor IN (batch.created_by, coalesce(batch.updated_by, batch.created_by)) OR actor = ANY (batch.payload_editors) THEN
    PERFORM scoreledger_private.fail('SL403', format(
      'dual control: you created, last edited or changed the corrections of batch %s, so someone else must approve it', batch_id));
  END IF;
  PERFORM scoreledger_private.require_text_within('note', note, scoreledger_private.input_limit('reason_chars'));
  RETURN scoreledger_private.transition_batch(batch, to_status, nullif(btrim(note), ''));
END
$$;
COMMENT ON FUNCTION scoreledger.approve_correction_batch(uuid, text) IS
  'Approves a batch under review (pending_review → approved). The approver must not be its creator, its last editor or anyone who changed its corrections (SL403).';
GRANT EXECUTE ON FUNCTION scoreledger.approve_correction_batch(uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.reject_correction_batch(batch_id uuid, note text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  batch scoreledger_private.correction_batches;
  to_status text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.reject_correction_batch');
  PERFORM scoreledger_private.require_actor();
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'reject');
  IF note IS NULL OR note !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'note: say why the batch is rejected');
  END IF;
  PERFORM scoreledger_private.require_text_within('note', note, scoreledger_private.input_limit('reason_chars'));
  RETURN scoreledger_private.transition_batch(batch, to_status, btrim(note));
END
$$;
COMMENT ON FUNCTION scoreledger.reject_correction_batch(uuid, text) IS
  'Rejects a batch under review with a reason (pending_review → rejected). A rejected batch can be edited (back to draft) or discarded.';
GRANT EXECUTE ON FUNCTION scoreledger.reject_correction_batch(uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.discard_correction_batch(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  batch scoreledger_private.correction_batches;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.discard_correction_batch');
  PERFORM scoreledger_private.require_actor();
  batch := scoreledger_private.lock_batch(batch_id);
  RETURN scoreledger_private.transition_batch(batch, scoreledger_private.require_transition(batch, 'discard'));
END
$$;
COMMENT ON FUNCTION scoreledger.discard_correction_batch(uuid) IS
  'Discards a batch that was never applied; it stays on record, final.';
GRANT EXECUTE ON FUNCTION scoreledger.discard_correction_batch(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.update_correction_batch(batch_id uuid, reason text, corrections jsonb)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  actor uuid := scoreledger_private.require_actor();
  batch scoreledger_private.correction_batches;
  to_status text;
  expanded jsonb;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.update_correction_batch');
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'edit');
  IF reason IS NOT NULL AND reason !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'reason: must not be empty (say why the scores change)');
  END IF;
  PERFORM scoreledger_private.require_text_within('reason', reason, scoreledger_private.input_limit('reason_chars'));
  IF corrections IS NOT NULL THEN
    expanded := scoreledger_private.expand_corrections(corrections);
    DELETE FROM scoreledger_private.correction_submissions cs WHERE cs.tenant_id = batch.tenant_id AND cs.batch_id = batch.batch_id;
    DELETE FROM scoreledger_private.corrections c WHERE c.tenant_id = batch.tenant_id AND c.batch_id = batch.batch_id;
    PERFORM scoreledger_private.store_corrections(batch.batch_id, expanded);
    PERFORM scoreledger_private.store_preview_figures(batch.batch_id);
  END IF;
  UPDATE scoreledger_private.correction_batches b
     SET reason = coalesce(btrim(update_correction_batch.reason, E' \t\r\n'), b.reason),
         payload = coalesce(expanded, b.payload), updated_by = actor, updated_at = clock_timestamp()
   WHERE b.tenant_id = batch.tenant_id AND b.batch_id = batch.batch_id;
  -- An edit voids a review or an approval (the new content needs its own):
  -- the machine's edit leads back to draft from every editable status.
  RETURN scoreledger_private.transition_batch(batch, to_status, 'edited');
END
$$;
COMMENT ON FUNCTION scoreledger.update_correction_batch(uuid, text, jsonb) IS
  'Edits a batch not yet applied (null keeps reason or corrections; new corrections are expanded as at creation). A submitted, approved or rejected batch goes back to draft: an approval never covers content it did not see.';
GRANT EXECUTE ON FUNCTION scoreledger.update_correction_batch(uuid, text, jsonb) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.capabilities AS
  SELECT g.user_id, g.capability, g.granted_by, g.granted_at FROM scoreledger_private.capability_grants g;
COMMENT ON VIEW scoreledger.capabilities IS 'Capabilities held by users of the current tenant.';
GRANT SELECT ON scoreledger.capabilities TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.governance_events AS
  SELECT e.event_id, e.kind, e.user_id, e.capability, e.detail, e.actor_id, e.occurred_at
  FROM scoreledger_private.governance_events e;
COMMENT ON VIEW scoreledger.governance_events IS
  'Append-only audit of capability grants, revokes, policy changes, and policy change requests, confirmations and supersessions.';
GRANT SELECT ON scoreledger.governance_events TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.policy_changes AS
  SELECT c.change_id, c.status, c.require_approval, c.enforce_capabilities, c.requested_by, c.requested_at,
         c.decided_by, c.decided_at
  FROM scoreledger_private.policy_changes c;
COMMENT ON VIEW scoreledger.policy_changes IS
  'Requested lowerings of the tenant''s policy: pending (awaiting another user''s confirm_tenant_policy), confirmed or superseded; a lowered setting reads false, one left alone null.';
GRANT SELECT ON scoreledger.policy_changes TO scoreledger_app;
