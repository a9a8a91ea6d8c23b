-- Governance: who may act (capabilities), an audit trail of grants and
-- policy changes, and who last edited a batch (for maker-checker).
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

ALTER TABLE scoreledger_private.correction_batches
  ADD COLUMN updated_by uuid,
  ADD COLUMN updated_at timestamptz;

CREATE TABLE scoreledger_private.capability_grants (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  user_id uuid NOT NULL,
  capability text NOT NULL CHECK (capability IN ('create_batch', 'approve_batch', 'apply_batch', 'revert_batch')),
  granted_by uuid NOT NULL,
  granted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, user_id, capability)
);

-- Append-only: every grant, revoke and policy change, with actor and time.
CREATE TABLE scoreledger_private.governance_events (
  tenant_id uuid NOT NULL REFERENCES scoreledger_private.tenants,
  event_id bigint GENERATED ALWAYS AS IDENTITY,
  kind text NOT NULL CHECK (kind IN ('grant', 'revoke', 'policy')),
  user_id uuid,
  capability text,
  detail jsonb,
  actor_id uuid NOT NULL,
  occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, event_id),
  CHECK ((kind = 'policy') = (user_id IS NULL))
);

RESET ROLE;
