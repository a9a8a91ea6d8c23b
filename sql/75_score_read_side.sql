-- =====================================================================
-- Score layer, part 6: the read side -- the views of producers and scores,
-- and the invariants `scoreledger check` verifies (score_breaches).
-- =====================================================================

CREATE OR REPLACE VIEW scoreledger.evaluators AS
  SELECT e.evaluator_id, e.name, e.output_schema, e.created_at
  FROM scoreledger_private.evaluators e;
COMMENT ON VIEW scoreledger.evaluators IS 'Registered evaluators of the current tenant with their output schemas.';
GRANT SELECT ON scoreledger.evaluators TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.evaluation_results AS
  SELECT r.result_id, r.evaluator_id, e.name AS evaluator, r.submission_id, r.payload, r.error,
         r.created_at, r.updated_at
  FROM scoreledger_private.evaluation_results r
  JOIN scoreledger_private.evaluators e ON e.tenant_id = r.tenant_id AND e.evaluator_id = r.evaluator_id;
COMMENT ON VIEW scoreledger.evaluation_results IS 'Evaluation results of the current tenant (the automated producer of scores).';
GRANT SELECT ON scoreledger.evaluation_results TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.review_queues AS
  SELECT q.queue_id, q.name, q.form_schema, q.created_at
  FROM scoreledger_private.review_queues q;
COMMENT ON VIEW scoreledger.review_queues IS 'Review queues of the current tenant with their form schemas.';
GRANT SELECT ON scoreledger.review_queues TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.review_items AS
  SELECT i.item_id, i.queue_id, i.submission_id, i.message_ref, i.created_at
  FROM scoreledger_private.review_items i;
COMMENT ON VIEW scoreledger.review_items IS 'Review items of the current tenant: a submission, or only a message (message_ref).';
GRANT SELECT ON scoreledger.review_items TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.annotations AS
  SELECT a.annotation_id, a.item_id AS review_item_id, i.queue_id, i.submission_id, a.reviewer_id, a.data, a.status,
         a.is_authoritative, a.created_at, a.updated_at, a.submitted_at
  FROM scoreledger_private.annotations a
  JOIN scoreledger_private.review_items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id;
COMMENT ON VIEW scoreledger.annotations IS 'Annotations of the current tenant (the human producer of scores), drafts included.';
GRANT SELECT ON scoreledger.annotations TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.scores AS
  SELECT s.score_id AS id, s.submission_id, s.name, s.data_type, s.value_numeric, s.value_string,
         CASE WHEN s.evaluation_result_id IS NOT NULL THEN 'automated' ELSE 'human' END AS source,
         s.evaluation_result_id, s.annotation_id, a.reviewer_id, a.is_authoritative, s.created_at
  FROM scoreledger_private.scores s
  LEFT JOIN scoreledger_private.annotations a ON a.tenant_id = s.tenant_id AND a.annotation_id = s.annotation_id;
COMMENT ON VIEW scoreledger.scores IS
  'Every typed score of the current tenant: automated (from evaluation results) and human (from submitted annotations, authoritative or not; reviewer_id and is_authoritative are null for automated scores).';
GRANT SELECT ON scoreledger.scores TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.authoritative_scores AS
  SELECT s.score_id AS id, s.submission_id, s.name, s.data_type, s.value_numeric, s.value_string,
         CASE WHEN s.evaluation_result_id IS NOT NULL THEN 'automated' ELSE 'human' END AS source,
         s.evaluation_result_id, s.annotation_id, a.reviewer_id, a.is_authoritative, s.created_at
  FROM scoreledger_private.scores s
  LEFT JOIN scoreledger_private.annotations a ON a.tenant_id = s.tenant_id AND a.annotation_id = s.annotation_id
  WHERE s.evaluation_result_id IS NOT NULL OR (a.is_authoritative AND a.status = 'submitted');
COMMENT ON VIEW scoreledger.authoritative_scores IS
  'The read-side filter of the score layer: automated scores plus the human scores of authoritative submitted annotations only.';
GRANT SELECT ON scoreledger.authoritative_scores TO scoreledger_app;

-- A value as text for comparing across types: strings as they are,
-- numbers without trailing zeros (1.50 and 1.5 agree; BOOLEAN true is 1).
CREATE OR REPLACE FUNCTION scoreledger_private.score_text(value_numeric numeric, value_string text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce(value_string, trim_scale(value_numeric)::text)
$$;
GRANT EXECUTE ON FUNCTION scoreledger_private.score_text(numeric, text) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.score_concordance AS
  SELECT c.submission_id, c.name,
         c.automated_data_type, c.automated_value, c.evaluation_result_id,
         c.human_data_type, c.human_value, c.annotation_id, c.reviewer_id,
         CASE WHEN c.evaluation_result_id IS NULL OR c.annotation_id IS NULL THEN NULL
              ELSE c.automated_value = c.human_value END AS agree
  FROM (
    SELECT s.submission_id, s.name,
           (array_agg(s.data_type ORDER BY s.created_at DESC, s.score_id DESC)
              FILTER (WHERE s.evaluation_result_id IS NOT NULL))[1] AS automated_data_type,
           (array_agg(scoreledger_private.score_text(s.value_numeric, s.value_string) ORDER BY s.created_at DESC, s.score_id DESC)
              FILTER (WHERE s.evaluation_result_id IS NOT NULL))[1] AS automated_value,
           (array_agg(s.evaluation_result_id ORDER BY s.created_at DESC, s.score_id DESC)
              FILTER (WHERE s.evaluation_result_id IS NOT NULL))[1] AS evaluation_result_id,
           (array_agg(s.data_type ORDER BY a.submitted_at DESC, s.score_id DESC)
              FILTER (WHERE a.annotation_id IS NOT NULL))[1] AS human_data_type,
           (array_agg(scoreledger_private.score_text(s.value_numeric, s.value_string) ORDER BY a.submitted_at DESC, s.score_id DESC)
              FILTER (WHERE a.annotation_id IS NOT NULL))[1] AS human_value,
           (array_agg(s.annotation_id ORDER BY a.submitted_at DESC, s.score_id DESC)
              FILTER (WHERE a.annotation_id IS NOT NULL))[1] AS annotation_id,
           (array_agg(a.reviewer_id ORDER BY a.submitted_at DESC, s.score_id DESC)
              FILTER (WHERE a.annotation_id IS NOT NULL))[1] AS reviewer_id
    FROM scoreledger_private.scores s
    LEFT JOIN scoreledger_private.annotations a
      ON a.tenant_id = s.tenant_id AND a.annotation_id = s.annotation_id AND a.is_authoritative AND a.status = 'submitted'
    WHERE s.evaluation_result_id IS NOT NULL OR a.annotation_id IS NOT NULL
    GROUP BY s.submission_id, s.name
  ) c;
COMMENT ON VIEW scoreledger.score_concordance IS
  'For each submission and score name: the automated value (latest evaluation result) beside the authoritative human value (latest authoritative submitted annotation), compared as text (numbers without trailing zeros); agree is null when either side is missing.';
GRANT SELECT ON scoreledger.score_concordance TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.score_write_failures AS
  SELECT f.failure_id AS id, f.source_kind, f.source_id,
         coalesce(r.submission_id, i.submission_id) AS submission_id,
         f.error, f.sqlstate, f.attempts, f.first_occurred_at, f.occurred_at, f.resolved_at
  FROM scoreledger_private.score_write_failures f
  LEFT JOIN scoreledger_private.evaluation_results r
    ON f.source_kind = 'evaluation_result' AND r.tenant_id = f.tenant_id AND r.result_id = f.source_id
  LEFT JOIN scoreledger_private.annotations a
    ON f.source_kind = 'annotation' AND a.tenant_id = f.tenant_id AND a.annotation_id = f.source_id
  LEFT JOIN scoreledger_private.review_items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id;
COMMENT ON VIEW scoreledger.score_write_failures IS
  'Score writes that failed (the producer''s row was kept): one open row per artefact (resolved_at null) until the next successful write of that artefact resolves it; attempts counts repeated failures.';
GRANT SELECT ON scoreledger.score_write_failures TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.score_write_warnings AS
  SELECT w.source_kind, w.source_id, w.submission_id, w.name, w.json_type, w.warning, w.created_at
  FROM scoreledger_private.score_write_warnings w;
COMMENT ON VIEW scoreledger.score_write_warnings IS
  'Keys the writers skipped (null, array or object values, blank names), per artefact, as of its latest score write.';
GRANT SELECT ON scoreledger.score_write_warnings TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Invariants of the score layer, for the current tenant context (what
-- `scoreledger check` verifies; called from scoreledger.check_invariants
-- in sql/90_check.sql, tenant by tenant). One row per invariant.
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION scoreledger_private.score_breaches()
RETURNS TABLE (invariant text, breaches bigint, sample text)
LANGUAGE sql STABLE
AS $$
  WITH stored AS (
    SELECT s.score_id, s.submission_id, s.name, s.data_type, s.value_numeric, s.value_string,
           coalesce(s.evaluation_result_id, s.annotation_id) AS source_id,
           CASE WHEN s.evaluation_result_id IS NOT NULL THEN 'evaluation_result' ELSE 'annotation' END AS source_kind
    FROM scoreledger_private.scores s
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
  ), artefacts AS (
    -- Every artefact with the submission its scores target and the
    -- document and declarations they come from (null: it has no scores).
    SELECT 'evaluation_result' AS source_kind, r.result_id AS source_id, r.submission_id,
           CASE WHEN r.error IS NULL AND r.submission_id IS NOT NULL THEN r.payload END AS doc, e.output_schema AS declarations
    FROM scoreledger_private.evaluation_results r
    JOIN scoreledger_private.evaluators e ON e.tenant_id = r.tenant_id AND e.evaluator_id = r.evaluator_id
    WHERE r.tenant_id = (SELECT scoreledger.current_tenant())
    UNION ALL
    SELECT 'annotation', a.annotation_id, i.submission_id,
           CASE WHEN a.status = 'submitted' AND i.submission_id IS NOT NULL THEN a.data END, q.form_schema
    FROM scoreledger_private.annotations a
    JOIN scoreledger_private.review_items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id
    JOIN scoreledger_private.review_queues q ON q.tenant_id = i.tenant_id AND q.queue_id = i.queue_id
    WHERE a.tenant_id = (SELECT scoreledger.current_tenant())
  ), failing AS (
    SELECT f.source_kind, f.source_id FROM scoreledger_private.score_write_failures f
    WHERE f.tenant_id = (SELECT scoreledger.current_tenant()) AND f.resolved_at IS NULL
  ), unwritten AS (
    -- Artefacts the backfill has yet to write (what it picks without
    -- --force): no scores and no warnings of their own. Work pending, not
    -- a breach: an artefact written through the API always has one or the
    -- other, or an open failure.
    SELECT a.source_kind, a.source_id FROM artefacts a
    WHERE a.doc IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM stored st WHERE st.source_kind = a.source_kind AND st.source_id = a.source_id)
      AND NOT EXISTS (SELECT 1 FROM scoreledger_private.score_write_warnings w
                      WHERE w.tenant_id = (SELECT scoreledger.current_tenant())
                        AND w.source_kind = a.source_kind AND w.source_id = a.source_id)
  ), misplaced AS (
    SELECT st.score_id FROM stored st
    LEFT JOIN artefacts a ON a.source_kind = st.source_kind AND a.source_id = st.source_id
    WHERE a.source_id IS NULL OR a.submission_id IS DISTINCT FROM st.submission_id
  ), expected AS (
    SELECT a.source_kind, a.source_id, v.name, v.data_type, v.value_numeric, v.value_string
    FROM artefacts a CROSS JOIN LATERAL scoreledger_private.score_values(a.doc, a.declarations) v
    WHERE NOT EXISTS (SELECT 1 FROM failing f WHERE f.source_kind = a.source_kind AND f.source_id = a.source_id)
      AND NOT EXISTS (SELECT 1 FROM unwritten u WHERE u.source_kind = a.source_kind AND u.source_id = a.source_id)
  ), differing AS (
    SELECT coalesce(x.source_id, st.source_id) AS source_id
    FROM expected x
    FULL JOIN (SELECT st.* FROM stored st
               WHERE NOT EXISTS (SELECT 1 FROM failing f WHERE f.source_kind = st.source_kind AND f.source_id = st.source_id)) st
      ON st.source_kind = x.source_kind AND st.source_id = x.source_id AND st.name = x.name
    WHERE x.source_id IS NULL OR st.source_id IS NULL
       OR (st.data_type, st.value_numeric, st.value_string) IS DISTINCT FROM (x.data_type, x.value_numeric, x.value_string)
  )
  SELECT 'scores target an existing artefact and its submission', (SELECT count(*) FROM misplaced),
         (SELECT string_agg(score_id::text, ', ') FROM (SELECT score_id FROM misplaced ORDER BY 1 LIMIT 5) x)
  UNION ALL
  SELECT 'scores = the type dispatch of their artefact (but artefacts with an open write failure or awaiting backfill)',
         (SELECT count(DISTINCT source_id) FROM differing),
         (SELECT string_agg(source_id::text, ', ') FROM (SELECT DISTINCT source_id FROM differing ORDER BY 1 LIMIT 5) x)
$$;
