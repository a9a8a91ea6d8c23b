-- =====================================================================
-- Attempts (contract section 11): an assignment's attempt rules, the
-- learner's outcome and counts as the rules read them, and the gate a
-- delivery system calls before it opens an exam session.
--
-- learner_outcomes is the one place Phase 5 reads a learner's assignment
-- outcome (attempt policy), failed attempts and attempts used: the gate,
-- the intervention rule (sql/46_interventions.sql), learner_status and
-- check all read it. It reads scores from the table, or from an override
-- relation (submission ids with the scores a preview computed), so the
-- preview feeds the same rule the scores apply would write.
--
-- Locks: one advisory lock per (tenant, assignment, user), taken after
-- every other lock of a call (version locks, rows) and in key order, by
-- whoever decides or changes a learner's gate: start_attempt, recording,
-- apply and revert (through the intervention rule), open and resolve.
-- =====================================================================

SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.assignment_rule_events');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.attempt_starts');

-- Rule changes are events: never rewritten.
CREATE OR REPLACE TRIGGER assignment_rule_events_append_only BEFORE UPDATE OR DELETE
  ON scoreledger_private.assignment_rule_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.assignment_rule_events', 'assignment_rule_events_append_only',
  'assignment rule changes are append-only events');
CREATE OR REPLACE TRIGGER assignment_rule_events_never_truncated BEFORE TRUNCATE ON scoreledger_private.assignment_rule_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.assignment_rule_events', 'assignment_rule_events_never_truncated',
  'assignment rule changes are never truncated');

-- A start is a fact the count of attempts rests on.
CREATE OR REPLACE TRIGGER attempt_start_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.attempt_starts
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.attempt_starts', 'attempt_start_immutable',
  'attempt starts never change (attempts used are counted from them)');
CREATE OR REPLACE TRIGGER attempt_start_never_truncated BEFORE TRUNCATE ON scoreledger_private.attempt_starts
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.attempt_starts', 'attempt_start_never_truncated',
  'attempt starts are never truncated');

-- ---------------------------------------------------------------------
-- Attempt rules of an assignment document
-- ---------------------------------------------------------------------

-- The rules of an assignment document, checked (SL422 naming the field;
-- SL404 for a remedial assignment that is not one of this tenant's) and
-- normalised: every rule present, defaults filled in.
CREATE OR REPLACE FUNCTION scoreledger_private.assignment_rules(doc jsonb, tenant uuid, assignment_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  cooldown interval;
  remedial uuid;
  field text;
BEGIN
  FOREACH field IN ARRAY ARRAY['max_attempts', 'intervention_after_fails'] LOOP
    IF nullif(doc -> field, 'null'::jsonb) IS NOT NULL
       AND (jsonb_typeof(doc -> field) <> 'number' OR (doc ->> field)::numeric <> trunc((doc ->> field)::numeric)
            OR (doc ->> field)::numeric NOT BETWEEN 1 AND 1000000) THEN
      PERFORM scoreledger_private.fail('SL422', field || ': must be a positive integer (at most 1000000) or null');
    END IF;
  END LOOP;
  IF nullif(doc -> 'retake_cooldown', 'null'::jsonb) IS NOT NULL THEN
    IF jsonb_typeof(doc -> 'retake_cooldown') <> 'string' OR length(doc ->> 'retake_cooldown') > 100 THEN
      PERFORM scoreledger_private.fail('SL422', 'retake_cooldown: must be an interval such as "24 hours", or null');
    END IF;
    BEGIN
      cooldown := (doc ->> 'retake_cooldown')::interval;
    EXCEPTION WHEN OTHERS THEN
      PERFORM scoreledger_private.fail('SL422', format('retake_cooldown: %s is not an interval such as "24 hours"',
                                                       doc -> 'retake_cooldown'));
    END;
    IF cooldown < interval '0' THEN
      PERFORM scoreledger_private.fail('SL422', 'retake_cooldown: must not be negative');
    END IF;
  END IF;
  IF nullif(doc -> 'retake_after_pass', 'null'::jsonb) IS NOT NULL AND jsonb_typeof(doc -> 'retake_after_pass') <> 'boolean' THEN
    PERFORM scoreledger_private.fail('SL422', 'retake_after_pass: must be true or false');
  END IF;
  remedial := scoreledger_private.doc_uuid(doc, 'remedial_assignment_id', '', false);
  IF remedial = assignment_id THEN
    PERFORM scoreledger_private.fail('SL422', 'remedial_assignment_id: must be another assignment, not the assignment itself');
  END IF;
  IF remedial IS NOT NULL AND NOT EXISTS (SELECT 1 FROM scoreledger_private.assignments a
                                          WHERE a.tenant_id = tenant AND a.assignment_id = remedial) THEN
    PERFORM scoreledger_private.fail('SL404', format('remedial_assignment_id: assignment %s does not exist', remedial));
  END IF;
  RETURN jsonb_build_object(
    'max_attempts', (doc ->> 'max_attempts')::integer,
    'retake_cooldown', cooldown::text,
    'retake_after_pass', coalesce((doc ->> 'retake_after_pass')::boolean, true),
    'intervention_after_fails', (doc ->> 'intervention_after_fails')::integer,
    'remedial_assignment_id', remedial);
END
$$;

-- The rules of a stored assignment, in the form assignment_rules returns.
CREATE OR REPLACE FUNCTION scoreledger_private.stored_rules(a scoreledger_private.assignments)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
  SELECT jsonb_build_object('max_attempts', a.max_attempts, 'retake_cooldown', a.retake_cooldown::text,
    'retake_after_pass', a.retake_after_pass, 'intervention_after_fails', a.intervention_after_fails,
    'remedial_assignment_id', a.remedial_assignment_id)
$$;

-- ---------------------------------------------------------------------
-- Learner locks
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.learner_lock_key(tenant uuid, assignment_id uuid, user_id uuid)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT pg_catalog.hashtextextended('scoreledger.learner:' || tenant::text || ':' || assignment_id::text || ':' || user_id::text, 0)
$$;

-- A learner's bucket: one of 64 per tenant, a second key space (the
-- two-integer advisory locks) so it never meets a learner's or a version's key.
CREATE OR REPLACE FUNCTION scoreledger_private.learner_bucket_key(tenant uuid, learner_key bigint)
RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT ARRAY[pg_catalog.hashtext('scoreledger.learner_bucket:' || tenant::text), (learner_key & 63)::integer]
$$;

-- The learners' locks, bounded: the shared lock table has room for about
-- 64 locks per connection, and a bulk recording or an apply decides for
-- thousands of learners. Hierarchical locking: a call deciding for at most
-- learner_lock_limit() learners takes their buckets shared, then each
-- learner's key exclusively; a call deciding for more takes every bucket
-- of the tenant exclusively (64 locks), which locks every learner of it. Buckets first, in bucket order, then
-- keys, in key order: every call acquires in one global order, so no two
-- first calls wait on each other in a cycle. A later call (`late`: its
-- transaction held locks before it) tries them and refuses with SL409
-- rather than wait (sql/30_scoring.sql, holds_locks).
CREATE OR REPLACE FUNCTION scoreledger_private.learner_lock_limit()
RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT 64 $$;

CREATE OR REPLACE FUNCTION scoreledger_private.lock_learners(tenant uuid, assignment_ids uuid[], user_ids uuid[],
                                                             late boolean, fn text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  learner_keys bigint[];
  buckets integer[];
  one_by_one boolean;
  missed boolean := false;
BEGIN
  IF cardinality(assignment_ids) > scoreledger_private.learner_lock_limit()
     AND (SELECT count(*) FROM (SELECT DISTINCT p.a, p.u FROM unnest(assignment_ids, user_ids) p(a, u)
                                WHERE p.a IS NOT NULL AND p.u IS NOT NULL) p) > scoreledger_private.learner_lock_limit() THEN
    -- Too many learners to lock one by one: every bucket of the tenant,
    -- with no key computed per learner (a bulk call hits all 64 anyway).
    one_by_one := false;
    buckets := ARRAY(SELECT generate_series(0, 63));
  ELSE
    SELECT array_agg(DISTINCT scoreledger_private.learner_lock_key(tenant, p.a, p.u))
      INTO learner_keys
    FROM unnest(assignment_ids, user_ids) p(a, u) WHERE p.a IS NOT NULL AND p.u IS NOT NULL;
    IF learner_keys IS NULL THEN
      RETURN;
    END IF;
    one_by_one := cardinality(learner_keys) <= scoreledger_private.learner_lock_limit();
    SELECT array_agg(DISTINCT (k & 63)::integer ORDER BY (k & 63)::integer) INTO buckets FROM unnest(learner_keys) k;
  END IF;
  IF NOT late THEN
    IF one_by_one THEN
      PERFORM pg_catalog.pg_advisory_xact_lock_shared(b.key[1], b.key[2])
      FROM (SELECT scoreledger_private.learner_bucket_key(tenant, x) AS key FROM unnest(buckets) x ORDER BY x) b;
      PERFORM pg_catalog.pg_advisory_xact_lock(o.k) FROM (SELECT k FROM unnest(learner_keys) k ORDER BY k) o;
    ELSE
      PERFORM pg_catalog.pg_advisory_xact_lock(b.key[1], b.key[2])
      FROM (SELECT scoreledger_private.learner_bucket_key(tenant, x) AS key FROM unnest(buckets) x ORDER BY x) b;
    END IF;
    RETURN;
  END IF;
  IF one_by_one THEN
    SELECT bool_or(NOT pg_catalog.pg_try_advisory_xact_lock_shared(b.key[1], b.key[2])) INTO missed
    FROM (SELECT scoreledger_private.learner_bucket_key(tenant, x) AS key FROM unnest(buckets) x ORDER BY x) b;
    IF NOT missed THEN
      SELECT bool_or(NOT pg_catalog.pg_try_advisory_xact_lock(o.k)) INTO missed
      FROM (SELECT k FROM unnest(learner_keys) k ORDER BY k) o;
    END IF;
  ELSE
    SELECT bool_or(NOT pg_catalog.pg_try_advisory_xact_lock(b.key[1], b.key[2])) INTO missed
    FROM (SELECT scoreledger_private.learner_bucket_key(tenant, x) AS key FROM unnest(buckets) x ORDER BY x) b;
  END IF;
  IF missed THEN
    PERFORM scoreledger_private.refuse_lock_wait(fn, 'the gate of a learner this call decides');
  END IF;
END
$$;

-- ---------------------------------------------------------------------
-- Outcomes and counts
-- ---------------------------------------------------------------------

-- Which attempt counts: under an assignment's attempt policy, the
-- submission with the least rank is the one whose pass/fail is the
-- assignment outcome -- highest score/max_score (earliest attempt on
-- ties), latest, or first. The one place the policy is read: the outcomes
-- of the rule and the gate (learner_outcomes) and the preview's
-- before/after outcomes (sql/60_preview.sql) order by it. One expression,
-- so it is inlined where it is called. The fraction is divided at scale
-- 80: scores and maxima carry at most ~20 decimals, so two different
-- fractions never round to the same quotient and the tie-break only
-- decides real ties.
CREATE OR REPLACE FUNCTION scoreledger_private.attempt_rank(
  policy text, score numeric, max_score numeric, submitted_at timestamptz, attempt_no integer)
RETURNS numeric[]
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
  SELECT CASE policy
    WHEN 'highest' THEN ARRAY[-CASE WHEN max_score > 0 THEN (score + 0::numeric(100, 80)) / max_score ELSE 0 END,
                              attempt_no]
    WHEN 'latest' THEN ARRAY[-extract(epoch FROM submitted_at), -attempt_no]
    ELSE ARRAY[extract(epoch FROM submitted_at), attempt_no] END
$$;

-- For each (assignment, user) pair: how many submissions, the assignment
-- outcome under its attempt policy (null without submissions), failed
-- submissions recorded after the latest resolved intervention closed (all
-- if none; a withdrawn one does not reset the count), submissions that
-- name no start, the latest submitted_at, and the open intervention (id
-- and origin). Scores come from the table, or for the submissions keyed
-- in `overrides` ({submission_id: [score, max_score]}: a preview's new
-- scores) from there. One statement over the pairs' submissions: the
-- rule's bulk path and the gate's single probe alike.
-- Plans: the pairs' sizes are unknown to the planner (an array argument),
-- so every lookup per pair is a lateral probe kept apart (OFFSET 0) on
-- the full (tenant, assignment, user) key, and the overrides and the pass
-- marks are keyed lookups, never joins: a nested loop over two large
-- sets, each guessed at one row, is quadratic. The outcome is the least
-- rank's pass/fail, carried as the rank's last element through min(), so
-- the counts and the outcome are one aggregate per learner.
CREATE OR REPLACE FUNCTION scoreledger_private.learner_outcomes(
  pair_assignments uuid[], pair_users uuid[], overrides jsonb DEFAULT NULL)
RETURNS TABLE (assignment_id uuid, user_id uuid, submissions integer, outcome_passed boolean,
               failed_since_resolution integer, unstarted_submissions integer, last_submitted_at timestamptz,
               open_intervention_id uuid, open_intervention_origin text)
LANGUAGE sql STABLE
AS $$
  WITH ctx AS MATERIALIZED (
    SELECT scoreledger.current_tenant() AS tenant
  ), pairs AS MATERIALIZED (
    -- In key order, so the probes below walk the (tenant, assignment,
    -- user) indexes in turn rather than in a hash's order: at 1M with the
    -- default shared_buffers, 15 % of the rule's time in an apply.
    SELECT DISTINCT p.a AS assignment_id, p.u AS user_id FROM unnest(pair_assignments, pair_users) p(a, u)
    ORDER BY 1, 2
  ), marks AS MATERIALIZED (
    -- {evaluation_version_id: pass_mark} of every version of the pairs'
    -- assignments' evaluations: a submission's version is one of them
    -- (its foreign key to the assignment carries the evaluation).
    SELECT jsonb_object_agg(v.evaluation_version_id, v.pass_mark) AS m
    FROM ctx t
    JOIN scoreledger_private.assignments a
      ON a.tenant_id = t.tenant AND a.assignment_id = ANY (pair_assignments)
    JOIN scoreledger_private.evaluation_versions v ON v.tenant_id = t.tenant AND v.evaluation_id = a.evaluation_id
  ), learners AS (
    -- Per pair, once: the policy, the latest resolution and the open
    -- intervention, from one probe of the learner's interventions. The
    -- tenant is read once (ctx) and probed with as a value: the inlined
    -- current_tenant() in an index condition is evaluated again at every
    -- rescan of every probe.
    SELECT t.tenant, p.assignment_id, p.user_id, a.attempt_policy, i.resolved_at, i.open_id, i.open_origin
    FROM ctx t
    CROSS JOIN pairs p
    JOIN scoreledger_private.assignments a ON a.tenant_id = t.tenant AND a.assignment_id = p.assignment_id
    CROSS JOIN LATERAL (
      SELECT max(x.closed_at) FILTER (WHERE x.status = 'resolved') AS resolved_at,
             (array_agg(x.intervention_id) FILTER (WHERE x.status = 'open'))[1] AS open_id,
             (array_agg(x.origin) FILTER (WHERE x.status = 'open'))[1] AS open_origin
      FROM scoreledger_private.interventions x
      WHERE x.tenant_id = t.tenant AND x.assignment_id = p.assignment_id AND x.user_id = p.user_id
      OFFSET 0) i
  )
  SELECT l.assignment_id, l.user_id, c.submissions,
         CASE c.best[cardinality(c.best)] WHEN 1 THEN true WHEN 0 THEN false END,
         c.failed, c.unstarted, c.last_submitted_at, l.open_id, l.open_origin
  FROM learners l
  CROSS JOIN marks
  CROSS JOIN LATERAL (
    -- Aggregated per learner (one row, zeros without submissions): grouped
    -- over all the pairs instead, the planner, guessing ten pairs, sorted
    -- every submission and spilled at the default work_mem.
    SELECT count(*)::integer AS submissions,
           (count(*) FILTER (WHERE NOT j.passed AND (l.resolved_at IS NULL OR j.recorded_at > l.resolved_at)))::integer
             AS failed,
           (count(*) FILTER (WHERE j.attempt_id IS NULL))::integer AS unstarted,
           max(j.submitted_at) AS last_submitted_at,
           -- attempt_no ends every rank and is unique per learner and
           -- evaluation, so the appended pass/fail (1/0, null unknown)
           -- never decides the order.
           min(j.rank || CASE j.passed WHEN true THEN 1 WHEN false THEN 0 END::numeric) AS best
    FROM (
      SELECT s.submitted_at, s.attempt_id, s.recorded_at,
             scoreledger_private.is_passing(sc.score, sc.max_score, s.pass_mark) AS passed,
             scoreledger_private.attempt_rank(l.attempt_policy, sc.score, sc.max_score, s.submitted_at, s.attempt_no) AS rank
      FROM (
        SELECT x.submission_id, x.submitted_at, x.attempt_no, x.attempt_id, x.recorded_at, x.score, x.max_score,
               (marks.m ->> x.evaluation_version_id::text)::numeric AS pass_mark
        FROM scoreledger_private.submissions x
        WHERE x.tenant_id = l.tenant AND x.assignment_id = l.assignment_id AND x.user_id = l.user_id
        OFFSET 0) s
      CROSS JOIN LATERAL (
        -- One lookup in the overrides per submission, kept apart (OFFSET 0):
        -- flattened, the lookup is copied into every use of score and
        -- max_score in is_passing and attempt_rank (2.5x the time of a
        -- 20k preview's rule).
        SELECT coalesce((o.o ->> 0)::numeric, s.score) AS score,
               CASE WHEN o.o IS NOT NULL THEN (o.o ->> 1)::numeric ELSE s.max_score END AS max_score
        FROM (SELECT overrides -> s.submission_id::text AS o) o
        OFFSET 0) sc
    ) j
  ) c
$$;

-- ---------------------------------------------------------------------
-- The gate
-- ---------------------------------------------------------------------

-- The decision for one learner on one assignment, under the current
-- scores: {"allowed", "attempt_no" (the next), "attempts_used",
-- "reasons": [every reason that applies]}. One indexed probe per rule:
-- the learner's starts, and (learner_outcomes) their submissions for the
-- assignment (outcome, cooldown, unstarted attempts) and their
-- interventions (the open one).
CREATE OR REPLACE FUNCTION scoreledger_private.attempt_decision(assignment_id uuid, user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  a scoreledger_private.assignments;
  learner record;
  starts integer;
  last_start timestamptz;
  used integer;
  retry_at timestamptz;
  reasons jsonb := '[]';
BEGIN
  IF attempt_decision.user_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'user_id: is required');
  END IF;
  SELECT * INTO a FROM scoreledger_private.assignments x
  WHERE x.tenant_id = tenant AND x.assignment_id = attempt_decision.assignment_id;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('assignment %s does not exist', attempt_decision.assignment_id));
  END IF;
  SELECT count(*)::integer, max(st.started_at) INTO starts, last_start
  FROM scoreledger_private.attempt_starts st
  WHERE st.tenant_id = tenant AND st.assignment_id = a.assignment_id AND st.user_id = attempt_decision.user_id;
  SELECT * INTO learner FROM scoreledger_private.learner_outcomes(ARRAY[a.assignment_id], ARRAY[attempt_decision.user_id]);

  used := starts + learner.unstarted_submissions;
  IF a.max_attempts IS NOT NULL AND used >= a.max_attempts THEN
    reasons := reasons || jsonb_build_object('code', 'max_attempts_reached', 'attempts_used', used,
                                             'max_attempts', a.max_attempts);
  END IF;
  IF NOT a.retake_after_pass AND learner.outcome_passed THEN
    reasons := reasons || jsonb_build_object('code', 'already_passed');
  END IF;
  retry_at := greatest(learner.last_submitted_at, last_start) + a.retake_cooldown;
  IF retry_at > pg_catalog.clock_timestamp() THEN
    reasons := reasons || jsonb_build_object('code', 'cooldown', 'retry_at', retry_at);
  END IF;
  IF learner.open_intervention_id IS NOT NULL THEN
    reasons := reasons || jsonb_build_object('code', 'intervention_required',
                                             'intervention_id', learner.open_intervention_id);
  END IF;
  RETURN jsonb_build_object('allowed', jsonb_array_length(reasons) = 0, 'attempt_no', used + 1, 'attempts_used', used,
                            'max_attempts', a.max_attempts, 'reasons', reasons);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.check_attempt(assignment_id uuid, user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  decision jsonb := scoreledger_private.attempt_decision(assignment_id, user_id);
BEGIN
  IF (decision ->> 'allowed')::boolean THEN
    RETURN jsonb_build_object('allowed', true, 'attempt_no', decision -> 'attempt_no');
  END IF;
  RETURN jsonb_build_object('allowed', false, 'reasons', decision -> 'reasons');
END
$$;
COMMENT ON FUNCTION scoreledger.check_attempt(uuid, uuid) IS
  'The gate''s decision without recording a start: {"allowed": true, "attempt_no"} or {"allowed": false, "reasons": [...]} with every reason that applies (max_attempts_reached, already_passed, cooldown, intervention_required). Reads only.';
GRANT EXECUTE ON FUNCTION scoreledger.check_attempt(uuid, uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.start_attempt(assignment_id uuid, user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  decision jsonb;
  new_attempt uuid := gen_random_uuid();
BEGIN
  -- The decision is read after the learner's lock, in a new snapshot: two
  -- starts for the last allowed attempt take turns and the second sees the
  -- first's start. At REPEATABLE READ the snapshot would be older than the
  -- lock: refused.
  PERFORM scoreledger_private.begin_writing_call('scoreledger.start_attempt');
  IF assignment_id IS NULL OR user_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', CASE WHEN assignment_id IS NULL THEN 'assignment_id' ELSE 'user_id' END
                                              || ': is required');
  END IF;
  PERFORM scoreledger_private.lock_learners(tenant, ARRAY[assignment_id], ARRAY[user_id],
                                            scoreledger_private.holds_locks(), 'scoreledger.start_attempt');
  decision := scoreledger_private.attempt_decision(assignment_id, user_id);
  IF NOT (decision ->> 'allowed')::boolean THEN
    RETURN jsonb_build_object('allowed', false, 'reasons', decision -> 'reasons');
  END IF;
  INSERT INTO scoreledger_private.attempt_starts (tenant_id, attempt_id, assignment_id, user_id, attempt_no, started_by)
  VALUES (tenant, new_attempt, assignment_id, user_id, (decision ->> 'attempt_no')::integer, scoreledger.current_actor());
  RETURN jsonb_build_object('allowed', true, 'attempt_id', new_attempt, 'attempt_no', decision -> 'attempt_no');
END
$$;
COMMENT ON FUNCTION scoreledger.start_attempt(uuid, uuid) IS
  'What a delivery system calls before opening an exam session: records a start and returns {"allowed": true, "attempt_id", "attempt_no"}, or writes nothing and returns {"allowed": false, "reasons": [...]}. Needs READ COMMITTED (SL409 otherwise).';
GRANT EXECUTE ON FUNCTION scoreledger.start_attempt(uuid, uuid) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- attempt_id on submission documents (recording, sql/42_recording.sql)
-- ---------------------------------------------------------------------

-- The starts the call's documents name, locked in key order (a second
-- recorder of the same start waits, then sees the first's submission),
-- then each checked: a start of the same user and assignment (SL404), not
-- used by a recorded submission nor twice in the call (SL409). Runs after
-- the documents' own rules passed and before anything is written.
CREATE OR REPLACE FUNCTION scoreledger_private.check_attempt_ids(tenant uuid, path_prefix text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  bad record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_temp.recording_attempts) THEN
    RETURN;
  END IF;
  PERFORM 1 FROM scoreledger_private.attempt_starts st
  WHERE st.tenant_id = tenant AND st.attempt_id IN (SELECT ra.attempt_id FROM pg_temp.recording_attempts ra)
  ORDER BY st.attempt_id
  FOR KEY SHARE;
  SELECT r.idx, ra.attempt_id, st.attempt_id IS NULL AS missing INTO bad
  FROM pg_temp.recording_submissions r
  JOIN pg_temp.recording_attempts ra ON ra.idx = r.idx
  LEFT JOIN scoreledger_private.attempt_starts st
    ON st.tenant_id = tenant AND st.attempt_id = ra.attempt_id
   AND st.user_id = r.user_id AND st.assignment_id IS NOT DISTINCT FROM r.assignment_id
  ORDER BY (st.attempt_id IS NULL) DESC, r.idx
  LIMIT 1;
  IF bad.missing THEN
    PERFORM scoreledger_private.fail('SL404', format('%sattempt_id: attempt %s is not a start of this user and assignment',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, bad.idx) END, bad.attempt_id));
  END IF;
  SELECT x.* INTO bad FROM (
    SELECT r.idx, ra.attempt_id, r.submission_id,
           (SELECT s.submission_id FROM scoreledger_private.submissions s
            WHERE s.tenant_id = tenant AND s.attempt_id = ra.attempt_id) AS used_by,
           row_number() OVER (PARTITION BY ra.attempt_id ORDER BY r.idx) AS occurrence
    FROM pg_temp.recording_submissions r
    JOIN pg_temp.recording_attempts ra ON ra.idx = r.idx
    WHERE r.fresh) x
  WHERE (x.used_by IS NOT NULL AND x.used_by <> x.submission_id) OR x.occurrence > 1
  ORDER BY x.idx LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL409', format('%sattempt_id: attempt %s is already used by %s',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, bad.idx) END, bad.attempt_id,
      CASE WHEN bad.used_by IS NOT NULL THEN 'submission ' || bad.used_by ELSE 'another document of this call' END));
  END IF;
END
$$;

-- The documents' attempt_id, parsed into a scratch table of its own (the
-- recording tables' layout stays as long-lived sessions created it): SL422
-- naming the entry for a value that is not a uuid string. Documents
-- without one (the bulk path's usual case) cost one scan of the call.
CREATE OR REPLACE FUNCTION scoreledger_private.parse_attempt_ids(docs jsonb, path_prefix text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  bad integer;
BEGIN
  -- The scratch table is ensure_recording_tables' (sql/42_recording.sql), emptied there.
  IF NOT jsonb_path_exists(docs, '$[*].attempt_id ? (@ != null)') THEN
    RETURN;
  END IF;
  SELECT (x.n - 1)::integer INTO bad
  FROM jsonb_array_elements(docs) WITH ORDINALITY x(doc, n)
  WHERE nullif(x.doc -> 'attempt_id', 'null'::jsonb) IS NOT NULL
    AND scoreledger_private.field_problem(x.doc -> 'attempt_id', 'uuid') IS NOT NULL
  ORDER BY x.n LIMIT 1;
  IF bad IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422', format('%sattempt_id: must be a uuid string',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, bad) END));
  END IF;
  INSERT INTO pg_temp.recording_attempts (idx, attempt_id)
  SELECT (x.n - 1)::integer, (x.doc ->> 'attempt_id')::uuid
  FROM jsonb_array_elements(docs) WITH ORDINALITY x(doc, n)
  WHERE nullif(x.doc -> 'attempt_id', 'null'::jsonb) IS NOT NULL;
END
$$;
