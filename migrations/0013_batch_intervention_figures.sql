-- squawk-ignore-file ban-drop-function
-- (a private function no client calls: the loader recreates it in the same
-- migrate, after the migrations.)
-- The intervention effects of a batch, stored beside its other impact
-- figures (migration 0007) for the action center: how many interventions
-- the batch opens and withdraws, and how much remedial work it completes.
-- Written from the preview routine at create and edit, and from what the
-- intervention rule did at apply or revert. Null on batches written before
-- this migration (their effects were not counted then).
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

ALTER TABLE scoreledger_private.correction_batches
  ADD COLUMN figures_interventions_opened integer,
  ADD COLUMN figures_interventions_withdrawn integer,
  ADD COLUMN figures_remedial_completed integer;

-- rescore_batch (sql/50_remediation.sql) now also returns the rule's
-- counts: a function's result columns cannot change in place, and the
-- loader, which runs after the migrations, recreates it. (IF EXISTS: on a
-- new database no function exists yet when the migrations run.)
DROP FUNCTION IF EXISTS scoreledger_private.rescore_batch(uuid, boolean, uuid, boolean, text);

RESET ROLE;
