-- The impact figures of a batch, stored where the action center reads them
-- (scoreledger.batch_next_actions): written from the preview routine when a
-- batch is created or edited, and from what apply or revert wrote. Listing
-- batches then never recomputes a preview (9.5 s per open batch at 1M
-- submissions). figures_at says when they were taken.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

ALTER TABLE scoreledger_private.correction_batches
  ADD COLUMN figures_submissions_affected integer,
  ADD COLUMN figures_pass_to_fail integer,
  ADD COLUMN figures_fail_to_pass integer,
  ADD COLUMN figures_at timestamptz;

RESET ROLE;

-- Batches applied before this migration: what apply wrote (pass/fail
-- counts were not recorded then); open ones get theirs at their next edit.
-- Run as the migrating role: the owner is bound by the forced row security
-- and would see no tenant's rows.
UPDATE scoreledger_private.correction_batches b
   SET figures_submissions_affected = (b.apply_result->>'submissions_rescored')::integer,
       figures_at = b.applied_at
 WHERE b.apply_result IS NOT NULL;
