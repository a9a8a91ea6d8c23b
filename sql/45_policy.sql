-- =====================================================================
-- Tenant policy hooks used by remediation: which state a batch must be in
-- to be applied, and whether the actor holds a capability. Governance
-- (approvals, capabilities) extends these two functions.
-- =====================================================================

CREATE OR REPLACE FUNCTION scoreledger_private.require_applicable(batch scoreledger_private.correction_batches)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF batch.status NOT IN ('draft', 'approved') THEN
    PERFORM scoreledger_private.fail('SL409', format('batch %s is %s; only a draft or approved batch can be applied',
                                                    batch.batch_id, batch.status));
  END IF;
  IF batch.status <> 'approved' AND EXISTS (
       SELECT 1 FROM scoreledger_private.tenants t WHERE t.tenant_id = batch.tenant_id AND t.require_approval) THEN
    PERFORM scoreledger_private.fail('SL409', format('batch %s is %s; this tenant requires approval before apply',
                                                    batch.batch_id, batch.status));
  END IF;
END
$$;

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
