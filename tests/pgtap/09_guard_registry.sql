-- The guard registry (sql/05_guards.sql): every trigger on a private table
-- is declared, and check reports a guard that is dropped, disabled, pointed
-- at another function, re-created with another definition, or whose
-- function body was replaced, and a trigger nobody declared -- as the
-- owner, who can do all of these.
BEGIN;
SELECT plan(13);

CREATE FUNCTION tests.guard_breaches() RETURNS bigint LANGUAGE sql AS $$
  SELECT c.breaches FROM scoreledger.check_invariants() c
  WHERE c.scope = 'database' AND c.invariant = 'every registered guard installed, enabled and unchanged'
$$;
CREATE FUNCTION tests.guard_sample() RETURNS text LANGUAGE sql AS $$
  SELECT c.sample FROM scoreledger.check_invariants() c
  WHERE c.scope = 'database' AND c.invariant = 'every registered guard installed, enabled and unchanged'
$$;

SELECT is_empty($$
  SELECT t.tgrelid::regclass || '.' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND NOT t.tgisinternal
    AND NOT EXISTS (SELECT 1 FROM scoreledger_private.guards g
                    WHERE g.table_name = t.tgrelid::regclass::text AND g.trigger_name = t.tgname)$$,
  'every trigger on a private table is declared in the guard registry');
SELECT is(tests.guard_breaches(), 0::bigint, 'a fresh load has every guard installed, enabled and unchanged');

SET LOCAL ROLE scoreledger_owner;

SAVEPOINT tamper;
ALTER TABLE scoreledger_private.score_history DISABLE TRIGGER history_append_only;
SELECT is(tests.guard_breaches(), 1::bigint, 'a disabled guard is a breach');
SELECT is(tests.guard_sample(), 'scoreledger_private.score_history.history_append_only: disabled', 'and is named');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
DROP TRIGGER batch_events_append_only ON scoreledger_private.batch_events;
SELECT is(tests.guard_sample(), 'scoreledger_private.batch_events.batch_events_append_only: missing', 'a dropped guard is named missing');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
-- The attack of the hardening review: keep the trigger, gut its function.
CREATE OR REPLACE FUNCTION scoreledger_private.tg__append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NULL;
END
$$;
SELECT is(tests.guard_breaches(),
          (SELECT count(*) FROM scoreledger_private.guards WHERE function_name = 'scoreledger_private.tg__append_only()'),
          'replacing a guard function''s body is a breach of every guard that calls it');
SELECT ok(tests.guard_sample() LIKE '%history_append_only: function replaced since load%', 'and names them');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
CREATE FUNCTION scoreledger_private.tg_nothing() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
DROP TRIGGER history_append_only ON scoreledger_private.score_history;
CREATE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_nothing();
SELECT is(tests.guard_sample(), 'scoreledger_private.score_history.history_append_only: calls scoreledger_private.tg_nothing()',
          'a guard re-pointed at another function is a breach');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
-- Same name, same function, fewer events: DELETE no longer guarded.
CREATE OR REPLACE TRIGGER history_append_only BEFORE UPDATE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT is(tests.guard_sample(), 'scoreledger_private.score_history.history_append_only: trigger redefined since load',
          'a guard re-created with fewer events is a breach');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
CREATE FUNCTION scoreledger_private.tg_unlisted() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE TRIGGER unlisted BEFORE INSERT ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_unlisted();
SELECT is(tests.guard_sample(), 'scoreledger_private.score_history.unlisted: not a registered guard',
          'a trigger nobody declared is a breach (a guard must be in the registry to be checked)');
ROLLBACK TO SAVEPOINT tamper;

SAVEPOINT tamper;
-- Every guard raises through fail(): gutting it disarms them all while each
-- guard's own trigger and function stay as loaded.
CREATE OR REPLACE FUNCTION scoreledger_private.fail(code text, message text, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql STABLE AS $$ BEGIN END $$;
SELECT is((SELECT c.sample FROM scoreledger.check_invariants() c
           WHERE c.scope = 'database' AND c.invariant = 'every function unchanged since the latest load'),
          'scoreledger_private.fail(text,text,text) (replaced)',
          'a replaced helper of the guards (fail) is a breach of its own');
ROLLBACK TO SAVEPOINT tamper;

RESET ROLE;
SELECT is(tests.guard_breaches(), 0::bigint, 'and all is well again once the tampering is undone');
SELECT is((SELECT c.breaches FROM scoreledger.check_invariants() c
           WHERE c.scope = 'database' AND c.invariant = 'every function unchanged since the latest load'),
          0::bigint, 'every function is as the latest load left it');

SELECT * FROM finish();
ROLLBACK;
