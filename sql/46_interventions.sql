-- =====================================================================
-- Interventions and remedial work (contract section 11).
--
-- The rule is written once, in intervention_effects: for a set of
-- (assignment, user) pairs, and optionally a preview's new scores, what
-- the rule does -- open, withdraw, complete. enact_intervention_rule
-- writes those effects; recording (sql/42), apply and revert (sql/50)
-- call it over the pairs they touched, in their own transaction; the
-- previews (sql/60) count the effects of their new scores; check (sql/90)
-- reports any effect still pending as a breach.
--
-- The statuses and moves of interventions and issuances are data
-- (learner_lock_statuses, learner_lock_transitions), read by the guards on
-- the rows, by enact and by resolve.
-- =====================================================================

SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.interventions');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.intervention_events');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.remedial_issuances');

-- ---------------------------------------------------------------------
-- The state machines, as data
-- ---------------------------------------------------------------------

CREATE OR REPLACE VIEW scoreledger_private.learner_lock_statuses AS
  SELECT * FROM (VALUES
    ('intervention', 'open', true, false, 'locks the learner''s next attempt'),
    ('intervention', 'resolved', false, true, 'an instructor (or completed remedial work) released the lock; the rule counts afresh'),
    ('intervention', 'withdrawn', false, true, 'the rule''s condition no longer holds (a correction or a rule change)'),
    ('issuance', 'issued', true, false, 'remedial assignment to do'),
    ('issuance', 'completed', false, true, 'the learner passed the remedial assignment'),
    ('issuance', 'withdrawn', false, true, 'its intervention closed otherwise')
  ) s(machine, status, initial, final, meaning);
COMMENT ON VIEW scoreledger_private.learner_lock_statuses IS
  'The statuses of interventions and remedial issuances: initial (inserted in), final (never changes again).';

-- by_batch: a correction batch (or recording, or a rule change) may take
-- the move; rule_only: only for interventions the rule opened.
CREATE OR REPLACE VIEW scoreledger_private.learner_lock_transitions AS
  SELECT * FROM (VALUES
    ('intervention', 'open', 'resolve', 'resolved', 'resolve_intervention', false, false),
    ('intervention', 'open', 'complete', 'resolved', NULL, true, true),
    ('intervention', 'open', 'withdraw', 'withdrawn', NULL, true, true),
    ('issuance', 'issued', 'complete', 'completed', NULL, true, true),
    ('issuance', 'issued', 'withdraw', 'withdrawn', NULL, true, true),
    ('issuance', 'issued', 'resolve', 'withdrawn', 'resolve_intervention', false, true)
  ) t(machine, from_status, action, to_status, capability, by_batch, rule_only);
COMMENT ON VIEW scoreledger_private.learner_lock_transitions IS
  'The allowed moves of interventions and issuances: action, target status, capability (under enforce_capabilities), whether the engine may take it.';

CREATE OR REPLACE FUNCTION scoreledger_private.lock_status_after(machine text, action text)
RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT t.to_status FROM scoreledger_private.learner_lock_transitions t
  WHERE t.machine = lock_status_after.machine AND t.action = lock_status_after.action
$$;

-- ---------------------------------------------------------------------
-- Guards
-- ---------------------------------------------------------------------

-- Rows are inserted in the machine's initial status; an update moves a row
-- along the machine and touches nothing of its opening; a closed row never
-- changes. For the owner's plain DML too.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_learner_locks__inserted_initial()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  lock_machine text := CASE TG_TABLE_NAME WHEN 'interventions' THEN 'intervention' ELSE 'issuance' END;
  bad text;
BEGIN
  SELECT nr.r ->> 'status' INTO bad FROM (SELECT to_jsonb(x) AS r FROM new_rows x) nr
  WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.learner_lock_statuses s
                    WHERE s.machine = lock_machine AND s.status = nr.r ->> 'status' AND s.initial)
  LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL423', format('%s rows are inserted %s, not %s', TG_TABLE_NAME,
      (SELECT s.status FROM scoreledger_private.learner_lock_statuses s WHERE s.machine = lock_machine AND s.initial), bad));
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.tg_learner_locks__machine()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  lock_machine text := CASE TG_TABLE_NAME WHEN 'interventions' THEN 'intervention' ELSE 'issuance' END;
  id_field text := CASE TG_TABLE_NAME WHEN 'interventions' THEN 'intervention_id' ELSE 'issuance_id' END;
  bad text;
BEGIN
  SELECT format('%s -> %s', o.r ->> 'status', n.r ->> 'status') INTO bad
  FROM (SELECT to_jsonb(x) AS r FROM old_rows x) o
  JOIN (SELECT to_jsonb(x) AS r FROM new_rows x) n ON n.r -> id_field = o.r -> id_field
  WHERE (o.r - ARRAY['status', 'closed_at', 'closed_by', 'closed_by_batch_id', 'note'])
          IS DISTINCT FROM (n.r - ARRAY['status', 'closed_at', 'closed_by', 'closed_by_batch_id', 'note'])
     OR NOT EXISTS (SELECT 1 FROM scoreledger_private.learner_lock_transitions t
                    WHERE t.machine = lock_machine AND t.from_status = o.r ->> 'status'
                      AND t.to_status = n.r ->> 'status'
                      AND (NOT t.rule_only OR lock_machine = 'issuance' OR o.r ->> 'origin' = 'rule'))
  LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL423', format('%s: a row moves only along its state machine (%s refused)',
      replace(TG_TABLE_NAME, '_', ' '), bad));
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.tg_learner_locks__never_deleted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423', format('%s are never deleted (%s refused)', replace(TG_TABLE_NAME, '_', ' '),
                                                   lower(TG_OP)));
  RETURN NULL;
END
$$;

-- Every insert and move of an intervention is an event, written by the
-- database whoever writes the row.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_interventions__opened_event()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO scoreledger_private.intervention_events
    (tenant_id, intervention_id, from_status, to_status, actor_id, batch_id, note)
  SELECT n.tenant_id, n.intervention_id, NULL, n.status, scoreledger.current_actor(), n.opened_by_batch_id, n.reason
  FROM new_rows n ORDER BY n.intervention_id;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.tg_interventions__moved_event()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  INSERT INTO scoreledger_private.intervention_events
    (tenant_id, intervention_id, from_status, to_status, actor_id, batch_id, note)
  SELECT n.tenant_id, n.intervention_id, o.status, n.status, scoreledger.current_actor(), n.closed_by_batch_id, n.note
  FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.intervention_id = n.intervention_id
  WHERE o.status IS DISTINCT FROM n.status
  ORDER BY n.intervention_id;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER interventions_inserted_open AFTER INSERT ON scoreledger_private.interventions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__inserted_initial();
SELECT scoreledger_private.declare_guard('scoreledger_private.interventions', 'interventions_inserted_open',
  'an intervention is inserted open');
CREATE OR REPLACE TRIGGER interventions_move_along_machine AFTER UPDATE ON scoreledger_private.interventions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__machine();
SELECT scoreledger_private.declare_guard('scoreledger_private.interventions', 'interventions_move_along_machine',
  'an intervention moves only along its machine; its opening never changes; closed ones never change');
CREATE OR REPLACE TRIGGER interventions_never_deleted BEFORE DELETE OR TRUNCATE ON scoreledger_private.interventions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__never_deleted();
SELECT scoreledger_private.declare_guard('scoreledger_private.interventions', 'interventions_never_deleted',
  'interventions are never deleted');
CREATE OR REPLACE TRIGGER interventions_insert_events AFTER INSERT ON scoreledger_private.interventions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_interventions__opened_event();
SELECT scoreledger_private.declare_guard('scoreledger_private.interventions', 'interventions_insert_events',
  'every opened intervention is an event');
CREATE OR REPLACE TRIGGER interventions_update_events AFTER UPDATE ON scoreledger_private.interventions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_interventions__moved_event();
SELECT scoreledger_private.declare_guard('scoreledger_private.interventions', 'interventions_update_events',
  'every move of an intervention is an event');

CREATE OR REPLACE TRIGGER intervention_events_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.intervention_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.intervention_events', 'intervention_events_append_only',
  'intervention events are append-only');
CREATE OR REPLACE TRIGGER intervention_events_never_truncated BEFORE TRUNCATE ON scoreledger_private.intervention_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.intervention_events', 'intervention_events_never_truncated',
  'intervention events are never truncated');

CREATE OR REPLACE TRIGGER issuances_inserted_issued AFTER INSERT ON scoreledger_private.remedial_issuances
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__inserted_initial();
SELECT scoreledger_private.declare_guard('scoreledger_private.remedial_issuances', 'issuances_inserted_issued',
  'a remedial issuance is inserted issued');
CREATE OR REPLACE TRIGGER issuances_move_along_machine AFTER UPDATE ON scoreledger_private.remedial_issuances
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__machine();
SELECT scoreledger_private.declare_guard('scoreledger_private.remedial_issuances', 'issuances_move_along_machine',
  'a remedial issuance moves only along its machine; closed ones never change');
CREATE OR REPLACE TRIGGER issuances_never_deleted BEFORE DELETE OR TRUNCATE ON scoreledger_private.remedial_issuances
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_learner_locks__never_deleted();
SELECT scoreledger_private.declare_guard('scoreledger_private.remedial_issuances', 'issuances_never_deleted',
  'remedial issuances are never deleted');

-- ---------------------------------------------------------------------
-- The rule, written once
-- ---------------------------------------------------------------------

-- What the rule does for the given (assignment, user) pairs, under the
-- current scores or, for the submissions keyed in `overrides`
-- ({submission_id: [score, max_score]}), the given ones:
--   complete  remedial work issued on a pair whose outcome is pass: the
--             issuance completes, its intervention resolves (the count of
--             its assignment starts afresh, so nothing else happens there);
--   open      the condition holds and no intervention is open
--             (remedial_passed: the learner's outcome on the remedial
--             assignment is already pass, so the remedial work issued is
--             completed -- and the intervention resolved -- at once);
--   withdraw  an open rule intervention whose condition no longer holds.
-- Manual interventions, closed interventions and closed issuances are
-- never an effect. Only pairs the rule can touch are read: an assignment
-- with the rule, an open rule intervention, remedial work issued. Every
-- lookup per pair is a lateral probe on the full key (see
-- learner_outcomes: the pairs' number is unknown to the planner).
CREATE OR REPLACE FUNCTION scoreledger_private.intervention_effects(
  pair_assignments uuid[], pair_users uuid[], overrides jsonb DEFAULT NULL)
RETURNS TABLE (effect text, assignment_id uuid, user_id uuid, intervention_id uuid, issuance_id uuid,
               failed integer, threshold integer, remedial_assignment_id uuid, remedial_passed boolean)
LANGUAGE sql STABLE
AS $$
  WITH ctx AS MATERIALIZED (
    -- The tenant, read once: inlined into a probe's index condition,
    -- current_tenant() is evaluated again at every rescan.
    SELECT scoreledger.current_tenant() AS tenant
  ), tenant_state AS MATERIALIZED (
    -- The assignments with the rule, as one keyed object; whether the
    -- tenant has any open intervention or issued remedial work at all (the
    -- first entry of a partial index): without, no pair needs probing.
    SELECT coalesce((SELECT jsonb_object_agg(a.assignment_id, true) FROM scoreledger_private.assignments a
                     WHERE a.tenant_id = ctx.tenant AND a.intervention_after_fails IS NOT NULL), '{}') AS ruled,
           EXISTS (SELECT 1 FROM scoreledger_private.interventions i
                   WHERE i.tenant_id = ctx.tenant AND i.status = 'open') AS any_open,
           EXISTS (SELECT 1 FROM scoreledger_private.remedial_issuances r
                   WHERE r.tenant_id = ctx.tenant AND r.status = 'issued') AS any_issued
    FROM ctx
  ), pairs AS MATERIALIZED (
    -- In key order, as in learner_outcomes: the probes of `relevant` walk
    -- their indexes in turn.
    SELECT DISTINCT p.a, p.u FROM unnest(pair_assignments, pair_users) p(a, u) WHERE p.a IS NOT NULL AND p.u IS NOT NULL
    ORDER BY 1, 2
  ), relevant AS MATERIALIZED (
    -- A pair of an assignment with the rule, else one probed, in turn, for
    -- an open rule intervention and for issued remedial work: scalar
    -- probes on the full key. As EXISTS, the planner (the pairs guessed at
    -- ten rows, the tables' statistics stale during a bulk load) hashed
    -- every open rule intervention and every issued remedial work of the
    -- tenant once per call: 0.5 s of a 5,000-document recording at 1M,
    -- growing with the tenant.
    SELECT array_agg(p.a) AS aa, array_agg(p.u) AS uu FROM ctx CROSS JOIN tenant_state t CROSS JOIN pairs p
    WHERE t.ruled ? p.a::text
       OR (t.any_open AND (SELECT true FROM scoreledger_private.interventions i
                           WHERE i.tenant_id = ctx.tenant AND i.assignment_id = p.a AND i.user_id = p.u
                             AND i.status = 'open' AND i.origin = 'rule' LIMIT 1))
       OR (t.any_issued AND (SELECT true FROM scoreledger_private.remedial_issuances r
                             WHERE r.tenant_id = ctx.tenant AND r.assignment_id = p.a AND r.user_id = p.u
                               AND r.status = 'issued' LIMIT 1))
  ), outcomes AS MATERIALIZED (
    SELECT o.* FROM relevant x
    CROSS JOIN LATERAL scoreledger_private.learner_outcomes(x.aa, x.uu, overrides) o
    WHERE x.aa IS NOT NULL
  ), completions AS MATERIALIZED (
    SELECT 'complete'::text AS effect, r.intervention_assignment_id AS assignment_id, r.user_id, r.intervention_id, r.issuance_id,
           NULL::integer AS failed, NULL::integer AS threshold, r.assignment_id AS remedial_assignment_id,
           NULL::boolean AS remedial_passed
    FROM ctx CROSS JOIN outcomes o
    CROSS JOIN LATERAL (
      SELECT x.issuance_id, x.assignment_id, x.user_id, x.intervention_id, i.assignment_id AS intervention_assignment_id
      FROM scoreledger_private.remedial_issuances x
      JOIN LATERAL (
        -- By its primary key, the status tested after (OFFSET 0 keeps the
        -- test out): with `status = 'open'` inside, the planner may take
        -- the partial index interventions_one_open on tenant_id alone and
        -- filter intervention_id over every open intervention of the
        -- tenant, once per pair.
        SELECT y.assignment_id, y.status FROM scoreledger_private.interventions y
        WHERE y.tenant_id = x.tenant_id AND y.intervention_id = x.intervention_id
        OFFSET 0) i ON i.status = 'open'
      WHERE x.tenant_id = ctx.tenant AND x.assignment_id = o.assignment_id AND x.user_id = o.user_id
        AND x.status = 'issued'
      OFFSET 0) r
    WHERE o.outcome_passed
  ), judged AS (
    SELECT o.assignment_id, o.user_id, o.failed_since_resolution, a.intervention_after_fails, a.remedial_assignment_id,
           coalesce(a.intervention_after_fails IS NOT NULL AND NOT o.outcome_passed
                    AND o.failed_since_resolution >= a.intervention_after_fails, false) AS holds,
           o.open_intervention_id AS intervention_id, o.open_intervention_origin AS origin
    FROM ctx CROSS JOIN outcomes o
    JOIN scoreledger_private.assignments a
      ON a.tenant_id = ctx.tenant AND a.assignment_id = o.assignment_id
    -- NOT IN, a hashed set (completions never hold a null id; a pair
    -- without an open intervention stays): NOT EXISTS became a nested
    -- loop over the completions once per pair.
    WHERE coalesce(o.open_intervention_id NOT IN (SELECT c.intervention_id FROM completions c), true)
  ), opens AS MATERIALIZED (
    SELECT j.* FROM judged j WHERE j.holds AND j.intervention_id IS NULL
  ), remedial_passed AS MATERIALIZED (
    -- The remedial work an opening issues, judged as a completion would be,
    -- as one keyed object {"assignment user": outcome_passed}, looked up
    -- per opening: joined, the planner (both sides guessed at one row)
    -- re-ran learner_outcomes once per opening, 10 s of a 5,000-document
    -- recording.
    SELECT jsonb_object_agg(o.assignment_id::text || ' ' || o.user_id::text, o.outcome_passed) AS m
    FROM (SELECT array_agg(x.remedial_assignment_id) AS aa, array_agg(x.user_id) AS uu
          FROM opens x WHERE x.remedial_assignment_id IS NOT NULL) r
    CROSS JOIN LATERAL scoreledger_private.learner_outcomes(r.aa, r.uu, overrides) o
    WHERE r.aa IS NOT NULL
  )
  SELECT * FROM completions
  UNION ALL
  SELECT 'open', j.assignment_id, j.user_id, NULL, NULL, j.failed_since_resolution, j.intervention_after_fails,
         j.remedial_assignment_id,
         coalesce((rp.m ->> (j.remedial_assignment_id::text || ' ' || j.user_id::text))::boolean, false)
  FROM opens j CROSS JOIN remedial_passed rp
  UNION ALL
  SELECT 'withdraw', j.assignment_id, j.user_id, j.intervention_id,
         -- The remedial work a withdrawal closes, looked up for withdrawals
         -- only, by the unique (tenant_id, intervention_id) with the status
         -- tested after: with `status = 'issued'` in the probe the planner
         -- may take the partial index remedial_issuances_open on tenant_id
         -- alone and filter intervention_id over every issued row of the
         -- tenant, once per pair (7 s of a 20k apply).
         (SELECT CASE WHEN r.status = 'issued' THEN r.issuance_id END
          FROM scoreledger_private.remedial_issuances r
          WHERE r.tenant_id = ctx.tenant AND r.intervention_id = j.intervention_id),
         j.failed_since_resolution, j.intervention_after_fails, NULL, NULL
  FROM ctx CROSS JOIN judged j WHERE NOT j.holds AND j.origin = 'rule'
$$;

-- Writes the rule's effects for the pairs, after taking their learners'
-- locks (those of interventions whose remedial work is on the pairs, and
-- those of the remedial work an opening may issue) in key order; the
-- effects are read in the next statement, so under the locks. `batch_id`:
-- the batch that rescored them (null: a recording or a rule change);
-- `cause`: why a withdrawal happens, for its note. Remedial work the
-- learner already passed when it is issued is completed at once, and its
-- intervention resolved (a second statement: rows are inserted in their
-- initial status and move from there).
CREATE OR REPLACE FUNCTION scoreledger_private.enact_intervention_rule(
  pair_assignments uuid[], pair_users uuid[], batch_id uuid, cause text, late boolean, fn text)
RETURNS TABLE (opened integer, withdrawn integer, completed integer)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  lock_a uuid[];
  lock_u uuid[];
  n_opened integer;
  n_withdrawn integer;
  n_completed integer;
  passed_already uuid[];
  pairs_a uuid[];
  pairs_u uuid[];
  everyone boolean;
BEGIN
  IF coalesce(cardinality(pair_assignments), 0) = 0 THEN
    RETURN QUERY SELECT 0, 0, 0;
    RETURN;
  END IF;
  -- Each pair once (an apply hands one pair per submission), so every
  -- probe below runs once per learner.
  SELECT array_agg(p.a), array_agg(p.u) INTO pairs_a, pairs_u
  FROM (SELECT DISTINCT p.a, p.u FROM unnest(pair_assignments, pair_users) p(a, u)
        WHERE p.a IS NOT NULL AND p.u IS NOT NULL) p;
  -- More pairs than learner locks: lock_learners takes every bucket of the
  -- tenant, so every learner the effects reach is locked, and the learners
  -- they reach beyond the pairs need not be looked up.
  everyone := cardinality(pairs_a) > scoreledger_private.learner_lock_limit();
  IF everyone THEN
    PERFORM scoreledger_private.lock_learners(tenant, pairs_a, pairs_u, late, fn);
  ELSE
    -- The remedial work issued on a pair: a lateral probe on the full key of
    -- remedial_issuances_open, kept apart (OFFSET 0). Joined, the planner
    -- (the pairs guessed at ten rows) scanned every issued row of the tenant
    -- once per pair: 5.7 million rows compared for 1,717 pairs.
    SELECT array_agg(x.a), array_agg(x.u) INTO lock_a, lock_u FROM (
      SELECT p.a, p.u FROM unnest(pairs_a, pairs_u) p(a, u)
      UNION
      SELECT i.assignment_id, i.user_id
      FROM unnest(pairs_a, pairs_u) p(a, u)
      CROSS JOIN LATERAL (
        SELECT y.assignment_id, y.user_id
        FROM scoreledger_private.remedial_issuances r
        JOIN scoreledger_private.interventions y ON y.tenant_id = r.tenant_id AND y.intervention_id = r.intervention_id
        WHERE r.tenant_id = tenant AND r.assignment_id = p.a AND r.user_id = p.u AND r.status = 'issued'
        OFFSET 0) i
      UNION
      SELECT a.remedial_assignment_id, p.u
      FROM unnest(pairs_a, pairs_u) p(a, u)
      JOIN scoreledger_private.assignments a ON a.tenant_id = tenant AND a.assignment_id = p.a
      WHERE a.remedial_assignment_id IS NOT NULL AND a.intervention_after_fails IS NOT NULL) x;
    PERFORM scoreledger_private.lock_learners(tenant, lock_a, lock_u, late, fn);
  END IF;

  WITH effects AS MATERIALIZED (
    SELECT e.* FROM scoreledger_private.intervention_effects(pairs_a, pairs_u) e
    -- An intervention whose learner's lock this call does not hold is left
    -- to the call that holds it.
    WHERE e.effect <> 'complete' OR everyone OR (e.assignment_id, e.user_id) IN (SELECT * FROM unnest(lock_a, lock_u))
  ), closed_issuances AS (
    UPDATE scoreledger_private.remedial_issuances r
       SET status = scoreledger_private.lock_status_after('issuance', e.effect), closed_at = pg_catalog.clock_timestamp()
      FROM effects e
     WHERE r.tenant_id = tenant AND r.issuance_id = e.issuance_id AND e.effect IN ('complete', 'withdraw')
    RETURNING r.issuance_id
  ), closed AS (
    UPDATE scoreledger_private.interventions i
       SET status = scoreledger_private.lock_status_after('intervention', e.effect),
           closed_at = pg_catalog.clock_timestamp(), closed_by_batch_id = enact_intervention_rule.batch_id,
           note = CASE e.effect WHEN 'complete' THEN format('remedial assignment %s passed', e.remedial_assignment_id)
                  ELSE format('the rule no longer holds (%s of %s failed attempts counted): %s',
                              e.failed, coalesce(e.threshold::text, 'no'), cause) END
      FROM effects e
     WHERE i.tenant_id = tenant AND i.intervention_id = e.intervention_id AND e.effect IN ('complete', 'withdraw')
    RETURNING i.intervention_id
  ), openings AS MATERIALIZED (
    -- The new interventions' ids drawn first: the issuances and the
    -- remedial work already passed are then read off the same rows, with
    -- no join back to what was inserted (a nested loop over two sets the
    -- planner guesses at one row each: 126 ms for 1,667 openings, growing
    -- with their square). `issued` runs to completion though nothing reads
    -- it (a data-modifying WITH always does).
    SELECT gen_random_uuid() AS intervention_id, e.assignment_id, e.user_id, e.failed, e.threshold,
           e.remedial_assignment_id, e.remedial_passed
    FROM effects e WHERE e.effect = 'open'
  ), opened AS (
    INSERT INTO scoreledger_private.interventions AS i
      (tenant_id, intervention_id, assignment_id, user_id, status, origin, reason, opened_by_batch_id)
    SELECT tenant, o.intervention_id, o.assignment_id, o.user_id,
           (SELECT s.status FROM scoreledger_private.learner_lock_statuses s WHERE s.machine = 'intervention' AND s.initial),
           'rule', format('%s failed attempts (the rule: an intervention after %s)', o.failed, o.threshold),
           enact_intervention_rule.batch_id
    FROM openings o
    ORDER BY o.assignment_id, o.user_id
    RETURNING i.intervention_id
  ), issued AS (
    INSERT INTO scoreledger_private.remedial_issuances (tenant_id, issuance_id, intervention_id, assignment_id, user_id, status)
    SELECT tenant, gen_random_uuid(), o.intervention_id, o.remedial_assignment_id, o.user_id,
           (SELECT s.status FROM scoreledger_private.learner_lock_statuses s WHERE s.machine = 'issuance' AND s.initial)
    FROM openings o
    WHERE o.remedial_assignment_id IS NOT NULL
    ORDER BY o.assignment_id, o.user_id
  )
  SELECT (SELECT count(*) FROM opened)::integer,
         (SELECT count(*) FROM effects e WHERE e.effect = 'withdraw')::integer,
         (SELECT count(*) FROM effects e WHERE e.effect = 'complete')::integer,
         -- remedial_passed is true only where remedial work is issued.
         (SELECT array_agg(o.intervention_id) FROM openings o WHERE o.remedial_passed)
  INTO n_opened, n_withdrawn, n_completed, passed_already;

  IF passed_already IS NOT NULL THEN
    UPDATE scoreledger_private.remedial_issuances r
       SET status = scoreledger_private.lock_status_after('issuance', 'complete'), closed_at = pg_catalog.clock_timestamp()
     WHERE r.tenant_id = tenant AND r.intervention_id = ANY (passed_already);
    UPDATE scoreledger_private.interventions i
       SET status = scoreledger_private.lock_status_after('intervention', 'complete'),
           closed_at = pg_catalog.clock_timestamp(), closed_by_batch_id = enact_intervention_rule.batch_id,
           note = format('remedial assignment %s was already passed when it was issued',
                         (SELECT r.assignment_id FROM scoreledger_private.remedial_issuances r
                          WHERE r.tenant_id = tenant AND r.intervention_id = i.intervention_id))
     WHERE i.tenant_id = tenant AND i.intervention_id = ANY (passed_already);
    n_completed := n_completed + cardinality(passed_already);
  END IF;
  RETURN QUERY SELECT n_opened, n_withdrawn, n_completed;
END
$$;

-- ---------------------------------------------------------------------
-- API: manual open and resolve
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.require_note(field text, value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF value IS NULL OR value !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', field || ': must not be empty');
  END IF;
  PERFORM scoreledger_private.require_text_within(field, value, scoreledger_private.input_limit('reason_chars'));
  RETURN btrim(value, E' \t\r\n');
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.open_intervention(assignment_id uuid, user_id uuid, reason text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  existing uuid;
  new_id uuid := gen_random_uuid();
  clean_reason text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.open_intervention');
  PERFORM scoreledger_private.require_capability('resolve_intervention');
  IF open_intervention.user_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'user_id: is required');
  END IF;
  clean_reason := scoreledger_private.require_note('reason', reason);
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.assignments a
                 WHERE a.tenant_id = tenant AND a.assignment_id = open_intervention.assignment_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('assignment %s does not exist', open_intervention.assignment_id));
  END IF;
  PERFORM scoreledger_private.lock_learners(tenant, ARRAY[open_intervention.assignment_id], ARRAY[open_intervention.user_id],
                                            scoreledger_private.holds_locks(), 'scoreledger.open_intervention');
  SELECT i.intervention_id INTO existing FROM scoreledger_private.interventions i
  WHERE i.tenant_id = tenant AND i.assignment_id = open_intervention.assignment_id
    AND i.user_id = open_intervention.user_id AND i.status = 'open';
  IF existing IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL409', format('the learner already has open intervention %s on this assignment', existing));
  END IF;
  INSERT INTO scoreledger_private.interventions (tenant_id, intervention_id, assignment_id, user_id, status, origin, reason, opened_by)
  VALUES (tenant, new_id, open_intervention.assignment_id, open_intervention.user_id,
          (SELECT s.status FROM scoreledger_private.learner_lock_statuses s WHERE s.machine = 'intervention' AND s.initial),
          'manual', clean_reason, actor);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION scoreledger.open_intervention(uuid, uuid, text) IS
  'Locks a learner''s next attempt on an assignment until an instructor resolves it (origin manual; no batch ever changes it). SL409 if one is already open. Under enforce_capabilities needs resolve_intervention.';
GRANT EXECUTE ON FUNCTION scoreledger.open_intervention(uuid, uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.resolve_intervention(intervention_id uuid, note text)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  found_row scoreledger_private.interventions;
  clean_note text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.resolve_intervention');
  PERFORM scoreledger_private.require_capability('resolve_intervention');
  clean_note := scoreledger_private.require_note('note', note);
  SELECT * INTO found_row FROM scoreledger_private.interventions i
  WHERE i.tenant_id = tenant AND i.intervention_id = resolve_intervention.intervention_id;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('intervention %s does not exist', resolve_intervention.intervention_id));
  END IF;
  -- The learner's lock, then the row as it is now: a batch withdrawing it
  -- at the same moment goes first or sees it resolved.
  PERFORM scoreledger_private.lock_learners(tenant, ARRAY[found_row.assignment_id], ARRAY[found_row.user_id],
                                            scoreledger_private.holds_locks(), 'scoreledger.resolve_intervention');
  SELECT * INTO found_row FROM scoreledger_private.interventions i
  WHERE i.tenant_id = tenant AND i.intervention_id = resolve_intervention.intervention_id;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.learner_lock_transitions t
                 WHERE t.machine = 'intervention' AND t.from_status = found_row.status AND t.action = 'resolve') THEN
    PERFORM scoreledger_private.fail('SL409', format('intervention %s is %s; only an open intervention is resolved',
                                                     found_row.intervention_id, found_row.status));
  END IF;
  UPDATE scoreledger_private.interventions i
     SET status = scoreledger_private.lock_status_after('intervention', 'resolve'), closed_at = pg_catalog.clock_timestamp(),
         closed_by = actor, note = clean_note
   WHERE i.tenant_id = tenant AND i.intervention_id = found_row.intervention_id;
  UPDATE scoreledger_private.remedial_issuances r
     SET status = scoreledger_private.lock_status_after('issuance', 'resolve'), closed_at = pg_catalog.clock_timestamp()
   WHERE r.tenant_id = tenant AND r.intervention_id = found_row.intervention_id AND r.status = 'issued';
  RETURN (SELECT to_jsonb(v) FROM scoreledger.interventions v WHERE v.intervention_id = found_row.intervention_id);
END
$$;
COMMENT ON FUNCTION scoreledger.resolve_intervention(uuid, text) IS
  'An instructor (the actor) resolves an open intervention with a note: the learner may start again, the rule counts failures afresh, remedial work not completed is withdrawn. SL409 unless open; under enforce_capabilities needs resolve_intervention. Returns the intervention.';
GRANT EXECUTE ON FUNCTION scoreledger.resolve_intervention(uuid, text) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Read side
-- ---------------------------------------------------------------------

CREATE OR REPLACE VIEW scoreledger.interventions AS
  SELECT i.intervention_id, i.assignment_id, i.user_id, i.status, i.origin, i.reason, i.opened_at, i.opened_by,
         i.opened_by_batch_id, i.closed_at, i.closed_by, i.closed_by_batch_id, i.note
  FROM scoreledger_private.interventions i;
COMMENT ON VIEW scoreledger.interventions IS
  'Interventions of the current tenant: audited locks of one learner on one assignment (open, resolved, withdrawn; origin rule or manual).';
GRANT SELECT ON scoreledger.interventions TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.intervention_events AS
  SELECT e.event_id, e.intervention_id, e.from_status, e.to_status, e.actor_id, e.batch_id, e.note, e.occurred_at
  FROM scoreledger_private.intervention_events e;
COMMENT ON VIEW scoreledger.intervention_events IS
  'Every change of every intervention (append-only): from, to, actor, the batch that caused it, note.';
GRANT SELECT ON scoreledger.intervention_events TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.remedial_assignments AS
  SELECT r.issuance_id, r.intervention_id, r.assignment_id, r.user_id, r.status, r.issued_at, r.closed_at
  FROM scoreledger_private.remedial_issuances r;
COMMENT ON VIEW scoreledger.remedial_assignments IS
  'Remedial assignments issued to learners when a rule intervention opened: issued, completed (passed) or withdrawn.';
GRANT SELECT ON scoreledger.remedial_assignments TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.list_interventions(status text DEFAULT NULL, assignment_id uuid DEFAULT NULL)
RETURNS SETOF scoreledger.interventions
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_tenant();
  IF $1 IS NOT NULL AND $1 NOT IN (SELECT s.status FROM scoreledger_private.learner_lock_statuses s
                                   WHERE s.machine = 'intervention') THEN
    PERFORM scoreledger_private.fail('SL422', format('status: unknown status %L (expected open, resolved or withdrawn)', $1));
  END IF;
  RETURN QUERY
  SELECT i.* FROM scoreledger.interventions i
  WHERE ($1 IS NULL OR i.status = $1) AND ($2 IS NULL OR i.assignment_id = $2)
  ORDER BY i.opened_at DESC, i.intervention_id;
END
$$;
COMMENT ON FUNCTION scoreledger.list_interventions(text, uuid) IS
  'Interventions, newest first, optionally of one status and one assignment.';
GRANT EXECUTE ON FUNCTION scoreledger.list_interventions(text, uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.learner_status(assignment_id uuid, user_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  decision jsonb := scoreledger_private.attempt_decision(assignment_id, user_id);
  learner record;
  open_row jsonb;
  blockers jsonb;
BEGIN
  SELECT * INTO learner FROM scoreledger_private.learner_outcomes(ARRAY[learner_status.assignment_id],
                                                                  ARRAY[learner_status.user_id]);
  SELECT to_jsonb(i) INTO open_row FROM scoreledger.interventions i
  WHERE i.assignment_id = learner_status.assignment_id AND i.user_id = learner_status.user_id AND i.status = 'open';
  blockers := jsonb_path_query_array(decision -> 'reasons', '$[*] ? (@.code != "cooldown")');
  RETURN jsonb_build_object(
    'assignment_id', assignment_id, 'user_id', user_id,
    'outcome', CASE learner.outcome_passed WHEN true THEN 'pass' WHEN false THEN 'fail' END,
    'submissions', learner.submissions,
    'attempts_used', decision -> 'attempts_used',
    'max_attempts', decision -> 'max_attempts',
    'attempts_left', CASE WHEN decision ->> 'max_attempts' IS NOT NULL
                          THEN to_jsonb(greatest(0, (decision ->> 'max_attempts')::integer - (decision ->> 'attempts_used')::integer)) END,
    'allowed', decision -> 'allowed',
    'reasons', decision -> 'reasons',
    -- Now, when allowed; the cooldown's end when only it stands in the way;
    -- null while anything else does.
    'next_allowed_start', CASE WHEN (decision ->> 'allowed')::boolean THEN to_jsonb(pg_catalog.clock_timestamp())
                               WHEN jsonb_array_length(blockers) = 0
                                 THEN jsonb_path_query_first(decision -> 'reasons', '$[*] ? (@.code == "cooldown").retry_at') END,
    'open_intervention', open_row,
    'remedial_work', coalesce((
      SELECT jsonb_agg(to_jsonb(r) ORDER BY r.issued_at)
      FROM scoreledger.remedial_assignments r
      JOIN scoreledger_private.interventions i ON i.intervention_id = r.intervention_id
      WHERE i.assignment_id = learner_status.assignment_id AND i.user_id = learner_status.user_id), '[]'));
END
$$;
COMMENT ON FUNCTION scoreledger.learner_status(uuid, uuid) IS
  'What a learner''s page shows for one assignment: outcome, attempts used and left, whether and when the next start is allowed (every reason), the open intervention, remedial work.';
GRANT EXECUTE ON FUNCTION scoreledger.learner_status(uuid, uuid) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- check: the Phase 5 invariants of the current tenant
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.learner_breaches()
RETURNS TABLE (invariant text, breaches bigint, sample text)
LANGUAGE sql STABLE
AS $$
  WITH pending AS (
    -- The rule over every learner it could concern: any effect other than
    -- a completion (which may wait for the learner's next recording on
    -- the remedial assignment) is a condition without its intervention, or
    -- an open rule intervention without its condition.
    SELECT e.* FROM (
      SELECT array_agg(p.assignment_id) AS aa, array_agg(p.user_id) AS uu FROM (
        SELECT DISTINCT s.assignment_id, s.user_id FROM scoreledger_private.submissions s
        JOIN scoreledger_private.assignments a ON a.tenant_id = s.tenant_id AND a.assignment_id = s.assignment_id
        WHERE s.tenant_id = (SELECT scoreledger.current_tenant()) AND a.intervention_after_fails IS NOT NULL
        UNION
        SELECT i.assignment_id, i.user_id FROM scoreledger_private.interventions i
        WHERE i.tenant_id = (SELECT scoreledger.current_tenant()) AND i.status = 'open') p) x
    CROSS JOIN LATERAL scoreledger_private.intervention_effects(x.aa, x.uu) e
    WHERE x.aa IS NOT NULL AND e.effect <> 'complete'
  ), doubled AS (
    SELECT i.assignment_id, i.user_id FROM scoreledger_private.interventions i
    WHERE i.tenant_id = (SELECT scoreledger.current_tenant()) AND i.status = 'open'
    GROUP BY i.assignment_id, i.user_id HAVING count(*) > 1
  ), mismatched AS (
    SELECT r.issuance_id FROM scoreledger_private.remedial_issuances r
    LEFT JOIN scoreledger_private.interventions i ON i.tenant_id = r.tenant_id AND i.intervention_id = r.intervention_id
    WHERE r.tenant_id = (SELECT scoreledger.current_tenant())
      AND NOT (r.status = 'issued' AND i.status = 'open' OR r.status = 'completed' AND i.status = 'resolved'
               OR r.status = 'withdrawn' AND i.status IN ('resolved', 'withdrawn'))
  ), bad_attempts AS (
    SELECT s.submission_id FROM scoreledger_private.submissions s
    LEFT JOIN scoreledger_private.attempt_starts st ON st.tenant_id = s.tenant_id AND st.attempt_id = s.attempt_id
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant()) AND s.attempt_id IS NOT NULL
      AND (st.attempt_id IS NULL OR st.user_id <> s.user_id OR st.assignment_id IS DISTINCT FROM s.assignment_id)
  ), unlogged AS (
    SELECT i.intervention_id FROM scoreledger_private.interventions i
    WHERE i.tenant_id = (SELECT scoreledger.current_tenant())
      AND i.status IS DISTINCT FROM (SELECT e.to_status FROM scoreledger_private.intervention_events e
                                     WHERE e.tenant_id = i.tenant_id AND e.intervention_id = i.intervention_id
                                     ORDER BY e.event_id DESC LIMIT 1)
  )
  SELECT 'every rule condition that holds has an open intervention, every open rule intervention its condition',
         (SELECT count(*) FROM pending),
         (SELECT string_agg(format('%s %s/%s', p.effect, p.assignment_id, p.user_id), ', ')
            FROM (SELECT * FROM pending ORDER BY 2, 3 LIMIT 5) p)
  UNION ALL
  SELECT 'at most one open intervention per learner and assignment', (SELECT count(*) FROM doubled),
         (SELECT string_agg(format('%s/%s', d.assignment_id, d.user_id), ', ') FROM (SELECT * FROM doubled LIMIT 5) d)
  UNION ALL
  SELECT 'remedial issuances match their interventions', (SELECT count(*) FROM mismatched),
         (SELECT string_agg(m.issuance_id::text, ', ') FROM (SELECT * FROM mismatched ORDER BY 1 LIMIT 5) m)
  UNION ALL
  SELECT 'a submission''s attempt_id is a start of its user and assignment', (SELECT count(*) FROM bad_attempts),
         (SELECT string_agg(b.submission_id::text, ', ') FROM (SELECT * FROM bad_attempts ORDER BY 1 LIMIT 5) b)
  UNION ALL
  SELECT 'every intervention''s latest event is its status', (SELECT count(*) FROM unlogged),
         (SELECT string_agg(u.intervention_id::text, ', ') FROM (SELECT * FROM unlogged ORDER BY 1 LIMIT 5) u)
$$;
