-- =====================================================================
-- Submissions, raw answers and score history: their tables' guards and
-- their read side.
--   * raw answers and submission facts are immutable;
--   * history is append-only, for the table owner too;
--   * a submission's score is only ever set from its latest history row.
-- All guards are statement-level triggers so bulk paths stay set-based.
-- What a valid submission document is: sql/41_submission_rules.sql; how
-- documents are recorded: sql/42_recording.sql.
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.attempt_counters');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.submissions');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.answers');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_history');

CREATE OR REPLACE TRIGGER history_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.score_history', 'history_append_only',
  'score history is append-only');
CREATE OR REPLACE TRIGGER history_never_truncated BEFORE TRUNCATE ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.score_history', 'history_never_truncated',
  'score history is never truncated');

-- Writing history is the only way to change a score: the newest row of each
-- submission written by the statement becomes its score.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_score_history__set_submission_score()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  missing bigint;
  issued bigint;
  floor_id bigint;
  given_by_hand boolean;
  forged boolean;
BEGIN
  -- The references a foreign key would check, once for the whole statement.
  -- The plan must not rest on the statistics' idea of the tenant's size:
  -- a tenant grown since the last ANALYZE (any new tenant recording fast),
  -- or any tenant of a table never analyzed, is estimated small, and a
  -- constant tenant or a plain join then made "read the tenant's whole key
  -- range" the cheaper plan, on every recording: 990,000 rows removed per
  -- 5,000-document call at 1M. So a statement of up to 10,000 history rows
  -- probes the primary key once per submission (LATERAL ... LIMIT 1 cannot become
  -- a hash join); a bigger one (an apply) covers much of its tenant and
  -- joins, the tenant a join column, never a constant (its statistics
  -- would then come from the most-common-values list, which a new tenant
  -- is missing from). Never a probe in a plan cached while the table is
  -- tiny: it may take a key led by tenant_id alone and scan the tenant per
  -- row (the load test's one-minute stall, bench/load.py). EXECUTE: planned
  -- on each call, with the transition table's real size.
  IF (SELECT count(*) FROM new_rows) <= 10000 THEN
    EXECUTE 'SELECT count(*) FILTER (WHERE s.found IS NULL)
               FROM (SELECT DISTINCT n.tenant_id, n.submission_id FROM new_rows n) r
               LEFT JOIN LATERAL (
                 SELECT true AS found FROM scoreledger_private.submissions s
                 WHERE s.tenant_id = r.tenant_id AND s.submission_id = r.submission_id LIMIT 1) s ON true'
      INTO missing;
  ELSE
    EXECUTE 'SELECT count(*) FILTER (WHERE s.submission_id IS NULL)
               FROM (SELECT DISTINCT n.tenant_id, n.submission_id FROM new_rows n) r
               LEFT JOIN scoreledger_private.submissions s
                 ON s.tenant_id = r.tenant_id AND s.submission_id = r.submission_id'
      INTO missing;
  END IF;
  IF missing > 0 THEN
    PERFORM scoreledger_private.fail('SL404', 'score history must reference a recorded submission of the same tenant');
  END IF;
  -- A history id is issued by the identity's sequence and is newer than
  -- every earlier row of its submission: the latest row is the score. An id
  -- forged with OVERRIDING SYSTEM VALUE (near the bigint maximum, say)
  -- would stay the latest for ever and pin the score. The sequence's
  -- last_value bounds every id it has issued, in any session. An id above
  -- the floor history_ids_floor took just before the statement was issued
  -- during it, so it is newer than every earlier row: only a statement with
  -- an id at or below the floor (an id given by hand) pays the probe per
  -- submission (no row older than the statement at or above its first id,
  -- counted on the primary key's range). Without a floor (its trigger
  -- disabled, which check reports) every statement is probed.
  issued := coalesce(pg_catalog.pg_sequence_last_value(
              pg_catalog.pg_get_serial_sequence('scoreledger_private.score_history', 'history_id')::regclass), 0);
  floor_id := coalesce(nullif(pg_catalog.current_setting('scoreledger.history_floor', true), '')::bigint, issued);
  SELECT max(n.history_id) > issued, min(n.history_id) <= floor_id INTO forged, given_by_hand FROM new_rows n;
  IF given_by_hand AND NOT forged THEN
    EXECUTE 'SELECT EXISTS (
               SELECT 1 FROM (SELECT n.tenant_id, n.submission_id, min(n.history_id) AS first_new, count(*) AS new_rows
                              FROM new_rows n GROUP BY n.tenant_id, n.submission_id) g
               WHERE (SELECT count(*) FROM scoreledger_private.score_history h
                      WHERE h.tenant_id = g.tenant_id AND h.submission_id = g.submission_id
                        AND h.history_id >= g.first_new) > g.new_rows)'
      INTO forged;
  END IF;
  IF forged THEN
    PERFORM scoreledger_private.fail('SL423',
      'score history ids are issued by its sequence, each newer than its submission''s earlier rows');
  END IF;
  IF EXISTS (SELECT 1 FROM (SELECT DISTINCT n.tenant_id, n.correction_batch_id FROM new_rows n
                            WHERE n.correction_batch_id IS NOT NULL) b
             WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.correction_batches c
                               WHERE c.tenant_id = b.tenant_id AND c.batch_id = b.correction_batch_id)) THEN
    PERFORM scoreledger_private.fail('SL404', 'score history must reference a correction batch of the same tenant');
  END IF;
  EXECUTE '
  UPDATE scoreledger_private.submissions s
     SET score = latest.score, max_score = latest.max_score
    FROM (SELECT DISTINCT ON (n.tenant_id, n.submission_id) n.tenant_id, n.submission_id, n.score, n.max_score
            FROM new_rows n
           ORDER BY n.tenant_id, n.submission_id, n.history_id DESC) latest
   WHERE s.tenant_id = latest.tenant_id AND s.submission_id = latest.submission_id
     AND (s.score, s.max_score) IS DISTINCT FROM (latest.score, latest.max_score)';
  RETURN NULL;
END
$$;

-- The floor of the statement's ids, for the forged-id check above: the
-- sequence's last value just before the statement inserts.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_score_history__mark_id_floor()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM pg_catalog.set_config('scoreledger.history_floor', coalesce(pg_catalog.pg_sequence_last_value(
            pg_catalog.pg_get_serial_sequence('scoreledger_private.score_history', 'history_id')::regclass), 0)::text,
          true);
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER history_ids_floor BEFORE INSERT ON scoreledger_private.score_history
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_score_history__mark_id_floor();
SELECT scoreledger_private.declare_guard('scoreledger_private.score_history', 'history_ids_floor',
  'the floor below which a history id was given by hand, not issued during the statement');
CREATE OR REPLACE TRIGGER history_sets_submission_score AFTER INSERT ON scoreledger_private.score_history
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_score_history__set_submission_score();
SELECT scoreledger_private.declare_guard('scoreledger_private.score_history', 'history_sets_submission_score',
  'a new history row becomes its submission''s score');

-- What a foreign key would check, once per statement. Versions never
-- change, so reading them suffices; an assignment may still be re-pointed
-- to another evaluation while it has no submissions, so each one referenced
-- is locked FOR KEY SHARE, as a foreign key would: upsert_assignment then
-- waits for this transaction and sees its submissions.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_submissions__references()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM (SELECT DISTINCT n.tenant_id, n.evaluation_version_id, n.evaluation_id FROM new_rows n) r
             WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.evaluation_versions v
                               WHERE v.tenant_id = r.tenant_id AND v.evaluation_version_id = r.evaluation_version_id
                                 AND v.evaluation_id = r.evaluation_id)) THEN
    PERFORM scoreledger_private.fail('SL404', 'a submission must reference an evaluation version of its tenant and evaluation');
  END IF;
  IF EXISTS (
      WITH referenced AS (
        SELECT DISTINCT n.tenant_id, n.assignment_id, n.evaluation_id FROM new_rows n WHERE n.assignment_id IS NOT NULL
      ), locked AS (
        SELECT a.tenant_id, a.assignment_id, a.evaluation_id FROM scoreledger_private.assignments a
        WHERE (a.tenant_id, a.assignment_id) IN (SELECT r.tenant_id, r.assignment_id FROM referenced r)
        ORDER BY a.tenant_id, a.assignment_id
        FOR KEY SHARE
      )
      SELECT 1 FROM referenced r
      WHERE NOT EXISTS (SELECT 1 FROM locked l
                        WHERE l.tenant_id = r.tenant_id AND l.assignment_id = r.assignment_id
                          AND l.evaluation_id = r.evaluation_id)) THEN
    PERFORM scoreledger_private.fail('SL404', 'a submission must reference an assignment of its tenant and evaluation');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER submission_references_exist AFTER INSERT ON scoreledger_private.submissions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__references();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_references_exist',
  'a submission names an existing evaluation version and assignment');

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

CREATE OR REPLACE TRIGGER submission_facts_immutable
  BEFORE UPDATE OF tenant_id, submission_id, submission_no, evaluation_version_id, evaluation_id, user_id, assignment_id,
                   attempt_no, submitted_at, answer_count, recorded_at
  ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_facts_immutable',
  'a submission''s facts never change');
CREATE OR REPLACE TRIGGER submission_never_deleted BEFORE DELETE ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_never_deleted',
  'submissions are never deleted');
CREATE OR REPLACE TRIGGER submission_never_truncated BEFORE TRUNCATE ON scoreledger_private.submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_never_truncated',
  'submissions are never truncated');
CREATE OR REPLACE TRIGGER answer_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.answers
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.answers', 'answer_immutable',
  'raw answers never change');
CREATE OR REPLACE TRIGGER answer_never_truncated BEFORE TRUNCATE ON scoreledger_private.answers
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.answers', 'answer_never_truncated',
  'raw answers are never truncated');

-- Raw answers arrive with their submission, all of them: an answer added
-- afterwards (even by the owner) would rewrite what the learner submitted.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_answers__complete_at_recording()
RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
  incomplete boolean;
BEGIN
  -- LATERAL ... LIMIT 1: one index probe per submission touched. As a
  -- join, the planner would hash the tenant's every submission for a
  -- statement that touched a few thousand. EXECUTE, as in the history
  -- trigger: a plan cached on a nearly empty table may probe through
  -- another tenant-led index (submissions' and answers' both have one).
  -- An answer names its submission twice (its id, and the recording-order
  -- number it is stored under): both must be that submission's.
  EXECUTE '
    SELECT EXISTS (
      SELECT 1
      FROM (SELECT DISTINCT n.tenant_id, n.submission_id, n.submission_no FROM new_rows n) touched
      LEFT JOIN LATERAL (
        SELECT s.answer_count, s.submission_no FROM scoreledger_private.submissions s
        WHERE s.tenant_id = touched.tenant_id AND s.submission_id = touched.submission_id
        LIMIT 1) s ON true
      WHERE s.answer_count IS NULL
         OR s.submission_no <> touched.submission_no
         OR s.answer_count <> (SELECT count(*) FROM scoreledger_private.answers a
                               WHERE a.tenant_id = touched.tenant_id AND a.submission_no = touched.submission_no))'
    INTO incomplete;
  IF incomplete THEN
    PERFORM scoreledger_private.fail('SL423', 'raw answers are immutable: a submission''s answers are recorded with it, all at once, and belong to it');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER answers_complete_at_recording AFTER INSERT ON scoreledger_private.answers
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_answers__complete_at_recording();
SELECT scoreledger_private.declare_guard('scoreledger_private.answers', 'answers_complete_at_recording',
  'a submission gets all its answers at recording, none later');

CREATE OR REPLACE FUNCTION scoreledger_private.tg_submissions__score_from_history()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  -- Checked once the whole statement has run: a submission inserted with a
  -- score needs its first history row written by the same statement (as
  -- recording does); inserted unscored, it has none yet.
  IF EXISTS (
      SELECT 1 FROM new_rows n
      LEFT JOIN LATERAL (
        SELECT h.score, h.max_score FROM scoreledger_private.score_history h
        WHERE h.tenant_id = n.tenant_id AND h.submission_id = n.submission_id
        ORDER BY h.history_id DESC LIMIT 1) latest ON true
      WHERE (n.score, n.max_score) IS DISTINCT FROM (latest.score, latest.max_score)) THEN
    PERFORM scoreledger_private.fail('SL423', CASE TG_OP
      WHEN 'INSERT' THEN 'a submission''s score comes from its score history: insert it unscored, or with its first history row in the same statement'
      ELSE 'a submission''s score must equal its latest score history row; write history instead' END);
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER submission_score_is_latest_history_on_insert AFTER INSERT ON scoreledger_private.submissions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__score_from_history();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_score_is_latest_history_on_insert',
  'a recorded submission''s score is its latest history row');
CREATE OR REPLACE TRIGGER submission_score_is_latest_history_on_update AFTER UPDATE ON scoreledger_private.submissions
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_submissions__score_from_history();
SELECT scoreledger_private.declare_guard('scoreledger_private.submissions', 'submission_score_is_latest_history_on_update',
  'a submission''s score changes only to its latest history row');

-- ---------------------------------------------------------------------
-- Read side
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.submission_score_history(submission_id uuid)
RETURNS TABLE (history_id bigint, correction_batch_id uuid, score numeric, max_score numeric, created_at timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
         scoreledger_private.is_passing(s.score, s.max_score, v.pass_mark) AS passed,
         s.recorded_at
  FROM scoreledger_private.submissions s
  JOIN scoreledger_private.evaluation_versions v
    ON v.tenant_id = s.tenant_id AND v.evaluation_version_id = s.evaluation_version_id;
COMMENT ON VIEW scoreledger.submissions IS
  'Submissions of the current tenant with their current score (= latest history row) and pass/fail.';
GRANT SELECT ON scoreledger.submissions TO scoreledger_app;

-- Joined on both names of the submission: by id (a submission's primary
-- key) when the answers come by question, by number (the answers' key) when
-- the submission comes first.
CREATE OR REPLACE VIEW scoreledger.answers AS
  SELECT s.submission_id, a.question_version_id, a.selected, i.position
  FROM scoreledger_private.answers a
  JOIN scoreledger_private.submissions s
    ON s.tenant_id = a.tenant_id AND s.submission_id = a.submission_id AND s.submission_no = a.submission_no
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
