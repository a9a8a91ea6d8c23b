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

CREATE OR REPLACE FUNCTION scoreledger_private.require_capability(capability text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
BEGIN
  IF EXISTS (SELECT 1 FROM scoreledger_private.tenants t
             WHERE t.tenant_id = tenant AND t.enforce_capabilities) THEN
    PERFORM scoreledger_private.fail('SL403', format('capability %s is required', capability));
  END IF;
END
$$;
