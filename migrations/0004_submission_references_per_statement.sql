-- squawk-ignore-file ban-drop-constraint
-- Submissions' references to their evaluation version and assignment are
-- checked once per statement by the trigger `references_exist`
-- (sql/40_submissions.sql), as those of answers and score history already
-- are: a bulk recording fired two row-by-row foreign-key checks per
-- submission, about 5 % of its time. Assignments are never deleted
-- (sql/20_content.sql); evaluation versions never change.
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

-- The guarantee stays: the trigger references_exist checks the same
-- references, for the owner too (pgTAP 07_history_invariants).
ALTER TABLE scoreledger_private.submissions
  DROP CONSTRAINT submissions_tenant_id_evaluation_version_id_evaluation_id_fkey,
  DROP CONSTRAINT submissions_tenant_id_assignment_id_evaluation_id_fkey;

RESET ROLE;
