-- The guard registry: every trigger that guards an invariant, the function
-- behind it and a digest of that function's definition at load time. The
-- sql/ files declare their guards as they create them (declare_guard);
-- `check` compares the catalog with this list, so a dropped, disabled or
-- replaced guard is a reported breach. Not tenant data.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

CREATE TABLE scoreledger_private.guards (
  table_name text NOT NULL,
  trigger_name text NOT NULL,
  function_name text NOT NULL,
  definition_md5 text NOT NULL,
  purpose text NOT NULL,
  declared_in xid8 NOT NULL,
  PRIMARY KEY (table_name, trigger_name)
);

RESET ROLE;
