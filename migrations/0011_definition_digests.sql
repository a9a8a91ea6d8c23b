-- The digest of every function of the two schemas as the latest load left
-- it: `check` reports a function replaced since (a guard's helper such as
-- fail() turned into a no-op disarms every guard that raises through it,
-- while the guard registry sees the guards themselves unchanged). Not
-- tenant data.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

CREATE TABLE scoreledger_private.loaded_functions (
  function_name text PRIMARY KEY,
  definition_md5 text NOT NULL
);

RESET ROLE;
