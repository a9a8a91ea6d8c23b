-- Learner locks are bounded (sql/45_attempts.sql, lock_learners): a call
-- deciding for many learners (a bulk recording, an apply) must not take one
-- lock per learner, since the server's shared lock table holds about 64
-- per connection; a call deciding for a few locks each learner exactly.
BEGIN;
SELECT plan(7);

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

SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()), 0,
  'nothing left held after the savepoints');

SELECT * FROM finish();
ROLLBACK;
