-- =====================================================================
-- Rescoring: the routine apply, revert and preview share. Lock the
-- affected evaluation versions, compute every in-scope submission's new
-- score as its stored score plus the change in points of the targeted
-- items only (old item state -> new item state, both from
-- sql/30_scoring.sql), and write one history row per submission; the
-- history trigger moves the scores. Apply and revert themselves (the
-- batch's workflow around this routine): sql/50_remediation.sql.
-- =====================================================================

-- The question versions a batch targets. Callers hand them to
-- batch_changes as a parameter of a one-shot (EXECUTE) plan, so the planner
-- sees the actual questions and their answer counts: a batch touching 1 %
-- of the submissions is planned as an index lookup, not a scan of them all.
CREATE OR REPLACE FUNCTION scoreledger_private.batch_question_ids(batch_id uuid)
RETURNS uuid[]
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(array_agg(DISTINCT c.question_version_id), '{}')
  FROM scoreledger_private.corrections c
  WHERE c.tenant_id = (SELECT scoreledger.current_tenant()) AND c.batch_id = batch_question_ids.batch_id
$$;

-- Every submission a batch reaches, with its stored score and the score it
-- gets once the batch is added to (reverting: removed from) the active
-- corrections. Only the targeted items' points are recomputed: the change
-- in points is added to the stored score, which the invariants keep equal
-- to the full scoring of every other item. Only submissions numbered above
-- `after_no` and up to `up_to_no` (null: no bound), the two passes of
-- rescore_batch; a preview passes 0 and null.
CREATE OR REPLACE FUNCTION scoreledger_private.batch_changes(batch_id uuid, reverting boolean, question_version_ids uuid[],
                                                            after_no bigint, up_to_no bigint)
RETURNS TABLE (submission_id uuid, evaluation_version_id uuid, user_id uuid, assignment_id uuid,
               old_score numeric, new_score numeric, old_max_score numeric, new_max_score numeric)
LANGUAGE sql STABLE
AS $$
  WITH targets AS MATERIALIZED (
    SELECT c.evaluation_version_id, c.question_version_id,
           bool_or(NOT c.scoped) AS everyone,
           array_agg(c.ordinal) FILTER (WHERE c.scoped) AS scoped_ordinals
    FROM scoreledger_private.corrections c
    WHERE c.tenant_id = (SELECT scoreledger.current_tenant()) AND c.batch_id = batch_changes.batch_id
    GROUP BY c.evaluation_version_id, c.question_version_id
  ), keys AS MATERIALIZED (
    SELECT array_agg(DISTINCT t.evaluation_version_id) AS version_ids,
           array_agg(DISTINCT t.question_version_id) AS question_ids
    FROM targets t
  ), old_states AS MATERIALIZED (
    SELECT st.* FROM keys, scoreledger_private.item_states(keys.version_ids, keys.question_ids) st
  ), new_states AS MATERIALIZED (
    SELECT st.* FROM keys, scoreledger_private.item_states(keys.version_ids, keys.question_ids,
      CASE WHEN NOT reverting THEN batch_changes.batch_id END, CASE WHEN reverting THEN batch_changes.batch_id END) st
  ), old_credits AS MATERIALIZED (
    SELECT sc.* FROM keys, scoreledger_private.scoped_credits(keys.version_ids) sc
  ), new_credits AS MATERIALIZED (
    SELECT sc.* FROM keys, scoreledger_private.scoped_credits(keys.version_ids,
      CASE WHEN NOT reverting THEN batch_changes.batch_id END, CASE WHEN reverting THEN batch_changes.batch_id END) sc
  ), in_scope AS (
    -- Items corrected for everyone: every submission containing the item.
    SELECT s.submission_id, s.evaluation_version_id, s.user_id, s.assignment_id, s.score, s.max_score,
           a.question_version_id, a.selected_mask
    FROM targets t
    JOIN scoreledger_private.answers a
      ON a.tenant_id = (SELECT scoreledger.current_tenant()) AND a.question_version_id = t.question_version_id
     AND a.question_version_id = ANY (question_version_ids)
     AND a.submission_no > after_no AND (up_to_no IS NULL OR a.submission_no <= up_to_no)
    JOIN scoreledger_private.submissions s
      ON s.tenant_id = a.tenant_id AND s.submission_id = a.submission_id
     AND s.evaluation_version_id = t.evaluation_version_id
    WHERE t.everyone
    UNION ALL
    -- Items only marked correct for listed submissions: just those.
    SELECT s.submission_id, s.evaluation_version_id, s.user_id, s.assignment_id, s.score, s.max_score,
           a.question_version_id, a.selected_mask
    FROM targets t
    JOIN scoreledger_private.correction_submissions cs
      ON cs.tenant_id = (SELECT scoreledger.current_tenant()) AND cs.batch_id = batch_changes.batch_id
     AND cs.ordinal = ANY (t.scoped_ordinals)
    JOIN scoreledger_private.submissions s
      ON s.tenant_id = cs.tenant_id AND s.submission_id = cs.submission_id
    JOIN scoreledger_private.answers a
      ON a.tenant_id = s.tenant_id AND a.submission_no = s.submission_no AND a.question_version_id = t.question_version_id
     AND a.submission_no > after_no AND (up_to_no IS NULL OR a.submission_no <= up_to_no)
    WHERE NOT t.everyone
  )
  SELECT x.submission_id, x.evaluation_version_id, x.user_id, x.assignment_id,
         x.score, x.score + sum(
           scoreledger_private.item_award(n.kind, n.scoring, n.points, n.key_mask, n.dropped,
             n.credit_all OR (n.credit_scoped AND (x.evaluation_version_id, x.question_version_id, x.submission_id)
                                                  IN (SELECT * FROM new_credits)),
             x.selected_mask)
         - scoreledger_private.item_award(o.kind, o.scoring, o.points, o.key_mask, o.dropped,
             o.credit_all OR (o.credit_scoped AND (x.evaluation_version_id, x.question_version_id, x.submission_id)
                                                  IN (SELECT * FROM old_credits)),
             x.selected_mask)),
         x.max_score,
         x.max_score + sum(scoreledger_private.item_max(n.points, n.dropped) - scoreledger_private.item_max(o.points, o.dropped))
  FROM in_scope x
  JOIN old_states o ON o.evaluation_version_id = x.evaluation_version_id AND o.question_version_id = x.question_version_id
  JOIN new_states n ON n.evaluation_version_id = x.evaluation_version_id AND n.question_version_id = x.question_version_id
  GROUP BY x.submission_id, x.evaluation_version_id, x.user_id, x.assignment_id, x.score, x.max_score
$$;

-- One pass of rescore_batch: a history row for every submission the batch
-- reaches numbered above `after_no` and up to `up_to_no` (null: no bound).
-- Returns how many it rescored, how many scores changed, how many went
-- pass -> fail and fail -> pass (counted as the preview counts them), all
-- from the one statement that wrote, and the (assignment, user) of each
-- rescored submission that names an assignment.
CREATE OR REPLACE FUNCTION scoreledger_private.rescore_pass(batch_id uuid, reverting boolean, history_batch_id uuid,
                                                           question_ids uuid[], after_no bigint, up_to_no bigint)
RETURNS TABLE (rescored integer, changed integer, pass_to_fail integer, fail_to_pass integer,
               pair_assignments uuid[], pair_users uuid[])
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  -- A one-shot plan: the planner sees the batch's questions (see
  -- batch_question_ids) and the bounds, so that a catch-up reads the
  -- answers' primary key from `after_no` on, not every answer to them.
  RETURN QUERY EXECUTE $sql$
    WITH changes AS MATERIALIZED (
      SELECT * FROM scoreledger_private.batch_changes($1, $2, $3, $6, $7)
    ), written AS (
      INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, correction_batch_id, score, max_score)
      SELECT $4, ch.submission_id, $5, ch.new_score, ch.new_max_score FROM changes ch
    ), pass_marks AS MATERIALIZED (
      -- Few versions per batch: read once, not probed once per submission
      -- (the planner takes changes for one row and would nest a loop).
      SELECT v.evaluation_version_id, v.pass_mark FROM scoreledger_private.evaluation_versions v
      WHERE v.tenant_id = $4 AND v.evaluation_version_id IN (SELECT ch.evaluation_version_id FROM changes ch)
    )
    SELECT count(*)::integer,
           (count(*) FILTER (WHERE (ch.old_score, ch.old_max_score) IS DISTINCT FROM (ch.new_score, ch.new_max_score)))::integer,
           (count(*) FILTER (WHERE scoreledger_private.is_passing(ch.old_score, ch.old_max_score, v.pass_mark)
                               AND NOT scoreledger_private.is_passing(ch.new_score, ch.new_max_score, v.pass_mark)))::integer,
           (count(*) FILTER (WHERE NOT scoreledger_private.is_passing(ch.old_score, ch.old_max_score, v.pass_mark)
                               AND scoreledger_private.is_passing(ch.new_score, ch.new_max_score, v.pass_mark)))::integer,
           array_agg(ch.assignment_id) FILTER (WHERE ch.assignment_id IS NOT NULL),
           array_agg(ch.user_id) FILTER (WHERE ch.assignment_id IS NOT NULL)
    FROM changes ch JOIN pass_marks v ON v.evaluation_version_id = ch.evaluation_version_id
  $sql$
  USING batch_id, reverting, question_ids, scoreledger_private.require_tenant(), history_batch_id, after_no, up_to_no;
END
$$;

-- Whether a submission answering one of the questions was recorded in
-- this tenant after the floor: one descent of the answers' primary key
-- (tenant, submission_no) when none was (a one-shot plan, so the bound is
-- a constant the planner estimates past every number it has seen).
CREATE OR REPLACE FUNCTION scoreledger_private.recorded_since(tenant uuid, question_ids uuid[], floor_no bigint)
RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  found boolean;
BEGIN
  IF scoreledger_private.last_submission_no() <= floor_no THEN
    RETURN false;  -- no submission at all since the floor
  END IF;
  EXECUTE 'SELECT EXISTS (SELECT 1 FROM scoreledger_private.answers a
                          WHERE a.tenant_id = $1 AND a.submission_no > $3 AND a.question_version_id = ANY ($2))'
    INTO found USING tenant, question_ids, floor_no;
  RETURN found;
END
$$;

-- Writes one history row per submission the batch reaches, in two passes,
-- so that recording on the batch's evaluation versions goes on while it
-- rescores them (the lock order: sql/30_scoring.sql, docs/security.md
-- section 6 item 2):
--   1. the versions' rescoring locks, held to the commit: one apply or
--      revert at a time per version;
--   2. the floor (recorded_floor): every submission of them numbered up to
--      it is committed, every later one numbered above it;
--   3. the bulk pass over the submissions up to the floor, while recording
--      goes on and scores under the corrections in force without the batch
--      (with it, reverting);
--   4. the versions' locks, exclusive to the commit: recordings in flight
--      finish, later ones wait for the commit and score under the batch;
--   5. the catch-up pass over the submissions recorded since the floor (by
--      the recordings of step 3, under the old corrections: the delta of
--      batch_changes rescores them exactly), then the intervention rule
--      over every learner rescored, with the final scores.
-- So a submission gets exactly one history row of the batch, and none is
-- recorded under a half-applied batch. Returns the two passes' figures
-- summed (see rescore_pass), then what the rule did (opened, withdrawn,
-- remedial work completed), as enact_intervention_rule counts it.
CREATE OR REPLACE FUNCTION scoreledger_private.rescore_batch(batch_id uuid, reverting boolean, history_batch_id uuid,
                                                            late boolean, fn text)
RETURNS TABLE (submissions_rescored integer, scores_changed integer, pass_to_fail integer, fail_to_pass integer,
               interventions_opened integer, interventions_withdrawn integer, remedial_completed integer)
LANGUAGE plpgsql VOLATILE
-- No parallel workers: the history trigger's reference check of a 99,000
-- row apply went to a parallel scan shipping its 99,000-id array to each
-- worker (239 ms, 88 ms serial); the writes themselves never run parallel.
SET max_parallel_workers_per_gather = 0
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  versions uuid[];
  question_ids uuid[] := scoreledger_private.batch_question_ids(rescore_batch.batch_id);
  floor_no bigint;
  pair_assignments uuid[];
  pair_users uuid[];
  caught_up record;
BEGIN
  versions := ARRAY(SELECT DISTINCT c.evaluation_version_id FROM scoreledger_private.corrections c
                    WHERE c.tenant_id = tenant AND c.batch_id = rescore_batch.batch_id);
  -- `late`: the caller's transaction held locks before this call; it must
  -- not wait (sql/30_scoring.sql): every lock below is then tried, and the
  -- versions' locks are kept from the floor on (one pass, no catch-up).
  PERFORM scoreledger_private.lock_version_rescoring(tenant, versions, late, fn);
  floor_no := scoreledger_private.recorded_floor(tenant, versions, late, fn);

  -- New statement, new snapshot: it sees every submission up to the floor.
  -- No other transaction writes them (recordings of them ended, other
  -- rescorings wait on the locks of step 1): their scores hold still.
  SELECT * INTO submissions_rescored, scores_changed, pass_to_fail, fail_to_pass, pair_assignments, pair_users
  FROM scoreledger_private.rescore_pass(rescore_batch.batch_id, reverting, history_batch_id, question_ids, 0, floor_no);

  PERFORM scoreledger_private.lock_versions(tenant, versions, true, late, fn);
  IF scoreledger_private.recorded_since(tenant, question_ids, floor_no) THEN
    SELECT * INTO caught_up
    FROM scoreledger_private.rescore_pass(rescore_batch.batch_id, reverting, history_batch_id, question_ids, floor_no, NULL);
    submissions_rescored := submissions_rescored + caught_up.rescored;
    scores_changed := scores_changed + caught_up.changed;
    pass_to_fail := pass_to_fail + caught_up.pass_to_fail;
    fail_to_pass := fail_to_pass + caught_up.fail_to_pass;
    pair_assignments := pair_assignments || caught_up.pair_assignments;
    pair_users := pair_users || caught_up.pair_users;
  END IF;

  -- The learners whose submissions were rescored: the intervention rule
  -- over them, in this transaction (sql/46_interventions.sql), as the
  -- preview counted it.
  SELECT r.opened, r.withdrawn, r.completed INTO interventions_opened, interventions_withdrawn, remedial_completed
  FROM scoreledger_private.enact_intervention_rule(pair_assignments, pair_users, history_batch_id,
    format('batch %s %s', history_batch_id, CASE WHEN reverting THEN 'reverted a correction' ELSE 'was applied' END),
    late, fn) r;
  RETURN NEXT;
END
$$;
