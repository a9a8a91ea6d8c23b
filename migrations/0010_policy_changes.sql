-- squawk-ignore-file ban-drop-constraint, constraint-missing-not-valid
-- (Each dropped CHECK is replaced by a wider one in the same statement; the
-- tables validated here are small: grants, governance events, batches.)
-- Dual control of the governance itself (contract section 10): lowering a
-- tenant's protection is a pending change a different actor confirms; the
-- capability that both need (manage_policy); the events of a request, a
-- confirmation and a supersession; who edited a batch's corrections (no
-- payload editor approves it); and a compensating batch that starts as a
-- draft like every other batch and reaches applied through the machine.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

-- One row per requested lowering. A lowered setting holds false, a setting
-- the request leaves alone holds null. decided_in: the transaction that
-- confirmed it, the only one in which the tenant row may be lowered by it.
CREATE TABLE scoreledger_private.policy_changes (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  change_id uuid NOT NULL,
  require_approval boolean CHECK (NOT require_approval),
  enforce_capabilities boolean CHECK (NOT enforce_capabilities),
  status text NOT NULL CHECK (status IN ('pending', 'confirmed', 'superseded')),
  requested_by uuid NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  decided_by uuid,
  decided_at timestamptz,
  decided_in xid8,
  PRIMARY KEY (tenant_id, change_id),
  CHECK (require_approval IS NOT NULL OR enforce_capabilities IS NOT NULL),
  CHECK ((status = 'pending') = (decided_at IS NULL AND decided_by IS NULL AND decided_in IS NULL)),
  CHECK (status <> 'confirmed' OR decided_by <> requested_by)
);
-- At most one pending change per tenant: a new request supersedes it.
CREATE UNIQUE INDEX policy_changes_one_pending ON scoreledger_private.policy_changes (tenant_id) WHERE status = 'pending';

ALTER TABLE scoreledger_private.capability_grants
  DROP CONSTRAINT capability_grants_capability_check,
  ADD CONSTRAINT capability_grants_capability_check CHECK (capability IN
    ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch', 'manage_policy')) NOT VALID;
ALTER TABLE scoreledger_private.capability_grants VALIDATE CONSTRAINT capability_grants_capability_check;

ALTER TABLE scoreledger_private.governance_events
  DROP CONSTRAINT governance_events_kind_check,
  DROP CONSTRAINT governance_events_check,
  ADD CONSTRAINT governance_events_kind_check CHECK (kind IN
    ('grant', 'revoke', 'policy', 'policy_requested', 'policy_confirmed', 'policy_superseded')) NOT VALID,
  ADD CONSTRAINT governance_events_user_check CHECK ((kind IN ('grant', 'revoke')) = (user_id IS NOT NULL)) NOT VALID;
ALTER TABLE scoreledger_private.governance_events VALIDATE CONSTRAINT governance_events_kind_check;
ALTER TABLE scoreledger_private.governance_events VALIDATE CONSTRAINT governance_events_user_check;

-- Everyone who changed the corrections of a batch (its creator included),
-- kept by the guards of the corrections tables; none of them may approve it.
ALTER TABLE scoreledger_private.correction_batches
  ADD COLUMN payload_editors uuid[] NOT NULL DEFAULT '{}';

-- A compensating batch is inserted as a draft and moved to applied by the
-- machine's `compensate`.
ALTER TABLE scoreledger_private.correction_batches
  DROP CONSTRAINT correction_batches_check3,
  ADD CONSTRAINT correction_batches_compensating_status CHECK (reverts_batch_id IS NULL OR status IN ('draft', 'applied')) NOT VALID;
ALTER TABLE scoreledger_private.correction_batches VALIDATE CONSTRAINT correction_batches_compensating_status;

RESET ROLE;

-- Batches created before this migration: their creator edited their corrections.
UPDATE scoreledger_private.correction_batches b SET payload_editors = ARRAY[b.created_by];
