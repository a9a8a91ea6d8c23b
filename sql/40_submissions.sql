-- =====================================================================
-- Submissions, raw answers and score history.
--   * raw answers and submission facts are immutable;
--   * history is append-only, for the table owner too;
--   * a submission's score is only ever set from its latest history row.
-- All guards are statement-level triggers so bulk paths stay set-based.
-- =====================================================================

CREATE OR REPLACE FUNCTION scoreledger_private.tg_score_history__append_only()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423',
    format('score history is append-only (%s refused)', lower(TG_OP)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER append_only BEFORE UPDATE OR DELETE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_score_history__append_only();
CREATE OR REPLACE TRIGGER append_only_truncate BEFORE TRUNCATE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_score_history__append_only();

-- Writing history is the only way to change a score: the newest row of each
-- submission written by the statement becomes its score.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_score_history__set_submission_score()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  UPDATE scoreledger_private.submissions s
     SET score = latest.score, max_score = latest.max_score
    FROM (SELECT DISTINCT ON (n.tenant_id, n.submission_id) n.tenant_id, n.submission_id, n.score, n.max_score
            FROM new_rows n
           ORDER BY n.tenant_id, n.submission_id, n.history_id DESC) latest
   WHERE s.tenant_id = latest.tenant_id AND s.submission_id = latest.submission_id
     AND (s.score, s.max_score) IS DISTINCT FROM (latest.score, latest.max_score);
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER set_submission_score AFTER INSERT ON scoreledger_private.score_history
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_score_history__set_submission_score();

CREATE OR REPLACE FUNCTION scoreledger_private.tg_submissions__immutable()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423', CASE
    WHEN TG_OP = 'UPDATE' THEN 'a submission''s facts are immutable; only its score changes, through score history'
    ELSE format('%s are never deleted (%s refused)', TG_TABLE_NAME, lower(TG_OP)) END);
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER facts_immutable
  BEFORE UPDATE OF tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, assignment_id,
                   attempt_no, submitted_at, answer_count, recorded_at
  ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
CREATE OR REPLACE TRIGGER never_deleted BEFORE DELETE ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
CREATE OR REPLACE TRIGGER never_truncated BEFORE TRUNCATE ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
CREATE OR REPLACE TRIGGER answers_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.answers
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
CREATE OR REPLACE TRIGGER answers_never_truncated BEFORE TRUNCATE ON scoreledger_private.answers
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();

-- Raw answers arrive with their submission, all of them: an answer added
-- afterwards (even by the owner) would rewrite what the learner submitted.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_answers__complete_at_recording()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (
      SELECT 1
      FROM (SELECT DISTINCT n.tenant_id, n.submission_id FROM new_rows n) touched
      JOIN scoreledger_private.submissions s
        ON s.tenant_id = touched.tenant_id AND s.submission_id = touched.submission_id
      WHERE s.answer_count <> (SELECT count(*) FROM scoreledger_private.answers a
                               WHERE a.tenant_id = s.tenant_id AND a.submission_id = s.submission_id)) THEN
    PERFORM scoreledger_private.fail('SL423', 'raw answers are immutable: a submission''s answers are recorded with it, all at once');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER complete_at_recording AFTER INSERT ON scoreledger_private.answers
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_answers__complete_at_recording();

CREATE OR REPLACE FUNCTION scoreledger_private.tg_submissions__score_from_history()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF EXISTS (SELECT 1 FROM new_rows n WHERE n.score IS NOT NULL OR n.max_score IS NOT NULL) THEN
      PERFORM scoreledger_private.fail('SL423', 'a submission is inserted unscored; its score comes from its first history row');
    END IF;
  ELSIF EXISTS (
      SELECT 1 FROM new_rows n
      LEFT JOIN LATERAL (
        SELECT h.score, h.max_score FROM scoreledger_private.score_history h
        WHERE h.tenant_id = n.tenant_id AND h.submission_id = n.submission_id
        ORDER BY h.history_id DESC LIMIT 1) latest ON true
      WHERE (n.score, n.max_score) IS DISTINCT FROM (latest.score, latest.max_score)) THEN
    PERFORM scoreledger_private.fail('SL423', 'a submission''s score must equal its latest score history row; write history instead');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER score_from_history_insert AFTER INSERT ON scoreledger_private.submissions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__score_from_history();
CREATE OR REPLACE TRIGGER score_from_history_update AFTER UPDATE ON scoreledger_private.submissions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__score_from_history();

-- ---------------------------------------------------------------------
-- Recording
-- ---------------------------------------------------------------------

-- ISO 8601 with an explicit offset, checked without casting so that bulk
-- validation never trips over a bad date (2026-02-30) mid-statement.
CREATE OR REPLACE FUNCTION scoreledger_private.is_iso_timestamptz(value text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT coalesce((
    SELECT CASE
      WHEN m[1]::int NOT BETWEEN 1 AND 9999 OR m[2]::int NOT BETWEEN 1 AND 12 THEN false
      ELSE m[3]::int BETWEEN 1 AND extract(day FROM make_date(m[1]::int, m[2]::int, 1) + interval '1 month - 1 day')::int
           AND m[4]::int <= 23 AND m[5]::int <= 59 AND coalesce(m[6]::int, 0) <= 59
           AND coalesce(m[7]::int, 0) <= 15 AND coalesce(m[8]::int, 0) <= 59
    END
    FROM regexp_match(value,
      '^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?(?:[Zz]|[+-](\d{2})(?::?(\d{2}))?)$') AS m
  ), false)
$$;

-- The first problem in a set of submission documents, or no row. Pure
-- reads, no casts of unchecked values: errors name the entry.
CREATE OR REPLACE FUNCTION scoreledger_private.submission_document_errors(docs jsonb, path_prefix text)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE sql STABLE
AS $$
  WITH raw AS MATERIALIZED (
    SELECT (x.n - 1)::int AS idx, x.doc,
           CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, x.n - 1) END AS path,
           CASE WHEN jsonb_typeof(x.doc->'evaluation_version_id') = 'string'
                 AND scoreledger_private.is_uuid(x.doc->>'evaluation_version_id')
                THEN (x.doc->>'evaluation_version_id')::uuid END AS version_id,
           CASE WHEN jsonb_typeof(x.doc->'assignment_id') = 'string' AND scoreledger_private.is_uuid(x.doc->>'assignment_id')
                THEN (x.doc->>'assignment_id')::uuid END AS assignment_id,
           CASE WHEN jsonb_typeof(x.doc->'submission_id') = 'string' AND scoreledger_private.is_uuid(x.doc->>'submission_id')
                THEN (x.doc->>'submission_id')::uuid END AS submission_id
    FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
  ), d AS MATERIALIZED (
    -- Window functions, not self-joins: duplicate detection stays linear.
    SELECT raw.*, CASE WHEN raw.submission_id IS NOT NULL
                       THEN row_number() OVER (PARTITION BY raw.submission_id ORDER BY raw.idx) END AS occurrence
    FROM raw
  ), doc_errors AS (
    SELECT d.idx, -1 AS answer_idx, e.sqlstate, d.path || e.message AS message
    FROM d
    LEFT JOIN scoreledger_private.evaluation_versions v
      ON v.tenant_id = scoreledger.current_tenant() AND v.evaluation_version_id = d.version_id
    LEFT JOIN scoreledger_private.assignments a
      ON a.tenant_id = scoreledger.current_tenant() AND a.assignment_id = d.assignment_id
    CROSS JOIN LATERAL (SELECT CASE
      WHEN jsonb_typeof(d.doc) <> 'object' THEN 'SL422'
      WHEN d.doc ? 'evaluation_version_id' AND d.version_id IS NOT NULL AND v.evaluation_version_id IS NULL
           AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(d.doc) k
                           WHERE k NOT IN ('submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers'))
           THEN 'SL404'
      WHEN d.assignment_id IS NOT NULL AND a.assignment_id IS NULL AND v.evaluation_version_id IS NOT NULL THEN 'SL404'
      ELSE 'SL422' END AS sqlstate,
      CASE
      WHEN jsonb_typeof(d.doc) <> 'object' THEN rtrim(coalesce(nullif(d.path, ''), 'document'), '.') || ': must be a JSON object'
      WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(d.doc) k
                   WHERE k NOT IN ('submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers'))
        THEN (SELECT min(k) FROM jsonb_object_keys(d.doc) k
              WHERE k NOT IN ('submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers'))
             || ': unknown field'
      WHEN d.doc ? 'submission_id' AND d.doc->'submission_id' <> 'null' AND d.submission_id IS NULL
        THEN 'submission_id: must be a uuid string'
      WHEN d.version_id IS NULL THEN 'evaluation_version_id: must be a uuid string'
      WHEN v.evaluation_version_id IS NULL THEN format('evaluation_version_id: evaluation version %s does not exist', d.version_id)
      WHEN jsonb_typeof(d.doc->'user_id') IS DISTINCT FROM 'string' OR NOT scoreledger_private.is_uuid(d.doc->>'user_id')
        THEN 'user_id: must be a uuid string'
      WHEN d.doc ? 'assignment_id' AND d.doc->'assignment_id' <> 'null' AND d.assignment_id IS NULL
        THEN 'assignment_id: must be a uuid string'
      WHEN d.assignment_id IS NOT NULL AND a.assignment_id IS NULL
        THEN format('assignment_id: assignment %s does not exist', d.assignment_id)
      WHEN d.assignment_id IS NOT NULL AND a.evaluation_id <> v.evaluation_id
        THEN format('assignment_id: assignment %s is for another evaluation', d.assignment_id)
      WHEN jsonb_typeof(d.doc->'submitted_at') IS DISTINCT FROM 'string'
           OR NOT scoreledger_private.is_iso_timestamptz(d.doc->>'submitted_at')
        THEN 'submitted_at: must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-01T10:00:00Z'
      WHEN jsonb_typeof(d.doc->'answers') IS DISTINCT FROM 'array' OR jsonb_array_length(d.doc->'answers') = 0
        THEN 'answers: must be a non-empty array'
      WHEN jsonb_array_length(d.doc->'answers') > 1000 THEN 'answers: at most 1000 answers'
      WHEN d.occurrence > 1
        THEN format('submission_id: %s appears twice in this call', d.submission_id)
      END AS message) e
    WHERE e.message IS NOT NULL
  ), answer_elements AS (
    SELECT d.idx, (x.n - 1)::int AS answer_idx, d.path, d.version_id, x.answer,
           CASE WHEN jsonb_typeof(x.answer->'question_version_id') = 'string'
                 AND scoreledger_private.is_uuid(x.answer->>'question_version_id')
                THEN (x.answer->>'question_version_id')::uuid END AS question_version_id
    FROM d
    CROSS JOIN LATERAL jsonb_array_elements(d.doc->'answers') WITH ORDINALITY AS x(answer, n)
    WHERE NOT EXISTS (SELECT 1 FROM doc_errors de WHERE de.idx = d.idx)
  ), answer_rows AS (
    SELECT e.*, row_number() OVER (PARTITION BY e.idx, e.question_version_id ORDER BY e.answer_idx) AS occurrence
    FROM answer_elements e
  ), answer_errors AS (
    SELECT r.idx, r.answer_idx, 'SL422' AS sqlstate, format('%sanswers[%s].', r.path, r.answer_idx) || e.message AS message
    FROM answer_rows r
    LEFT JOIN scoreledger_private.items i
      ON i.tenant_id = scoreledger.current_tenant() AND i.evaluation_version_id = r.version_id
     AND i.question_version_id = r.question_version_id
    LEFT JOIN scoreledger_private.question_versions q
      ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id
    CROSS JOIN LATERAL (SELECT CASE
      WHEN jsonb_typeof(r.answer) <> 'object' THEN 'answer: must be a JSON object'
      WHEN EXISTS (SELECT 1 FROM jsonb_object_keys(r.answer) k WHERE k NOT IN ('question_version_id', 'selected'))
        THEN (SELECT min(k) FROM jsonb_object_keys(r.answer) k WHERE k NOT IN ('question_version_id', 'selected')) || ': unknown field'
      WHEN r.question_version_id IS NULL THEN 'question_version_id: must be a uuid string'
      WHEN i.question_version_id IS NULL
        THEN format('question_version_id: %s is not an item of evaluation version %s', r.question_version_id, r.version_id)
      WHEN r.occurrence > 1
        THEN format('question_version_id: %s is answered twice', r.question_version_id)
      WHEN jsonb_typeof(r.answer->'selected') IS DISTINCT FROM 'array'
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(r.answer->'selected') s WHERE jsonb_typeof(s) <> 'string')
        THEN 'selected: must be an array of option strings'
      WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(r.answer->'selected') s WHERE s <> ALL (q.options))
        THEN format('selected: %s is not an option of question version %s',
                    (SELECT to_jsonb(s)::text FROM jsonb_array_elements_text(r.answer->'selected') s
                      WHERE s <> ALL (q.options) LIMIT 1), r.question_version_id)
      WHEN jsonb_array_length(r.answer->'selected')
           <> (SELECT count(DISTINCT s) FROM jsonb_array_elements_text(r.answer->'selected') s)
        THEN 'selected: lists an option twice'
      END AS message) e
    WHERE e.message IS NOT NULL
  )
  SELECT u.sqlstate, u.message
  FROM (SELECT * FROM doc_errors UNION ALL SELECT * FROM answer_errors) u
  ORDER BY u.idx, u.answer_idx
  LIMIT 1
$$;

-- Records submission documents, set-based. Returns one row per document:
-- its submission id and whether this call recorded it (false: an identical
-- earlier recording, a no-op).
CREATE OR REPLACE FUNCTION scoreledger_private.record_documents(docs jsonb, path_prefix text)
RETURNS TABLE (submission_id uuid, recorded boolean)
LANGUAGE plpgsql VOLATILE
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  problem record;
  ids uuid[];
  recorded_flags boolean[];
  mismatch bigint;
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(path_prefix, 'document') || ': must be a JSON array');
  END IF;

  SELECT * INTO problem FROM scoreledger_private.submission_document_errors(docs, path_prefix);
  IF FOUND THEN
    PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
  END IF;

  -- Shared lock on each evaluation version, in id order: an apply holds the
  -- conflicting lock, so a submission is scored either before an apply
  -- starts or after it commits, never against a half-applied batch.
  PERFORM 1 FROM scoreledger_private.evaluation_versions v
  WHERE v.tenant_id = tenant
    AND v.evaluation_version_id IN (SELECT DISTINCT (e->>'evaluation_version_id')::uuid FROM jsonb_array_elements(docs) e)
  ORDER BY v.evaluation_version_id
  FOR SHARE;

  -- A new statement, so a new snapshot: the corrections seen below are the
  -- ones in force once the locks above are held.
  WITH d AS MATERIALIZED (
    SELECT (x.n - 1)::int AS idx, x.doc,
           coalesce((x.doc->>'submission_id')::uuid, gen_random_uuid()) AS submission_id,
           (x.doc->>'evaluation_version_id')::uuid AS version_id,
           (x.doc->>'user_id')::uuid AS user_id,
           (x.doc->>'assignment_id')::uuid AS assignment_id,
           (x.doc->>'submitted_at')::timestamptz AS submitted_at
    FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
  ), fresh AS MATERIALIZED (
    SELECT d.*, v.evaluation_id
    FROM d
    JOIN scoreledger_private.evaluation_versions v ON v.tenant_id = tenant AND v.evaluation_version_id = d.version_id
    WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                      WHERE s.tenant_id = tenant AND s.submission_id = d.submission_id)
  ), counters AS (
    -- Rows locked in key order, so concurrent recorders never deadlock.
    INSERT INTO scoreledger_private.attempt_counters AS c (tenant_id, evaluation_id, user_id, attempts)
    SELECT tenant, f.evaluation_id, f.user_id, count(*)
    FROM fresh f GROUP BY f.evaluation_id, f.user_id ORDER BY f.evaluation_id, f.user_id
    ON CONFLICT (tenant_id, evaluation_id, user_id) DO UPDATE SET attempts = c.attempts + excluded.attempts
    RETURNING c.evaluation_id, c.user_id, c.attempts
  ), numbered AS MATERIALIZED (
    SELECT f.*, c.attempts - count(*) OVER w + row_number() OVER (w ORDER BY f.submitted_at, f.idx) AS attempt_no
    FROM fresh f JOIN counters c ON c.evaluation_id = f.evaluation_id AND c.user_id = f.user_id
    WINDOW w AS (PARTITION BY f.evaluation_id, f.user_id)
  ), versions AS MATERIALIZED (
    SELECT array_agg(DISTINCT d.version_id) AS ids FROM d
  ), states AS MATERIALIZED (
    SELECT st.* FROM versions, scoreledger_private.item_states(versions.ids) st
  ), answer_rows AS MATERIALIZED (
    SELECT n.idx, n.submission_id, st.question_version_id, sel.selected,
           scoreledger_private.option_mask(st.options, sel.selected) AS selected_mask,
           st.kind, st.scoring, st.points, st.key_mask, st.dropped, st.credit_all
    FROM numbered n
    CROSS JOIN LATERAL jsonb_array_elements(n.doc->'answers') AS x(answer)
    JOIN states st ON st.evaluation_version_id = n.version_id
                  AND st.question_version_id = (x.answer->>'question_version_id')::uuid
    CROSS JOIN LATERAL (SELECT coalesce(array_agg(s ORDER BY k), '{}') AS selected
                        FROM jsonb_array_elements_text(x.answer->'selected') WITH ORDINALITY AS y(s, k)) sel
  ), inserted AS (
    INSERT INTO scoreledger_private.submissions
      (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, assignment_id, attempt_no, submitted_at,
       answer_count)
    SELECT tenant, n.submission_id, n.version_id, n.evaluation_id, n.user_id, n.assignment_id, n.attempt_no, n.submitted_at,
           jsonb_array_length(n.doc->'answers')
    FROM numbered n
    ON CONFLICT (tenant_id, submission_id) DO NOTHING
    RETURNING submissions.submission_id
  ), inserted_answers AS (
    INSERT INTO scoreledger_private.answers (tenant_id, submission_id, question_version_id, selected, selected_mask)
    SELECT tenant, r.submission_id, r.question_version_id, r.selected, r.selected_mask
    FROM answer_rows r JOIN inserted i ON i.submission_id = r.submission_id
  ), first_history AS (
    INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, correction_batch_id, score, max_score)
    SELECT tenant, r.submission_id, NULL,
           sum(scoreledger_private.item_award(r.kind, r.scoring, r.points, r.key_mask, r.dropped, r.credit_all, r.selected_mask)),
           sum(scoreledger_private.item_max(r.points, r.dropped))
    FROM answer_rows r JOIN inserted i ON i.submission_id = r.submission_id
    GROUP BY r.submission_id
  )
  SELECT array_agg(d.submission_id ORDER BY d.idx),
         array_agg(EXISTS (SELECT 1 FROM inserted i WHERE i.submission_id = d.submission_id) ORDER BY d.idx)
  INTO ids, recorded_flags
  FROM d;

  -- Documents not recorded by this call name a submission that exists (or
  -- that a concurrent caller just recorded): a no-op if identical, else SL423.
  SELECT min(x.idx) INTO mismatch
  FROM unnest(ids, recorded_flags) WITH ORDINALITY AS x(submission_id, recorded, idx)
  CROSS JOIN LATERAL (SELECT docs -> (x.idx::int - 1) AS doc) d
  WHERE NOT x.recorded
    AND NOT EXISTS (
      SELECT 1 FROM scoreledger_private.submissions s
      WHERE s.tenant_id = tenant AND s.submission_id = x.submission_id
        AND s.evaluation_version_id = (d.doc->>'evaluation_version_id')::uuid
        AND s.user_id = (d.doc->>'user_id')::uuid
        AND s.assignment_id IS NOT DISTINCT FROM (d.doc->>'assignment_id')::uuid
        AND s.submitted_at = (d.doc->>'submitted_at')::timestamptz
        AND (SELECT jsonb_agg(jsonb_build_array(a.question_version_id,
                      (SELECT coalesce(jsonb_agg(o ORDER BY o), '[]') FROM unnest(a.selected) o))
                    ORDER BY a.question_version_id)
               FROM scoreledger_private.answers a
              WHERE a.tenant_id = tenant AND a.submission_id = s.submission_id)
          = (SELECT jsonb_agg(jsonb_build_array((e->>'question_version_id')::uuid,
                      (SELECT coalesce(jsonb_agg(o ORDER BY o), '[]') FROM jsonb_array_elements_text(e->'selected') o))
                    ORDER BY (e->>'question_version_id')::uuid)
               FROM jsonb_array_elements(d.doc->'answers') e));
  IF mismatch IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL423', format(
      '%ssubmission_id: submission %s is already recorded with other content; raw answers are immutable',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, mismatch - 1) END,
      ids[mismatch]));
  END IF;

  RETURN QUERY SELECT x.submission_id, x.recorded FROM unnest(ids, recorded_flags) AS x(submission_id, recorded);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.record_submission(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
DECLARE
  recorded_id uuid;
BEGIN
  SELECT r.submission_id INTO recorded_id
  FROM scoreledger_private.record_documents(jsonb_build_array(doc), NULL) r;
  RETURN recorded_id;
END
$$;
COMMENT ON FUNCTION scoreledger.record_submission(jsonb) IS
  'Records one submission with its raw answers, scores it under the corrections in force and writes its first history row. Returns its id. Re-recording identical content is a no-op; other content raises SL423.';
GRANT EXECUTE ON FUNCTION scoreledger.record_submission(jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.record_submissions(docs jsonb)
RETURNS integer
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = ''
AS $$
  SELECT count(*) FILTER (WHERE r.recorded)::integer
  FROM scoreledger_private.record_documents(docs, 'submissions') r
$$;
COMMENT ON FUNCTION scoreledger.record_submissions(jsonb) IS
  'Records a JSON array of submission documents in one set-based pass (all or nothing). Returns how many were newly recorded; identical re-recordings are no-ops.';
GRANT EXECUTE ON FUNCTION scoreledger.record_submissions(jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.submission_score_history(submission_id uuid)
RETURNS TABLE (history_id bigint, correction_batch_id uuid, score numeric, max_score numeric, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = ''
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
BEGIN
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                 WHERE s.tenant_id = tenant AND s.submission_id = submission_score_history.submission_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('submission %s does not exist', submission_id));
  END IF;
  RETURN QUERY
  SELECT h.history_id, h.correction_batch_id, h.score, h.max_score, h.created_at
  FROM scoreledger_private.score_history h
  WHERE h.tenant_id = tenant AND h.submission_id = submission_score_history.submission_id
  ORDER BY h.history_id;
END
$$;
COMMENT ON FUNCTION scoreledger.submission_score_history(uuid) IS
  'Every score a submission has had, oldest first; correction_batch_id is null for the initial scoring.';
GRANT EXECUTE ON FUNCTION scoreledger.submission_score_history(uuid) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.submissions AS
  SELECT s.submission_id, s.evaluation_version_id, s.evaluation_id, s.user_id, s.assignment_id, s.attempt_no,
         s.submitted_at, s.score, s.max_score,
         (s.max_score > 0 AND s.score >= v.pass_mark * s.max_score) AS passed,
         s.recorded_at
  FROM scoreledger_private.submissions s
  JOIN scoreledger_private.evaluation_versions v
    ON v.tenant_id = s.tenant_id AND v.evaluation_version_id = s.evaluation_version_id;
COMMENT ON VIEW scoreledger.submissions IS
  'Submissions of the current tenant with their current score (= latest history row) and pass/fail.';
GRANT SELECT ON scoreledger.submissions TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.answers AS
  SELECT a.submission_id, a.question_version_id, a.selected, i.position
  FROM scoreledger_private.answers a
  JOIN scoreledger_private.submissions s ON s.tenant_id = a.tenant_id AND s.submission_id = a.submission_id
  JOIN scoreledger_private.items i
    ON i.tenant_id = a.tenant_id AND i.evaluation_version_id = s.evaluation_version_id
   AND i.question_version_id = a.question_version_id;
COMMENT ON VIEW scoreledger.answers IS 'Raw answers (immutable) of the current tenant''s submissions.';
GRANT SELECT ON scoreledger.answers TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.score_history AS
  SELECT h.history_id AS id, h.submission_id, h.correction_batch_id, h.score, h.max_score, h.created_at
  FROM scoreledger_private.score_history h;
COMMENT ON VIEW scoreledger.score_history IS 'Append-only score history of the current tenant''s submissions.';
GRANT SELECT ON scoreledger.score_history TO scoreledger_app;
