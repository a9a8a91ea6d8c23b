-- squawk-ignore-file ban-drop-function
-- (a private function no client calls: the loader recreates it in the same
-- migrate, after the migrations.)
-- learner_outcomes (sql/45_attempts.sql) now also returns the learner's
-- open intervention, read in the same probe as the latest resolution, so
-- the gate and the intervention rule no longer probe for it apart: a
-- function's result columns cannot change in place, and the loader, which
-- runs after the migrations, recreates it. (IF EXISTS: on a new database
-- no function exists yet when the migrations run.)
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

SET ROLE scoreledger_owner;

DROP FUNCTION IF EXISTS scoreledger_private.learner_outcomes(uuid[], uuid[], jsonb);

RESET ROLE;
