-- =====================================================================
-- Scoring: the ONE scoring routine. Recording, apply, revert, preview and
-- `check` all score through these functions:
--   active_batches  which correction batches are in effect
--   item_states     the effective state of items under those batches
--   scoped_credits  per-submission mark_correct grants under those batches
--   item_award / item_max   points of one answer under an item state
-- The SQL functions here are plain SELECTs/expressions (no SET clauses, not
-- SECURITY DEFINER) so the planner inlines them into set-based callers.
-- =====================================================================

-- Points a selection earns under a key (section 4 of the contract), with
-- option sets as bitmasks.
CREATE OR REPLACE FUNCTION scoreledger_private.awarded_points(
  kind text, scoring text, points numeric, key_mask bigint, selected_mask bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN kind = 'single_choice' THEN
      CASE WHEN bit_count(selected_mask::bit(64)) = 1 AND (selected_mask & key_mask) <> 0 THEN points ELSE 0 END
    WHEN scoring = 'exact' THEN
      CASE WHEN selected_mask = key_mask THEN points ELSE 0 END
    ELSE
      -- trim_scale: 3 × 1/1 is stored as 3, not 3.0000000000000000.
      trim_scale(points * greatest(0, bit_count((selected_mask & key_mask)::bit(64))
                                      - bit_count((selected_mask & ~key_mask)::bit(64)))
                        / bit_count(key_mask::bit(64)))
  END
$$;

-- An answer's points under an item's effective state: dropped beats
-- mark_correct beats the (possibly replaced) key.
CREATE OR REPLACE FUNCTION scoreledger_private.item_award(
  kind text, scoring text, points numeric, key_mask bigint, dropped boolean, credited boolean, selected_mask bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN dropped THEN 0::numeric
    WHEN credited THEN points
    ELSE scoreledger_private.awarded_points(kind, scoring, points, key_mask, selected_mask)
  END
$$;

-- passed = max_score > 0 and score >= pass_mark × max_score (contract §4).
CREATE OR REPLACE FUNCTION scoreledger_private.is_passing(score numeric, max_score numeric, pass_mark numeric)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT max_score > 0 AND score >= pass_mark * max_score
$$;
-- Used inside the submissions view, which checks EXECUTE against the caller.
GRANT EXECUTE ON FUNCTION scoreledger_private.is_passing(numeric, numeric, numeric) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger_private.item_max(points numeric, dropped boolean)
RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN dropped THEN 0::numeric ELSE points END
$$;

-- The batches in effect: non-compensating ones in a status whose
-- corrections count (in_effect of sql/25_workflow.sql: applied), plus `with_batch`
-- (as the most recent apply: a preview or an apply in progress) and minus
-- `without_batch` (a revert). Compensating batches carry the original's
-- payload for the record only; they never correct anything themselves.
CREATE OR REPLACE FUNCTION scoreledger_private.active_batches(with_batch uuid DEFAULT NULL, without_batch uuid DEFAULT NULL)
RETURNS TABLE (batch_id uuid, apply_order bigint)
LANGUAGE sql STABLE
AS $$
  SELECT b.batch_id,
         CASE WHEN b.batch_id = with_batch THEN 9223372036854775807 ELSE b.applied_seq END
  FROM scoreledger_private.correction_batches b
  WHERE b.tenant_id = (SELECT scoreledger.current_tenant())
    AND ((b.status IN (SELECT s.status FROM scoreledger_private.workflow_statuses s
                       WHERE s.machine = 'batch' AND s.in_effect)
          AND b.reverts_batch_id IS NULL)
         OR b.batch_id = with_batch)
    AND b.batch_id IS DISTINCT FROM without_batch
$$;

-- Effective state of the items of `evaluation_version_ids` (restricted to
-- `question_version_ids` when given) under the active batches.
CREATE OR REPLACE FUNCTION scoreledger_private.item_states(
  evaluation_version_ids uuid[], question_version_ids uuid[] DEFAULT NULL,
  with_batch uuid DEFAULT NULL, without_batch uuid DEFAULT NULL)
RETURNS TABLE (evaluation_version_id uuid, question_version_id uuid, kind text, scoring text, points numeric,
               options text[], key_mask bigint, dropped boolean, credit_all boolean, credit_scoped boolean)
LANGUAGE sql STABLE
AS $$
  WITH active AS MATERIALIZED (
    SELECT * FROM scoreledger_private.active_batches(with_batch, without_batch)
  ), active_corrections AS MATERIALIZED (
    SELECT c.evaluation_version_id, c.question_version_id, c.correction_type, c.correct_mask, c.scoped, a.apply_order
    FROM scoreledger_private.corrections c
    JOIN active a ON a.batch_id = c.batch_id
    WHERE c.tenant_id = (SELECT scoreledger.current_tenant())
      AND c.evaluation_version_id = ANY (evaluation_version_ids)
  )
  SELECT i.evaluation_version_id, i.question_version_id, q.kind, q.scoring, q.points, q.options,
         coalesce((SELECT ac.correct_mask FROM active_corrections ac
                    WHERE ac.evaluation_version_id = i.evaluation_version_id
                      AND ac.question_version_id = i.question_version_id
                      AND ac.correction_type = 'replace_key'
                    ORDER BY ac.apply_order DESC LIMIT 1), q.correct_mask),
         EXISTS (SELECT 1 FROM active_corrections ac
                  WHERE ac.evaluation_version_id = i.evaluation_version_id
                    AND ac.question_version_id = i.question_version_id AND ac.correction_type = 'drop_item'),
         EXISTS (SELECT 1 FROM active_corrections ac
                  WHERE ac.evaluation_version_id = i.evaluation_version_id
                    AND ac.question_version_id = i.question_version_id
                    AND ac.correction_type = 'mark_correct' AND NOT ac.scoped),
         EXISTS (SELECT 1 FROM active_corrections ac
                  WHERE ac.evaluation_version_id = i.evaluation_version_id
                    AND ac.question_version_id = i.question_version_id
                    AND ac.correction_type = 'mark_correct' AND ac.scoped)
  FROM scoreledger_private.items i
  JOIN scoreledger_private.question_versions q
    ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id
  WHERE i.tenant_id = (SELECT scoreledger.current_tenant())
    AND i.evaluation_version_id = ANY (evaluation_version_ids)
    AND (question_version_ids IS NULL OR i.question_version_id = ANY (question_version_ids))
$$;

-- Submissions given full credit on one item by an active scoped mark_correct.
CREATE OR REPLACE FUNCTION scoreledger_private.scoped_credits(
  evaluation_version_ids uuid[], with_batch uuid DEFAULT NULL, without_batch uuid DEFAULT NULL)
RETURNS TABLE (evaluation_version_id uuid, question_version_id uuid, submission_id uuid)
LANGUAGE sql STABLE
AS $$
  SELECT DISTINCT c.evaluation_version_id, c.question_version_id, cs.submission_id
  FROM scoreledger_private.active_batches(with_batch, without_batch) a
  JOIN scoreledger_private.corrections c ON c.batch_id = a.batch_id AND c.tenant_id = (SELECT scoreledger.current_tenant())
  JOIN scoreledger_private.correction_submissions cs
    ON cs.tenant_id = c.tenant_id AND cs.batch_id = c.batch_id AND cs.ordinal = c.ordinal
  WHERE c.scoped AND c.evaluation_version_id = ANY (evaluation_version_ids)
$$;

-- Every stored submission of the given versions (all, when null) scored
-- from its raw answers under the active corrections: what `check` compares
-- against the stored score.
CREATE OR REPLACE FUNCTION scoreledger_private.recomputed_scores(evaluation_version_ids uuid[] DEFAULT NULL)
RETURNS TABLE (submission_id uuid, score numeric, max_score numeric)
LANGUAGE sql STABLE
AS $$
  WITH versions AS MATERIALIZED (
    SELECT coalesce(evaluation_version_ids,
                    (SELECT array_agg(v.evaluation_version_id) FROM scoreledger_private.evaluation_versions v
                      WHERE v.tenant_id = (SELECT scoreledger.current_tenant()))) AS ids
  ), states AS MATERIALIZED (
    SELECT st.* FROM versions, scoreledger_private.item_states(versions.ids) st
  ), credits AS MATERIALIZED (
    SELECT sc.* FROM versions, scoreledger_private.scoped_credits(versions.ids) sc
  )
  SELECT s.submission_id,
         sum(scoreledger_private.item_award(st.kind, st.scoring, st.points, st.key_mask, st.dropped,
               st.credit_all OR (st.credit_scoped AND EXISTS (
                 SELECT 1 FROM credits c WHERE c.evaluation_version_id = st.evaluation_version_id
                   AND c.question_version_id = st.question_version_id AND c.submission_id = s.submission_id)),
               a.selected_mask)),
         sum(scoreledger_private.item_max(st.points, st.dropped))
  FROM versions
  JOIN scoreledger_private.submissions s ON s.evaluation_version_id = ANY (versions.ids)
  -- By id, which answers have no index on: whole versions are scored here,
  -- and a hash join reads each table once where probes by number would
  -- visit the answers key once per item.
  JOIN scoreledger_private.answers a ON a.tenant_id = s.tenant_id AND a.submission_id = s.submission_id
  JOIN states st ON st.evaluation_version_id = s.evaluation_version_id AND st.question_version_id = a.question_version_id
  WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
  GROUP BY s.submission_id
$$;

-- The advisory lock that orders scoring of one evaluation version: recording
-- holds it shared; apply and revert take it exclusively twice, for a moment
-- before their bulk pass and from their catch-up to their commit
-- (rescore_batch, sql/49_rescoring.sql). Advisory lock waiters queue
-- fairly (a row lock lets new share lockers overtake a waiting writer, which
-- starved applies under continuous recording). Callers take these in key
-- order, so no two of them ever wait on each other in a cycle.
CREATE OR REPLACE FUNCTION scoreledger_private.version_lock_key(tenant_id uuid, evaluation_version_id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT pg_catalog.hashtextextended('scoreledger.version:' || tenant_id::text || ':' || evaluation_version_id::text, 0)
$$;

-- The lock of one evaluation version's rescoring: apply and revert hold it
-- exclusively for their whole call, so that one batch at a time rescores a
-- version's submissions, while recording (which never takes it) goes on
-- beside their bulk pass.
CREATE OR REPLACE FUNCTION scoreledger_private.version_rescore_lock_key(tenant_id uuid, evaluation_version_id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT pg_catalog.hashtextextended('scoreledger.version_rescore:' || tenant_id::text || ':' || evaluation_version_id::text, 0)
$$;

-- ---------------------------------------------------------------------
-- No deadlock across calls (contract section 10; docs/security.md section 6, item 2)
--
-- Within one call every writer takes its locks in one global order: the
-- batch row; the evaluation versions' rescoring locks (apply, revert), in
-- key order; the versions' locks (shared for recording, exclusive for
-- apply and revert), in key order; rows in key order (attempt counters,
-- then submissions by id); the learners' locks last (sql/45_attempts.sql).
-- One step of apply and revert writes rows before its versions' locks, and
-- is safe: its bulk pass (sql/49_rescoring.sql), between the floor (the
-- versions' locks taken and let go at once) and the catch-up (taken again,
-- kept). It writes history rows, which nobody else can conflict with, and
-- the submissions numbered up to the floor, whose recordings had all ended
-- before the floor: it waits on nobody. Nobody holding a version's lock
-- waits for those rows: a recording that took it before the floor ended
-- before the bulk pass began; one that took it after inserts only the ids
-- it finds absent in a snapshot taken after its lock, which sees every
-- submission up to the floor (insert_submissions, sql/42_recording.sql);
-- the other writers of those rows (apply, revert) wait for the rescoring
-- locks first, holding no version's lock. So an apply waiting for its
-- versions' locks waits only on recordings that do not wait on it, and two
-- single-call transactions never wait on each other in a cycle.
-- A cycle needs a transaction that holds locks from an earlier call and
-- waits in a later one. So a later call never waits. It starts by taking
-- its tenant's writer lock exclusively, if free (begin_writing_call; every
-- writing call holds it shared to its commit): it then runs while no other
-- transaction of the tenant is inside or after a writing call, so no row
-- or lock it meets is held by one. It also takes the advisory locks with
-- the try variants and the batch row NOWAIT, and (recording) the rest
-- under a short lock_timeout, against anything outside the API (the
-- owner's plain DML); a miss is SL409 at once (nothing written by the
-- call; the transaction's earlier work is the caller's to commit or roll
-- back); its versions' locks it keeps from the floor on. A first call may
-- wait: whoever it waits on can only be waiting on a lock of yet another
-- call, never on it, as long as every later call gives up instead of
-- waiting.
-- ---------------------------------------------------------------------

-- The writer lock of a tenant (of the tenant registry, for create_tenant):
-- every writing API call takes it first, a first call shared (writers never
-- wait on each other for it), a later call exclusively and only if it is
-- free. A later call that holds it runs while no other transaction of the
-- tenant has made a writing call, so no row or lock it meets is held by
-- one: it waits on nobody, not even for a moment.
CREATE OR REPLACE FUNCTION scoreledger_private.writer_lock_key(tenant uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT pg_catalog.hashtextextended('scoreledger.writer:' || coalesce(tenant::text, 'registry'), 0)
$$;

-- Whether the API call under way is a *later* call: one made in a
-- transaction that already holds locks another transaction could wait on,
-- from an earlier writing call (begin_writing_call decides once per call,
-- and marks the transaction) or because it wrote or locked a row (then it
-- has a transaction id). The marker carries the transaction's start, as
-- the tenant context does, so a value set any other way is not taken for
-- it. A caller's own advisory locks do not count (its own statements: not
-- guaranteed). Read from the marker, not from pg_locks: the view gathers
-- the lock table of the whole server, 0.4 ms of each start_attempt (p50,
-- twice per call) while the bench's recorders held their locks.
CREATE OR REPLACE FUNCTION scoreledger_private.call_marker(late boolean)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT 'tx:' || extract(epoch FROM now())::text || CASE WHEN late THEN '/later' ELSE '/first' END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.holds_locks()
RETURNS boolean
LANGUAGE sql VOLATILE
AS $$
  SELECT CASE pg_catalog.current_setting('scoreledger.call', true)
    WHEN scoreledger_private.call_marker(true) THEN true
    WHEN scoreledger_private.call_marker(false) THEN false
    ELSE pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL END
$$;

-- The entry of every writing API function, before any work or lock: READ
-- COMMITTED (require_read_committed), then the writer locks of what the
-- function writes (`scope`):
--   tenant           the context's tenant (without a context nothing is
--                    locked: the function refuses with SL401 before it
--                    writes);
--   registry         the tenant registry's: create_tenant;
--   tenant+registry  both: the policy changes, which update the tenant's
--                    registry row (a later create_tenant naming that tenant
--                    would wait on the update in its unique check);
--   none             top_up_scores: run by migrations across every tenant,
--                    in a transaction that has written already; it skips
--                    every locked row (SKIP LOCKED) and so never waits.
-- A later call that finds a lock held by another transaction refuses with
-- SL409 at once.
CREATE OR REPLACE FUNCTION scoreledger_private.begin_writing_call(fn text, scope text DEFAULT 'tenant')
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  keys bigint[];
  late boolean;
  missed boolean;
BEGIN
  PERFORM scoreledger_private.require_read_committed(fn);
  IF scope NOT IN ('tenant', 'registry', 'tenant+registry', 'none') THEN
    PERFORM scoreledger_private.fail('SL422', format('scope: must be tenant, registry, tenant+registry or none, not %s', scope));
  END IF;
  keys := ARRAY(SELECT DISTINCT k FROM unnest(ARRAY[
            CASE WHEN scope IN ('tenant', 'tenant+registry') AND scoreledger.current_tenant() IS NOT NULL
                 THEN scoreledger_private.writer_lock_key(scoreledger.current_tenant()) END,
            CASE WHEN scope IN ('registry', 'tenant+registry') THEN scoreledger_private.writer_lock_key(NULL) END]) k
                WHERE k IS NOT NULL ORDER BY 1);
  -- Any earlier writing call of this transaction makes this one later,
  -- whether or not it left locks (conservative, and one setting to read).
  late := pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL
          OR coalesce(pg_catalog.current_setting('scoreledger.call', true)
                      IN (scoreledger_private.call_marker(true), scoreledger_private.call_marker(false)), false);
  PERFORM pg_catalog.set_config('scoreledger.call', scoreledger_private.call_marker(late), true);
  IF NOT late THEN
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(k) FROM unnest(keys) k;
    RETURN;
  END IF;
  SELECT bool_or(NOT pg_catalog.pg_try_advisory_xact_lock(k)) INTO missed FROM unnest(keys) k;
  IF missed THEN
    PERFORM scoreledger_private.refuse_lock_wait(fn, CASE scope
      WHEN 'registry' THEN 'the tenant registry''s writer lock (it is creating a tenant or changing a policy)'
      WHEN 'tenant+registry' THEN 'the writer lock of the tenant or of the tenant registry (it has made a writing call and not yet ended)'
      ELSE 'the tenant''s writer lock (it has made a writing call in this tenant and not yet ended)' END);
  END IF;
END
$$;

-- The lock_timeout a later recording call runs under, for the waits no try
-- or NOWAIT can take (a row being inserted). Under its tenant's writer lock
-- no API call holds such a row; this bounds a wait on a writer outside the
-- API (the owner's plain INSERT) to a hundredth of deadlock_timeout.
CREATE OR REPLACE FUNCTION scoreledger_private.later_call_lock_timeout()
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT '10ms'::text
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.refuse_lock_wait(fn text, what text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL409', format(
    '%s was made in a transaction that already holds locks; another transaction holds %s; retry, or make this call in its own transaction',
    fn, what));
END
$$;

-- Advisory locks in key order. A later call (`late`) tries them all and
-- refuses with SL409 (naming `what`) if one is taken.
CREATE OR REPLACE FUNCTION scoreledger_private.lock_keys(keys bigint[], exclusive boolean, late boolean, fn text,
                                                         what text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  missed boolean;
BEGIN
  IF NOT late THEN
    PERFORM CASE WHEN exclusive THEN pg_catalog.pg_advisory_xact_lock(k.key)
                 ELSE pg_catalog.pg_advisory_xact_lock_shared(k.key) END
    FROM (SELECT DISTINCT x AS key FROM unnest(keys) x ORDER BY 1) k;
    RETURN;
  END IF;
  SELECT bool_or(NOT CASE WHEN exclusive THEN pg_catalog.pg_try_advisory_xact_lock(k.key)
                          ELSE pg_catalog.pg_try_advisory_xact_lock_shared(k.key) END) INTO missed
  FROM (SELECT DISTINCT x AS key FROM unnest(keys) x ORDER BY 1) k;
  IF missed THEN
    PERFORM scoreledger_private.refuse_lock_wait(fn, what);
  END IF;
END
$$;

-- The advisory locks of evaluation versions, in key order (shared for
-- recording, exclusive for apply and revert).
CREATE OR REPLACE FUNCTION scoreledger_private.lock_versions(tenant uuid, version_ids uuid[], exclusive boolean,
                                                             late boolean, fn text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT scoreledger_private.lock_keys(
    ARRAY(SELECT scoreledger_private.version_lock_key(tenant, v) FROM unnest(version_ids) v), exclusive, late, fn,
    'the lock of an evaluation version this call scores')
$$;

-- The rescoring locks of evaluation versions, exclusive, in key order.
CREATE OR REPLACE FUNCTION scoreledger_private.lock_version_rescoring(tenant uuid, version_ids uuid[], late boolean,
                                                                      fn text)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  SELECT scoreledger_private.lock_keys(
    ARRAY(SELECT scoreledger_private.version_rescore_lock_key(tenant, v) FROM unnest(version_ids) v), true, late, fn,
    'the lock of an evaluation version another batch is rescoring')
$$;

-- The last submission number issued so far, by any session: the identity
-- of submissions.submission_no is not cached per session (CACHE 1, pgTAP
-- 21), so numbers are issued in time order and a submission numbered above
-- this value was inserted after this call.
CREATE OR REPLACE FUNCTION scoreledger_private.last_submission_no()
RETURNS bigint
LANGUAGE sql VOLATILE
AS $$
  SELECT coalesce(pg_catalog.pg_sequence_last_value(
           pg_catalog.pg_get_serial_sequence('scoreledger_private.submissions', 'submission_no')::regclass), 0)
$$;

-- The rescoring floor of evaluation versions (rescore_batch,
-- sql/49_rescoring.sql): takes their locks exclusively, which waits for
-- every recording of them in flight, reads last_submission_no() and lets
-- the locks go at once. Every submission of these versions numbered up to
-- the floor is then committed (or rolled back) and visible to the next
-- statement; every one numbered above it was recorded later. Advisory
-- transaction locks cannot be unlocked: taken in a subtransaction, they go
-- when it rolls back, here by an SL409 that never leaves the block (nothing
-- else in it raises one; were one caught before the floor was read, the
-- call fails). A later call may not wait later either: it keeps the locks
-- (tried) until it commits, so nothing is recorded on them in between.
CREATE OR REPLACE FUNCTION scoreledger_private.recorded_floor(tenant uuid, version_ids uuid[], late boolean, fn text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  floor_no bigint;
BEGIN
  IF late THEN
    PERFORM scoreledger_private.lock_versions(tenant, version_ids, true, true, fn);
    RETURN scoreledger_private.last_submission_no();
  END IF;
  BEGIN
    PERFORM scoreledger_private.lock_versions(tenant, version_ids, true, false, fn);
    floor_no := scoreledger_private.last_submission_no();
    PERFORM scoreledger_private.fail('SL409', 'the version locks of a rescoring floor are released');
  EXCEPTION WHEN SQLSTATE 'SL409' THEN
    IF floor_no IS NULL THEN
      PERFORM scoreledger_private.fail('SL409', format('%s: the evaluation versions could not be locked', fn));
    END IF;
  END;
  RETURN floor_no;
END
$$;
