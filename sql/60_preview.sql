-- =====================================================================
-- Impact preview: who will pass, who will fail — before anything is
-- applied. A dry run by construction: the rows come from batch_changes,
-- the very routine apply and revert write from; nothing here writes.
-- =====================================================================

-- Every submission the batch reaches, before and after, with pass/fail.
CREATE OR REPLACE FUNCTION scoreledger_private.preview_rows(batch_id uuid, reverting boolean, question_version_ids uuid[])
RETURNS TABLE (submission_id uuid, user_id uuid, assignment_id uuid, old_score numeric, new_score numeric,
               old_max_score numeric, new_max_score numeric, old_passed boolean, new_passed boolean)
LANGUAGE sql STABLE
AS $$
  SELECT c.submission_id, c.user_id, c.assignment_id, c.old_score, c.new_score, c.old_max_score, c.new_max_score,
         scoreledger_private.is_passing(c.old_score, c.old_max_score, v.pass_mark),
         scoreledger_private.is_passing(c.new_score, c.new_max_score, v.pass_mark)
  FROM scoreledger_private.batch_changes(batch_id, reverting, question_version_ids, 0, NULL) c
  JOIN scoreledger_private.evaluation_versions v
    ON v.tenant_id = (SELECT scoreledger.current_tenant()) AND v.evaluation_version_id = c.evaluation_version_id
$$;

-- The preview document of contract §6 for the rows of a batch. Planned as
-- a one-shot query with the batch's questions known (see batch_question_ids).
-- Without with_assignments, the per-assignment outcomes (the costly part)
-- are left out: the stored figures need only the totals (the intervention
-- rule's among them; intervention_effects is proportional to the learners).
-- Over 80 lines: one statement, planned once with its CTEs in view of each
-- other (split into functions, the planner loses the row estimates).
CREATE OR REPLACE FUNCTION scoreledger_private.preview_document(batch_id uuid, reverting boolean, with_assignments boolean)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $fn$
DECLARE
  document jsonb;
BEGIN
  EXECUTE $sql$
  WITH changes AS MATERIALIZED (
    SELECT * FROM scoreledger_private.preview_rows($1, $2, $3)
  ), totals AS (
    -- Up/down compares score / max_score (cross-multiplied): dropping an
    -- item lowers max_score, and what matters to a learner is the fraction.
    SELECT count(*) AS affected,
           count(*) FILTER (WHERE c.new_score * c.old_max_score > c.old_score * c.new_max_score
                              OR (c.old_max_score = 0 AND c.new_max_score > 0 AND c.new_score > 0)) AS up,
           count(*) FILTER (WHERE c.new_score * c.old_max_score < c.old_score * c.new_max_score
                              OR (c.new_max_score = 0 AND c.old_max_score > 0 AND c.old_score > 0)) AS down,
           count(*) FILTER (WHERE c.old_passed AND NOT c.new_passed) AS pass_to_fail,
           count(*) FILTER (WHERE NOT c.old_passed AND c.new_passed) AS fail_to_pass
    FROM changes c
  ), learners AS (
    SELECT DISTINCT c.assignment_id, c.user_id FROM changes c WHERE c.assignment_id IS NOT NULL
  ), attempt_rows AS (
    -- Every attempt of those learners at those assignments as stored, plus
    -- the changed attempts with their new scores; DISTINCT ON below keeps
    -- the changed version. (No join between the CTEs: the planner cannot see
    -- their sizes, and a nested loop over them is quadratic.)
    SELECT s.submission_id, s.assignment_id, s.user_id, s.evaluation_version_id, s.submitted_at, s.attempt_no,
           s.score AS old_score, s.max_score AS old_max, s.score AS new_score, s.max_score AS new_max, 1 AS source
    FROM learners l
    JOIN scoreledger_private.submissions s
      ON s.tenant_id = (SELECT scoreledger.current_tenant()) AND s.assignment_id = l.assignment_id AND s.user_id = l.user_id
    UNION ALL
    SELECT s.submission_id, s.assignment_id, s.user_id, s.evaluation_version_id, s.submitted_at, s.attempt_no,
           c.old_score, c.old_max_score, c.new_score, c.new_max_score, 0 AS source
    FROM changes c
    JOIN scoreledger_private.submissions s
      ON s.tenant_id = (SELECT scoreledger.current_tenant()) AND s.submission_id = c.submission_id
    WHERE c.assignment_id IS NOT NULL
  ), attempts AS (
    SELECT DISTINCT ON (r.submission_id) r.assignment_id, r.user_id, a.attempt_policy, r.submitted_at, r.attempt_no,
           r.old_score, r.old_max, r.new_score, r.new_max, v.pass_mark
    FROM attempt_rows r
    JOIN scoreledger_private.assignments a
      ON a.tenant_id = (SELECT scoreledger.current_tenant()) AND a.assignment_id = r.assignment_id
    JOIN scoreledger_private.evaluation_versions v
      ON v.tenant_id = (SELECT scoreledger.current_tenant()) AND v.evaluation_version_id = r.evaluation_version_id
    ORDER BY r.submission_id, r.source
  ), ranked AS (
    SELECT t.*,
           scoreledger_private.is_passing(t.old_score, t.old_max, t.pass_mark) AS old_passed,
           scoreledger_private.is_passing(t.new_score, t.new_max, t.pass_mark) AS new_passed,
           scoreledger_private.attempt_rank(t.attempt_policy, t.old_score, t.old_max, t.submitted_at, t.attempt_no) AS old_rank,
           scoreledger_private.attempt_rank(t.attempt_policy, t.new_score, t.new_max, t.submitted_at, t.attempt_no) AS new_rank
    FROM attempts t
  ), outcomes AS (
    -- The attempt policy picks the submission whose pass/fail is the
    -- outcome (attempt_rank, sql/45_attempts.sql), before and after.
    SELECT DISTINCT ON (r.assignment_id, r.user_id) r.assignment_id, r.user_id,
           first_value(r.old_passed) OVER (w ORDER BY r.old_rank) AS passed_before,
           first_value(r.new_passed) OVER (w ORDER BY r.new_rank) AS passed_after
    FROM ranked r
    WINDOW w AS (PARTITION BY r.assignment_id, r.user_id)
    ORDER BY r.assignment_id, r.user_id
  ), per_assignment AS (
    SELECT o.assignment_id,
           coalesce(jsonb_agg(o.user_id ORDER BY o.user_id) FILTER (WHERE o.passed_before AND NOT o.passed_after), '[]') AS pass_to_fail,
           coalesce(jsonb_agg(o.user_id ORDER BY o.user_id) FILTER (WHERE NOT o.passed_before AND o.passed_after), '[]') AS fail_to_pass,
           count(*) FILTER (WHERE o.passed_before = o.passed_after) AS unchanged
    FROM outcomes o GROUP BY o.assignment_id
  ), effects AS MATERIALIZED (
    -- The intervention rule (sql/46_interventions.sql) over the learners
    -- apply would hand it, reading their new scores: what apply then opens,
    -- withdraws and completes (remedial work already passed when an
    -- opening issues it included).
    SELECT e.effect, e.assignment_id, e.user_id, e.remedial_passed
    FROM (SELECT array_agg(c.assignment_id) AS aa, array_agg(c.user_id) AS uu,
                 jsonb_object_agg(c.submission_id, jsonb_build_array(c.new_score, c.new_max_score)) AS overrides
          FROM changes c WHERE c.assignment_id IS NOT NULL) x
    CROSS JOIN LATERAL scoreledger_private.intervention_effects(x.aa, x.uu, x.overrides) e
    WHERE x.aa IS NOT NULL
  )
  SELECT jsonb_build_object(
    'batch_id', $1,
    'submissionsAffected', t.affected,
    'scoreUp', t.up, 'scoreDown', t.down, 'scoreUnchanged', t.affected - t.up - t.down,
    'passToFail', t.pass_to_fail, 'failToPass', t.fail_to_pass,
    'outcomeUnchanged', t.affected - t.pass_to_fail - t.fail_to_pass)
  || CASE WHEN $4 THEN jsonb_build_object('assignments', coalesce((
      SELECT jsonb_agg(jsonb_build_object(
               'assignment_id', p.assignment_id, 'title', a.title, 'programme', a.programme,
               'attempt_policy', a.attempt_policy,
               'passToFail', p.pass_to_fail, 'failToPass', p.fail_to_pass, 'unchanged', p.unchanged,
               'interventionsOpened', coalesce((SELECT jsonb_agg(e.user_id ORDER BY e.user_id) FROM effects e
                                                WHERE e.effect = 'open' AND e.assignment_id = p.assignment_id), '[]'),
               'interventionsWithdrawn', coalesce((SELECT jsonb_agg(e.user_id ORDER BY e.user_id) FROM effects e
                                                   WHERE e.effect = 'withdraw' AND e.assignment_id = p.assignment_id), '[]'))
             ORDER BY a.title, p.assignment_id)
      FROM per_assignment p
      JOIN scoreledger_private.assignments a
        ON a.tenant_id = (SELECT scoreledger.current_tenant()) AND a.assignment_id = p.assignment_id), '[]'))
     ELSE '{}' END
  -- The rule's totals always: the stored figures carry them too.
  || jsonb_build_object('interventions', (
       SELECT jsonb_build_object('opened', count(*) FILTER (WHERE e.effect = 'open'),
                                 'withdrawn', count(*) FILTER (WHERE e.effect = 'withdraw'),
                                 'remedialCompleted', count(*) FILTER (WHERE e.effect = 'complete' OR e.remedial_passed))
       FROM effects e))
  FROM totals t
  $sql$ INTO document USING batch_id, reverting, scoreledger_private.batch_question_ids(batch_id), with_assignments;
  RETURN document;
END
$fn$;

-- Stores the preview's totals on the batch for the action center
-- (scoreledger.batch_next_actions): the same routine as the preview, so
-- the figures are what a preview said at that moment (figures_at).
CREATE OR REPLACE FUNCTION scoreledger_private.store_preview_figures(batch_id uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  totals jsonb := scoreledger_private.preview_document(batch_id, false, false);
BEGIN
  UPDATE scoreledger_private.correction_batches b
     SET figures_submissions_affected = (totals->>'submissionsAffected')::integer,
         figures_pass_to_fail = (totals->>'passToFail')::integer,
         figures_fail_to_pass = (totals->>'failToPass')::integer,
         figures_interventions_opened = (totals#>>'{interventions,opened}')::integer,
         figures_interventions_withdrawn = (totals#>>'{interventions,withdrawn}')::integer,
         figures_remedial_completed = (totals#>>'{interventions,remedialCompleted}')::integer,
         figures_at = clock_timestamp()
   WHERE b.tenant_id = (SELECT scoreledger.current_tenant()) AND b.batch_id = store_preview_figures.batch_id;
END
$$;

-- A batch that may be previewed now: the state machine's preview and
-- preview_revert actions (sql/25_workflow.sql) say from which statuses.
-- Reads without locking: a preview writes nothing and waits for nobody.
CREATE OR REPLACE FUNCTION scoreledger_private.require_previewable(batch_id uuid, reverting boolean)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  batch scoreledger_private.correction_batches;
BEGIN
  SELECT * INTO batch FROM scoreledger_private.correction_batches b
  WHERE b.tenant_id = tenant AND b.batch_id = require_previewable.batch_id;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('correction batch %s does not exist', batch_id));
  END IF;
  PERFORM scoreledger_private.require_transition(batch, CASE WHEN reverting THEN 'preview_revert' ELSE 'preview' END);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.preview_correction_batch(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_previewable(batch_id, false);
  RETURN scoreledger_private.preview_document(batch_id, false, true);
END
$$;
COMMENT ON FUNCTION scoreledger.preview_correction_batch(uuid) IS
  'Dry run of apply for a draft or approved batch: submissions affected, score up/down, pass<->fail, and per assignment the learners whose outcome (under its attempt policy) changes. Writes nothing.';
GRANT EXECUTE ON FUNCTION scoreledger.preview_correction_batch(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.preview_correction_batch_changes(batch_id uuid)
RETURNS TABLE (submission_id uuid, user_id uuid, assignment_id uuid, old_score numeric, new_score numeric,
               old_max_score numeric, new_max_score numeric, old_passed boolean, new_passed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_previewable(batch_id, false);
  RETURN QUERY EXECUTE 'SELECT * FROM scoreledger_private.preview_rows($1, false, $2) p ORDER BY p.submission_id'
    USING batch_id, scoreledger_private.batch_question_ids(batch_id);
END
$$;
COMMENT ON FUNCTION scoreledger.preview_correction_batch_changes(uuid) IS
  'Dry run of apply, one row per submission the batch would rescore: old and new score, max score and pass/fail. Writes nothing.';
GRANT EXECUTE ON FUNCTION scoreledger.preview_correction_batch_changes(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.preview_revert(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_previewable(batch_id, true);
  RETURN scoreledger_private.preview_document(batch_id, true, true);
END
$$;
COMMENT ON FUNCTION scoreledger.preview_revert(uuid) IS
  'Dry run of revert for an applied batch: the preview document of what reverting it would do. Writes nothing.';
GRANT EXECUTE ON FUNCTION scoreledger.preview_revert(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.preview_revert_changes(batch_id uuid)
RETURNS TABLE (submission_id uuid, user_id uuid, assignment_id uuid, old_score numeric, new_score numeric,
               old_max_score numeric, new_max_score numeric, old_passed boolean, new_passed boolean)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_previewable(batch_id, true);
  RETURN QUERY EXECUTE 'SELECT * FROM scoreledger_private.preview_rows($1, true, $2) p ORDER BY p.submission_id'
    USING batch_id, scoreledger_private.batch_question_ids(batch_id);
END
$$;
COMMENT ON FUNCTION scoreledger.preview_revert_changes(uuid) IS
  'Dry run of revert, one row per submission reverting the applied batch would rescore (the rows of preview_revert): old and new score, max score and pass/fail. Writes nothing.';
GRANT EXECUTE ON FUNCTION scoreledger.preview_revert_changes(uuid) TO scoreledger_app;
