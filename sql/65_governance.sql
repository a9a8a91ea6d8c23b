-- =====================================================================
-- Governance: review workflow, dual control and capabilities.
-- Which status a batch may move to, by which action and capability, is
-- the state machine of sql/45_policy.sql; these functions name the action
-- and add what the machine cannot say (dual control, a rejection's note).
-- Every transition is a batch event; every grant, revoke and policy
-- change is a governance event. Both are append-only.
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.capability_grants');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.governance_events');

CREATE OR REPLACE TRIGGER governance_events_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.governance_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.governance_events', 'governance_events_append_only',
  'governance events are append-only');
CREATE OR REPLACE TRIGGER governance_events_never_truncated BEFORE TRUNCATE ON scoreledger_private.governance_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.governance_events', 'governance_events_never_truncated',
  'governance events are never truncated');

CREATE OR REPLACE FUNCTION scoreledger_private.record_governance_event(
  kind text, user_id uuid, capability text, detail jsonb DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  INSERT INTO scoreledger_private.governance_events (tenant_id, kind, user_id, capability, detail, actor_id)
  VALUES (scoreledger.current_tenant(), kind, user_id, capability, detail, scoreledger.current_actor())
$$;

-- Moves a locked batch to the status require_transition returned, and
-- records the event. The workflow trigger refuses, whoever writes, a move
-- the state machine (sql/45_policy.sql) does not allow.
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

CREATE OR REPLACE FUNCTION scoreledger.set_tenant_policy(require_approval boolean, enforce_capabilities boolean)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  before jsonb;
  after jsonb;
BEGIN
  SELECT jsonb_build_object('require_approval', t.require_approval, 'enforce_capabilities', t.enforce_capabilities)
    INTO before
  FROM scoreledger_private.tenants t WHERE t.tenant_id = tenant FOR UPDATE;
  PERFORM scoreledger_private.require_administrator(NULL);
  -- Enforcing with nobody able to administer would lock the tenant out.
  IF set_tenant_policy.enforce_capabilities AND NOT (before->>'enforce_capabilities')::boolean
     AND NOT EXISTS (SELECT 1 FROM scoreledger_private.capability_grants g
                     WHERE g.tenant_id = tenant AND g.capability = 'approve_batch') THEN
    PERFORM scoreledger_private.fail('SL409', 'grant approve_batch to at least one user before enforcing capabilities');
  END IF;
  UPDATE scoreledger_private.tenants t
     SET require_approval = coalesce(set_tenant_policy.require_approval, t.require_approval),
         enforce_capabilities = coalesce(set_tenant_policy.enforce_capabilities, t.enforce_capabilities)
   WHERE t.tenant_id = tenant
  RETURNING jsonb_build_object('require_approval', t.require_approval, 'enforce_capabilities', t.enforce_capabilities)
    INTO after;
  IF after IS DISTINCT FROM before THEN
    PERFORM scoreledger_private.record_governance_event('policy', NULL, NULL,
      jsonb_build_object('before', before, 'after', after));
  END IF;
  RETURN after;
END
$$;
COMMENT ON FUNCTION scoreledger.set_tenant_policy(boolean, boolean) IS
  'Sets the tenant''s governance policy (null keeps a setting as it is): require_approval makes apply need an approved batch; enforce_capabilities makes every batch action need the actor''s capability. Audited; returns the policy.';
GRANT EXECUTE ON FUNCTION scoreledger.set_tenant_policy(boolean, boolean) TO scoreledger_app;

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
  IF user_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'user_id: is required');
  END IF;
  IF capability IS NULL OR capability NOT IN ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch') THEN
    PERFORM scoreledger_private.fail('SL422', format(
      'capability: unknown capability %L (expected create_batch, approve_batch, apply_batch or revert_batch)', capability));
  END IF;
  PERFORM scoreledger_private.require_administrator(grant_capability.user_id);
  INSERT INTO scoreledger_private.capability_grants (tenant_id, user_id, capability, granted_by)
  VALUES (tenant, grant_capability.user_id, grant_capability.capability, actor)
  ON CONFLICT DO NOTHING;
  granted := FOUND;
  IF granted THEN
    PERFORM scoreledger_private.record_governance_event('grant', grant_capability.user_id, grant_capability.capability);
  END IF;
  RETURN granted;
END
$$;
COMMENT ON FUNCTION scoreledger.grant_capability(uuid, text) IS
  'Grants a capability (create_batch, approve_batch, apply_batch, revert_batch) to a user; audited. Returns false if already held.';
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
  PERFORM scoreledger_private.require_actor();
  IF capability IS NULL OR capability NOT IN ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch') THEN
    PERFORM scoreledger_private.fail('SL422', format('capability: unknown capability %L', capability));
  END IF;
  PERFORM scoreledger_private.require_administrator(revoke_capability.user_id);
  DELETE FROM scoreledger_private.capability_grants g
  WHERE g.tenant_id = tenant AND g.user_id = revoke_capability.user_id AND g.capability = revoke_capability.capability;
  revoked := FOUND;
  IF revoked THEN
    PERFORM scoreledger_private.record_governance_event('revoke', revoke_capability.user_id, revoke_capability.capability);
  END IF;
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
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'approve');
  IF actor IN (batch.created_by, coalesce(batch.updated_by, batch.created_by)) THEN
    PERFORM scoreledger_private.fail('SL403', format(
      'dual control: you created or last edited batch %s, so someone else must approve it', batch_id));
  END IF;
  RETURN scoreledger_private.transition_batch(batch, to_status, nullif(btrim(note), ''));
END
$$;
COMMENT ON FUNCTION scoreledger.approve_correction_batch(uuid, text) IS
  'Approves a batch under review (pending_review → approved). The approver must not be its creator or last editor (SL403).';
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
  PERFORM scoreledger_private.require_actor();
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'reject');
  IF note IS NULL OR note !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'note: say why the batch is rejected');
  END IF;
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
BEGIN
  batch := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(batch, 'edit');
  IF reason IS NOT NULL AND reason !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'reason: must not be empty (say why the scores change)');
  END IF;
  IF corrections IS NOT NULL THEN
    PERFORM scoreledger_private.validate_corrections(corrections);
    DELETE FROM scoreledger_private.correction_submissions cs WHERE cs.tenant_id = batch.tenant_id AND cs.batch_id = batch.batch_id;
    DELETE FROM scoreledger_private.corrections c WHERE c.tenant_id = batch.tenant_id AND c.batch_id = batch.batch_id;
    PERFORM scoreledger_private.store_corrections(batch.batch_id, corrections);
    PERFORM scoreledger_private.store_preview_figures(batch.batch_id);
  END IF;
  UPDATE scoreledger_private.correction_batches b
     SET reason = coalesce(btrim(update_correction_batch.reason, E' \t\r\n'), b.reason),
         payload = coalesce(corrections, b.payload), updated_by = actor, updated_at = clock_timestamp()
   WHERE b.tenant_id = batch.tenant_id AND b.batch_id = batch.batch_id;
  -- An edit voids a review or an approval (the new content needs its own):
  -- the machine's edit leads back to draft from every editable status.
  RETURN scoreledger_private.transition_batch(batch, to_status, 'edited');
END
$$;
COMMENT ON FUNCTION scoreledger.update_correction_batch(uuid, text, jsonb) IS
  'Edits a batch not yet applied (null keeps reason or corrections). A submitted, approved or rejected batch goes back to draft: an approval never covers content it did not see.';
GRANT EXECUTE ON FUNCTION scoreledger.update_correction_batch(uuid, text, jsonb) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.capabilities AS
  SELECT g.user_id, g.capability, g.granted_by, g.granted_at FROM scoreledger_private.capability_grants g;
COMMENT ON VIEW scoreledger.capabilities IS 'Capabilities held by users of the current tenant.';
GRANT SELECT ON scoreledger.capabilities TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.governance_events AS
  SELECT e.event_id, e.kind, e.user_id, e.capability, e.detail, e.actor_id, e.occurred_at
  FROM scoreledger_private.governance_events e;
COMMENT ON VIEW scoreledger.governance_events IS 'Append-only audit of capability grants, revokes and policy changes.';
GRANT SELECT ON scoreledger.governance_events TO scoreledger_app;
