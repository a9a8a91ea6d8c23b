-- Learner locks are bounded (sql/45_attempts.sql, lock_learners): a call
-- deciding for many learners (a bulk recording, an apply) must not take one
-- lock per learner, since the server's shared lock table holds about 64
-- per connection; a call deciding for a few locks each learner exactly.
BEGIN;
SELECT plan(14);

RESET ROLE;
CREATE FUNCTION pg_temp.learners(n int) RETURNS TABLE (a uuid[], u uuid[]) LANGUAGE sql AS $$
  SELECT array_agg(tests.uuid_of('assignment', 320) ORDER BY g), array_agg(tests.uuid_of('learner', g) ORDER BY g)
  FROM generate_series(1, n) g
$$;
CREATE FUNCTION pg_temp.held(keys int) RETURNS TABLE (mode text, n int) LANGUAGE sql AS $$
  SELECT l.mode, count(*)::int FROM pg_locks l
  WHERE l.locktype = 'advisory' AND l.pid = pg_backend_pid() AND l.objsubid = keys GROUP BY l.mode
$$;

SAVEPOINT many;
SELECT scoreledger_private.lock_learners(tests.uuid_of('tenant', 320), l.a, l.u, false, 'test') FROM pg_temp.learners(5000) l;
SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), 64,
  '5,000 learners: 64 locks (every bucket of the tenant), not 5,000');
SELECT is((SELECT array_agg(mode) FROM pg_temp.held(2)), ARRAY['ExclusiveLock'], 'the buckets are held exclusively');
ROLLBACK TO SAVEPOINT many;

SAVEPOINT few;
SELECT scoreledger_private.lock_learners(tests.uuid_of('tenant', 320), l.a, l.u, false, 'test') FROM pg_temp.learners(10) l;
SELECT is((SELECT n FROM pg_temp.held(1) WHERE mode = 'ExclusiveLock'), 10, '10 learners: each learner''s own key, exclusively');
SELECT cmp_ok((SELECT n FROM pg_temp.held(2) WHERE mode = 'ShareLock'), '<=', 10, '... and their buckets shared');
SELECT is((SELECT count(*)::int FROM pg_temp.held(2) WHERE mode = 'ExclusiveLock'), 0, '... no bucket exclusively');
ROLLBACK TO SAVEPOINT few;

SAVEPOINT limit_edge;
SELECT scoreledger_private.lock_learners(tests.uuid_of('tenant', 320), l.a, l.u, false, 'test')
FROM pg_temp.learners(scoreledger_private.learner_lock_limit() + 1) l;
SELECT is((SELECT count(*)::int FROM pg_temp.held(1)), 0, 'one learner over the limit: buckets only');
ROLLBACK TO SAVEPOINT limit_edge;

SAVEPOINT over_limit;
SELECT scoreledger_private.lock_learners(tests.uuid_of('tenant', 320), l.a, l.u, false, 'test')
FROM pg_temp.learners(scoreledger_private.learner_lock_limit() + 1) l;
SELECT is((SELECT n FROM pg_temp.held(2) WHERE mode = 'ExclusiveLock'), 64,
  'one learner over the limit: every bucket of the tenant, not only theirs');
ROLLBACK TO SAVEPOINT over_limit;

SAVEPOINT repeated;
-- 200 entries naming 3 learners: three learners, locked one by one.
SELECT scoreledger_private.lock_learners(tests.uuid_of('tenant', 320), array_agg(l.a[1 + g % 3]), array_agg(l.u[1 + g % 3]),
                                         false, 'test')
FROM pg_temp.learners(3) l CROSS JOIN generate_series(1, 200) g;
SELECT is((SELECT n FROM pg_temp.held(1) WHERE mode = 'ExclusiveLock'), 3, '200 entries of 3 learners: their 3 keys');
ROLLBACK TO SAVEPOINT repeated;

SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), 0,
  'nothing left held after the savepoints');

-- The rule in bulk: past the limit, enact_intervention_rule locks every
-- bucket and no longer looks up the learners its effects reach beyond the
-- pairs it was handed. A recording of 70 learners' remedial work must still
-- complete the interventions of their main assignment (pairs it was not
-- handed), and a recording of 3 the same way one by one.
SELECT scoreledger.create_tenant('Learner locks', tests.uuid_of('tenant', 321));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 321), tests.uuid_of('actor', 321));
SELECT tests.make_evaluation(321);
SELECT tests.make_evaluation(322);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('remedial', 321),
  'title', 'Remedial', 'evaluation_id', tests.uuid_of('evaluation', 322)));
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('main', 321),
  'title', 'Main', 'evaluation_id', tests.uuid_of('evaluation', 321), 'intervention_after_fails', 1,
  'remedial_assignment_id', tests.uuid_of('remedial', 321)));
RESET ROLE;
-- Learners [first, last]: one failed attempt each on the main assignment, or
-- one passed attempt each on the remedial one, in one call.
CREATE FUNCTION pg_temp.record_all(first int, last int, remedial boolean) RETURNS int LANGUAGE sql AS $$
  SELECT scoreledger.record_submissions(jsonb_agg(CASE WHEN remedial
    THEN tests.submission_doc(322, g, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','C'], NULL, tests.uuid_of('remedial', 321))
    ELSE tests.submission_doc(321, g, ARRAY['A'], ARRAY['C'], ARRAY['D'], NULL, tests.uuid_of('main', 321)) END))
  FROM generate_series(first, last) g
$$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA pg_temp TO PUBLIC;
SET LOCAL ROLE scoreledger_app;

SELECT pg_temp.record_all(1, 73, false);
SELECT is((SELECT count(*)::int FROM scoreledger.remedial_assignments WHERE status = 'issued'), 73,
  '73 failures in one call: 73 interventions open, each with remedial work issued');
SELECT pg_temp.record_all(1, 70, true);
SELECT is((SELECT count(*)::int FROM scoreledger.interventions WHERE status = 'resolved'), 70,
  '70 remedial passes in one call (past the limit): their 70 interventions resolved');
SELECT is((SELECT count(*)::int FROM scoreledger.remedial_assignments WHERE status = 'completed'), 70,
  '... and their remedial work completed');
SELECT pg_temp.record_all(71, 73, true);
SELECT is((SELECT count(*)::int FROM scoreledger.interventions WHERE status = 'open'), 0,
  '3 remedial passes in one call (one by one): the last 3 resolved');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM scoreledger.check_invariants() WHERE breaches <> 0), 0,
  'check finds no breach');

SELECT * FROM finish();
ROLLBACK;
