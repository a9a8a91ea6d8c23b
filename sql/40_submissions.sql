-- =====================================================================
-- Submissions, raw answers and score history.
--   * raw answers and submission facts are immutable;
--   * history is append-only, for the table owner too;
--   * a submission's score is only ever set from its latest history row.
-- All guards are statement-level triggers so bulk paths stay set-based.
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
  tenant uuid;
  ids uuid[];
  found bigint;
BEGIN
  -- The references a foreign key would check, once for the whole statement:
  -- per tenant, one probe with every id as a constant array. Never as a
  -- per-row probe: on a table never analyzed (a fresh database before
  -- autovacuum's first pass) every index led by tenant_id is estimated at
  -- one row per probe, and the planner may take the (tenant, evaluation,
  -- user, attempt) key, tenant_id its only condition: a scan of the whole
  -- tenant per history row, 56 s for an apply of 9,523 submissions over
  -- 20,020 (the load test's one-minute stall, bench/load.py). As an array,
  -- the primary key serves it with one descent per id, and the worst plan
  -- left is one pass over the tenant with a hashed filter. EXECUTE: the
  -- array is a constant of a plan made on each call.
  FOR tenant, ids IN SELECT n.tenant_id, array_agg(DISTINCT n.submission_id) FROM new_rows n GROUP BY n.tenant_id LOOP
    EXECUTE 'SELECT count(*) FROM scoreledger_private.submissions s WHERE s.tenant_id = $1 AND s.submission_id = ANY ($2)'
      INTO found USING tenant, ids;
    IF found <> cardinality(ids) THEN
      PERFORM scoreledger_private.fail('SL404', 'score history must reference a recorded submission of the same tenant');
    END IF;
  END LOOP;
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
-- Recording
-- ---------------------------------------------------------------------

-- ISO 8601 with an explicit offset, checked without casting so that bulk
-- validation never trips over a bad date (2026-02-30) mid-statement. One
-- expression, so that the planner inlines it: a call per document costs
-- more than the check itself. CASE, not AND: the casts must never see a
-- string the pattern refused.
CREATE OR REPLACE FUNCTION scoreledger_private.is_iso_timestamptz(value text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN value ~ '^(?!0000)[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?([Zz]|[+-](0[0-9]|1[0-5])(:?[0-5][0-9])?)$'
      THEN substr(value, 9, 2)::int <= 28
        OR substr(value, 9, 2)::int <= extract(day FROM make_date(substr(value, 1, 4)::int, substr(value, 6, 2)::int, 1)
                                                      + interval '1 month - 1 day')::int
    ELSE false
  END
$$;

-- The first problem in a set of submission documents' top-level fields, or
-- no row. Pure reads, no casts of unchecked values: errors name the entry.
-- (Their answers: submission_answer_errors.)
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
    -- One CASE decides the message; the code follows from it (SL404 for an
    -- object that does not exist in this tenant, SL422 for everything else).
    SELECT d.idx, -1 AS answer_idx,
           CASE WHEN e.message LIKE '%does not exist' THEN 'SL404' ELSE 'SL422' END AS sqlstate,
           CASE WHEN e.message LIKE ':%' THEN rtrim(coalesce(nullif(d.path, ''), 'document'), '.') || e.message
                ELSE d.path || e.message END AS message
    FROM d
    LEFT JOIN scoreledger_private.evaluation_versions v
      ON v.tenant_id = scoreledger.current_tenant() AND v.evaluation_version_id = d.version_id
    LEFT JOIN scoreledger_private.assignments a
      ON a.tenant_id = scoreledger.current_tenant() AND a.assignment_id = d.assignment_id
    CROSS JOIN LATERAL (SELECT
      CASE
      WHEN jsonb_typeof(d.doc) <> 'object' THEN ': must be a JSON object'
      WHEN d.doc - ARRAY['submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers'] <> '{}'
        THEN (SELECT min(k) FROM jsonb_object_keys(
                d.doc - ARRAY['submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers']) k)
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
  )
  SELECT de.sqlstate, de.message FROM doc_errors de ORDER BY de.idx LIMIT 1
$$;

-- The first problem in the answers of submission documents whose top-level
-- fields are valid (submission_document_errors found nothing), or no row.
-- The error path only: recording checks the same rules in bulk and comes
-- here for the message when something fails them.
CREATE OR REPLACE FUNCTION scoreledger_private.submission_answer_errors(docs jsonb, path_prefix text)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE sql STABLE
AS $$
  WITH items AS MATERIALIZED (
    -- Each item looked up in one small JSON object: no join to misjudge.
    SELECT coalesce(jsonb_object_agg(i.evaluation_version_id::text || ':' || i.question_version_id::text,
                      jsonb_build_object('id', i.question_version_id, 'options', to_jsonb(q.options),
                        'bits', (SELECT jsonb_object_agg(o.option, 1::bigint << (o.n - 1)::int)
                                 FROM unnest(q.options) WITH ORDINALITY AS o(option, n)))), '{}') AS by_item
    FROM scoreledger_private.items i
    JOIN scoreledger_private.question_versions q
      ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id
    WHERE i.tenant_id = scoreledger.current_tenant()
      AND i.evaluation_version_id IN (SELECT DISTINCT (e->>'evaluation_version_id')::uuid FROM jsonb_array_elements(docs) e)
  ), parsed AS (
    SELECT d.n - 1 AS idx, a.n - 1 AS answer_idx, (entry.item->>'id')::uuid AS question_version_id,
           CASE
             WHEN jsonb_typeof(a.answer) <> 'object' THEN ': must be a JSON object'
             WHEN a.answer - ARRAY['question_version_id', 'selected'] <> '{}'
               THEN (SELECT min(k) FROM jsonb_object_keys(a.answer - ARRAY['question_version_id', 'selected']) k) || ': unknown field'
             WHEN entry.item IS NULL THEN
               CASE WHEN jsonb_typeof(a.answer->'question_version_id') = 'string'
                         AND scoreledger_private.is_uuid(a.answer->>'question_version_id')
                    THEN format('question_version_id: %s is not an item of evaluation version %s',
                                a.answer->>'question_version_id', v.version_id)
                    ELSE 'question_version_id: must be a uuid string' END
             WHEN jsonb_typeof(a.answer->'selected') IS DISTINCT FROM 'array'
               THEN 'selected: must be an array of option strings'
             -- Every element a string equal to an option (the options are strings).
             WHEN NOT (entry.item->'options' @> (a.answer->'selected')) THEN
               CASE WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(a.answer->'selected') x(s) WHERE jsonb_typeof(x.s) <> 'string')
                    THEN 'selected: must be an array of option strings'
                    ELSE format('selected: %s is not an option of question version %s',
                                (SELECT x.s::text FROM jsonb_array_elements(a.answer->'selected') x(s)
                                 WHERE NOT (entry.item->'options' @> jsonb_build_array(x.s)) LIMIT 1),
                                entry.item->>'id') END
             -- Each distinct option sets its own bit: a repeat leaves fewer bits than elements.
             WHEN bit_count((SELECT bit_or((entry.item->'bits'->>x.s)::bigint)
                             FROM jsonb_array_elements_text(a.answer->'selected') x(s))::bit(64))
                  <> jsonb_array_length(a.answer->'selected')
               THEN 'selected: lists an option twice'
           END AS problem
    FROM items
    CROSS JOIN LATERAL jsonb_array_elements(docs) WITH ORDINALITY AS d(doc, n)
    CROSS JOIN LATERAL (SELECT (d.doc->>'evaluation_version_id')::uuid AS version_id) v
    CROSS JOIN LATERAL jsonb_array_elements(d.doc->'answers') WITH ORDINALITY AS a(answer, n)
    CROSS JOIN LATERAL (SELECT items.by_item -> (v.version_id::text || ':' || lower(a.answer->>'question_version_id')) AS item) entry
  )
  SELECT 'SL422',
         format('%sanswers[%s]', CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, r.idx) END,
                r.answer_idx)
         || CASE WHEN r.problem LIKE ':%' THEN r.problem
                 ELSE '.' || coalesce(r.problem, format('question_version_id: %s is answered twice', r.question_version_id)) END
  FROM (SELECT p.*, row_number() OVER (PARTITION BY p.idx, p.question_version_id ORDER BY p.answer_idx) AS occurrence
        FROM parsed p) r
  WHERE r.problem IS NOT NULL OR r.occurrence > 1
  ORDER BY r.idx, r.answer_idx
  LIMIT 1
$$;

-- Raises the first problem in submission documents, in document order:
-- top-level fields of every document first, then answers.
CREATE OR REPLACE FUNCTION scoreledger_private.raise_submission_document_problem(docs jsonb, path_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  problem record;
BEGIN
  SELECT * INTO problem FROM scoreledger_private.submission_document_errors(docs, path_prefix);
  IF NOT FOUND THEN
    SELECT * INTO problem FROM scoreledger_private.submission_answer_errors(docs, path_prefix);
  END IF;
  IF FOUND THEN
    PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
  END IF;
  -- Only reached if the bulk checks and the diagnosis disagree: still refuse.
  PERFORM scoreledger_private.fail('SL422', coalesce(path_prefix, 'document') || ': invalid submission document');
END
$$;

-- The session's scratch tables for record_documents, created on first use
-- (ON COMMIT DELETE ROWS: nothing outlives a transaction). Named apart from
-- earlier layouts, which a long-lived session may still hold.
CREATE OR REPLACE FUNCTION scoreledger_private.ensure_recording_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  -- Only tables this function made: a look-alike the caller planted in its
  -- own temp schema (with a trigger, say) would run its code as the owner.
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
             WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()
               AND c.relname IN ('recording_documents', 'recording_answers_parsed', 'recording_items')
               AND (c.relowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = 'scoreledger_owner')
                    OR c.relkind <> 'r'
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid)
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid))) THEN
    PERFORM scoreledger_private.fail('SL403', 'this session holds temporary tables named recording_documents/recording_answers_parsed/recording_items that scoreledger did not create; drop them');
  END IF;
  IF to_regclass('pg_temp.recording_documents') IS NULL THEN
    -- Nullable throughout: a row holds what a document says, checked or not.
    CREATE TEMP TABLE recording_documents (
      idx integer PRIMARY KEY, answer_count integer, submission_id uuid, version_id uuid, evaluation_id uuid,
      user_id uuid, assignment_id uuid, submitted_at timestamptz, valid boolean NOT NULL, fresh boolean,
      attempt_no integer, score numeric, max_score numeric, answers_valid boolean, inserted boolean NOT NULL DEFAULT false
    ) WITH (fillfactor = 30) ON COMMIT DELETE ROWS;  -- room for its three updates to stay HOT
    CREATE TEMP TABLE recording_answers_parsed (
      idx integer NOT NULL, question_version_id uuid, selected text[], selected_mask bigint,
      award numeric, item_max numeric, valid boolean NOT NULL
    ) ON COMMIT DELETE ROWS;
    -- The items of the call's evaluation versions under the corrections in
    -- force, keyed as answers name them.
    CREATE TEMP TABLE recording_items (
      evaluation_version_id uuid NOT NULL, question_version_id uuid NOT NULL, question_version_text text NOT NULL,
      kind text NOT NULL, scoring text NOT NULL, points numeric NOT NULL, key_mask bigint NOT NULL,
      dropped boolean NOT NULL, credit_all boolean NOT NULL, options text[] NOT NULL,
      PRIMARY KEY (evaluation_version_id, question_version_text)
    ) ON COMMIT DELETE ROWS;
  END IF;
END
$$;

-- Records submission documents, set-based. Returns one row per document:
-- its submission id and whether this call recorded it (false: an identical
-- earlier recording, a no-op).
--
-- Bulk first: every rule is checked with cheap operators over the whole
-- call (nothing cast before it is checked), and only when something fails
-- does raise_submission_document_problem walk the documents again to name
-- the first problem. The parsed documents and items go through temp tables
-- that are ANALYZEd: joins between CTEs are planned as if they held one
-- row, and a nested loop over thousands of documents is quadratic.
CREATE OR REPLACE FUNCTION scoreledger_private.record_documents(docs jsonb, path_prefix text)
RETURNS TABLE (submission_id uuid, recorded boolean)
LANGUAGE plpgsql VOLATILE
-- A call's parsed answers (and the rows its triggers collect) in memory,
-- not in batches spilled to temporary files.
SET work_mem = '64MB'
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  mismatch record;
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(path_prefix, 'document') || ': must be a JSON array');
  END IF;

  PERFORM scoreledger_private.ensure_recording_tables();
  DELETE FROM pg_temp.recording_documents;
  DELETE FROM pg_temp.recording_answers_parsed;
  DELETE FROM pg_temp.recording_items;

  -- Top-level fields: the rules of submission_document_errors, as one
  -- boolean per document.
  INSERT INTO pg_temp.recording_documents
    (idx, answer_count, submission_id, version_id, evaluation_id, user_id, assignment_id, submitted_at, valid, fresh)
  SELECT x.n - 1, CASE WHEN jsonb_typeof(f.answers) = 'array' THEN jsonb_array_length(f.answers) END,
         ids.submission_id, v.evaluation_version_id, v.evaluation_id, ids.user_id, a.assignment_id,
         CASE WHEN ids.submitted_at_valid THEN f.submitted_at::timestamptz END,
         -- CASE, not AND, in front of what errs on a scalar.
         CASE WHEN jsonb_typeof(x.doc) <> 'object' OR jsonb_typeof(f.answers) IS DISTINCT FROM 'array' THEN false
              ELSE coalesce(
                x.doc - ARRAY['submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at', 'answers'] = '{}'
                AND (f.submission_id IS NULL OR ids.submission_id IS NOT NULL)
                AND v.evaluation_version_id IS NOT NULL
                AND ids.user_id IS NOT NULL
                AND (f.assignment_id IS NULL OR a.evaluation_id = v.evaluation_id)
                AND ids.submitted_at_valid
                AND jsonb_array_length(f.answers) BETWEEN 1 AND 1000, false) END,
         NOT EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                     WHERE s.tenant_id = tenant AND s.submission_id = ids.submission_id)
  FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
  -- Text fields, so that no value can fail a conversion here; an absent
  -- field and a JSON null both read as null.
  CROSS JOIN LATERAL jsonb_to_record(CASE WHEN jsonb_typeof(x.doc) = 'object' THEN x.doc ELSE '{}' END)
    AS f(submission_id text, evaluation_version_id text, user_id text, assignment_id text, submitted_at text, answers jsonb)
  CROSS JOIN LATERAL (SELECT
    CASE WHEN f.submission_id IS NULL THEN gen_random_uuid()
         WHEN scoreledger_private.is_uuid(f.submission_id) THEN f.submission_id::uuid END AS submission_id,
    CASE WHEN scoreledger_private.is_uuid(f.user_id) THEN f.user_id::uuid END AS user_id,
    scoreledger_private.is_iso_timestamptz(f.submitted_at) AS submitted_at_valid) ids
  -- Version and assignment matched as text, as is_uuid would let them
  -- through (either letter case): no pattern to run per document.
  LEFT JOIN scoreledger_private.evaluation_versions v
    ON v.tenant_id = tenant AND v.evaluation_version_id::text = lower(f.evaluation_version_id)
  LEFT JOIN scoreledger_private.assignments a
    ON a.tenant_id = tenant AND a.assignment_id::text = lower(f.assignment_id);
  ANALYZE pg_temp.recording_documents;

  IF EXISTS (SELECT 1 FROM pg_temp.recording_documents r WHERE NOT r.valid)
     OR (SELECT count(DISTINCT r.submission_id) <> count(*) FROM pg_temp.recording_documents r) THEN
    PERFORM scoreledger_private.raise_submission_document_problem(docs, path_prefix);
  END IF;

  -- Shared lock on each evaluation version, in key order: an apply holds it
  -- exclusively, so a submission is scored either before an apply starts or
  -- after it commits, never against a half-applied batch.
  PERFORM pg_catalog.pg_advisory_xact_lock_shared(k.key)
  FROM (SELECT DISTINCT scoreledger_private.version_lock_key(tenant, r.version_id) AS key
        FROM pg_temp.recording_documents r ORDER BY 1) k;

  -- The items, under the corrections in force: a new statement, so a new
  -- snapshot, taken once the locks above are held.
  INSERT INTO pg_temp.recording_items
  SELECT s.evaluation_version_id, s.question_version_id, s.question_version_id::text, s.kind, s.scoring, s.points,
         s.key_mask, s.dropped, s.credit_all, s.options
  FROM scoreledger_private.item_states(
    (SELECT array_agg(DISTINCT r.version_id) FROM pg_temp.recording_documents r)) s;
  ANALYZE pg_temp.recording_items;

  -- Every answer parsed once (from the call's documents, in memory), joined
  -- to its item, scored, and checked by the rules of submission_answer_errors.
  -- The common selections (none, one option) skip the per-answer subquery.
  -- OFFSET 0 keeps each level a separate projection: flattened, every use of
  -- a column would repeat the JSON extraction behind it.
  INSERT INTO pg_temp.recording_answers_parsed (idx, question_version_id, selected, selected_mask, award, item_max, valid)
  SELECT m.idx, m.question_version_id, m.selected, m.selected_mask,
         scoreledger_private.item_award(m.kind, m.scoring, m.points, m.key_mask, m.dropped, m.credit_all, m.selected_mask),
         scoreledger_private.item_max(m.points, m.dropped),
         -- A selection's mask has one bit per element, each an option string
         -- (a number, a repeat or a stranger leaves a null or fewer bits).
         coalesce(m.shape_valid AND bit_count(m.selected_mask::bit(64)) = m.selection_length, false)
  FROM (
    SELECT p.*,
           CASE WHEN p.selection_length IS NULL THEN NULL
             WHEN p.selection_length = 0 THEN '{}'::text[]
             WHEN p.selection_length = 1 THEN ARRAY[p.selection->>0]
             ELSE ARRAY(SELECT jsonb_array_elements_text(p.selection)) END AS selected,
           CASE WHEN p.selection_length IS NULL THEN NULL
             WHEN p.selection_length = 0 THEN 0::bigint
             WHEN p.selection_length = 1 THEN
               CASE WHEN jsonb_typeof(p.selection->0) = 'string'
                    THEN 1::bigint << (array_position(p.options, p.selection->>0) - 1) END
             ELSE (SELECT CASE WHEN bool_and(jsonb_typeof(x.e) = 'string')
                               THEN bit_or(1::bigint << (array_position(p.options, x.e #>> '{}') - 1)) END
                   FROM jsonb_array_elements(p.selection) x(e)) END
             AS selected_mask
    FROM (
      SELECT r.idx, it.question_version_id, it.kind, it.scoring, it.points, it.key_mask, it.dropped, it.credit_all,
             it.options, a.selection,
             CASE WHEN jsonb_typeof(a.selection) = 'array' THEN jsonb_array_length(a.selection) END AS selection_length,
             CASE WHEN a.is_object
                  THEN a.answer - ARRAY['question_version_id', 'selected'] = '{}'
                       AND it.question_version_id IS NOT NULL AND jsonb_typeof(a.selection) = 'array'
                  ELSE false END AS shape_valid
      FROM jsonb_array_elements(docs) WITH ORDINALITY AS d(doc, n)
      JOIN pg_temp.recording_documents r ON r.idx = d.n - 1
      CROSS JOIN LATERAL (
        SELECT e.answer, jsonb_typeof(e.answer) = 'object' AS is_object,
               CASE WHEN jsonb_typeof(e.answer) = 'object' THEN e.answer->'selected' END AS selection,
               CASE WHEN jsonb_typeof(e.answer) = 'object' THEN lower(e.answer->>'question_version_id') END AS qv
        FROM jsonb_array_elements(d.doc->'answers') AS e(answer)
        OFFSET 0) a
      LEFT JOIN pg_temp.recording_items it
        ON it.evaluation_version_id = r.version_id AND it.question_version_text = a.qv
      OFFSET 0) p
    OFFSET 0) m;
  -- Not ANALYZEd: the sample costs more than the plans below gain from it.

  -- Per document: its score, and whether all its answers passed, each item
  -- at most once.
  UPDATE pg_temp.recording_documents r
     SET score = t.score, max_score = t.max_score, answers_valid = t.answers_valid
    FROM (SELECT ra.idx, sum(ra.award) AS score, sum(ra.item_max) AS max_score,
                 bool_and(ra.valid) AND count(*) = count(DISTINCT ra.question_version_id) AS answers_valid
          FROM pg_temp.recording_answers_parsed ra
          GROUP BY ra.idx) t
   WHERE r.idx = t.idx;
  IF EXISTS (SELECT 1 FROM pg_temp.recording_documents r WHERE r.answers_valid IS NOT TRUE) THEN
    PERFORM scoreledger_private.raise_submission_document_problem(docs, path_prefix);
  END IF;

  -- Attempt numbers: the counter rows are locked in key order, so
  -- concurrent recorders of one learner take turns and never deadlock.
  WITH counters AS (
    INSERT INTO scoreledger_private.attempt_counters AS c (tenant_id, evaluation_id, user_id, attempts)
    SELECT tenant, r.evaluation_id, r.user_id, count(*)
    FROM pg_temp.recording_documents r WHERE r.fresh
    GROUP BY r.evaluation_id, r.user_id ORDER BY r.evaluation_id, r.user_id
    ON CONFLICT (tenant_id, evaluation_id, user_id) DO UPDATE SET attempts = c.attempts + excluded.attempts
    RETURNING c.evaluation_id, c.user_id, c.attempts
  )
  UPDATE pg_temp.recording_documents r SET attempt_no = numbered.attempt_no
  FROM (SELECT r2.idx, c.attempts - count(*) OVER w + row_number() OVER (w ORDER BY r2.submitted_at, r2.idx) AS attempt_no
        FROM pg_temp.recording_documents r2 JOIN counters c ON c.evaluation_id = r2.evaluation_id AND c.user_id = r2.user_id
        WHERE r2.fresh
        WINDOW w AS (PARTITION BY r2.evaluation_id, r2.user_id)) numbered
  WHERE r.idx = numbered.idx;

  -- One statement writes the submissions, their raw answers and their first
  -- history rows: the tables' statement triggers then check them together
  -- (score = latest history row, answers complete). ON CONFLICT: a
  -- concurrent caller may have recorded the same id since the snapshot
  -- above; its row wins and this one is compared below.
  WITH inserted AS (
    INSERT INTO scoreledger_private.submissions
      (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, assignment_id, attempt_no, submitted_at,
       answer_count, score, max_score)
    SELECT tenant, r.submission_id, r.version_id, r.evaluation_id, r.user_id, r.assignment_id, r.attempt_no, r.submitted_at,
           r.answer_count, r.score, r.max_score
    FROM pg_temp.recording_documents r WHERE r.fresh
    ON CONFLICT (tenant_id, submission_id) DO NOTHING
    RETURNING submissions.submission_id, submissions.submission_no, submissions.score, submissions.max_score
  ), written AS (
    SELECT r.idx, i.submission_id, i.submission_no, i.score, i.max_score
    FROM inserted i JOIN pg_temp.recording_documents r ON r.submission_id = i.submission_id
  ), answers_written AS (
    INSERT INTO scoreledger_private.answers
      (tenant_id, submission_id, submission_no, question_version_id, selected, selected_mask)
    SELECT tenant, w.submission_id, w.submission_no, ra.question_version_id, ra.selected, ra.selected_mask
    FROM written w JOIN pg_temp.recording_answers_parsed ra ON ra.idx = w.idx
  ), history_written AS (
    INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, correction_batch_id, score, max_score)
    SELECT tenant, w.submission_id, NULL, w.score, w.max_score FROM written w
  )
  UPDATE pg_temp.recording_documents r SET inserted = true FROM written w WHERE r.idx = w.idx;

  -- Documents not recorded by this call name a submission that exists: a
  -- no-op if identical, else SL423 (raw answers are immutable).
  SELECT r.idx, r.submission_id INTO mismatch
  FROM pg_temp.recording_documents r
  WHERE NOT r.inserted
    AND NOT EXISTS (
      SELECT 1 FROM scoreledger_private.submissions s
      WHERE s.tenant_id = tenant AND s.submission_id = r.submission_id
        AND s.evaluation_version_id = r.version_id AND s.user_id = r.user_id
        AND s.assignment_id IS NOT DISTINCT FROM r.assignment_id AND s.submitted_at = r.submitted_at
        AND (SELECT jsonb_agg(jsonb_build_array(a.question_version_id,
                      (SELECT coalesce(jsonb_agg(o ORDER BY o), '[]') FROM unnest(a.selected) o))
                    ORDER BY a.question_version_id)
               FROM scoreledger_private.answers a
              WHERE a.tenant_id = tenant AND a.submission_no = s.submission_no)
          = (SELECT jsonb_agg(jsonb_build_array(ra.question_version_id,
                      (SELECT coalesce(jsonb_agg(o ORDER BY o), '[]') FROM unnest(ra.selected) o))
                    ORDER BY ra.question_version_id)
               FROM pg_temp.recording_answers_parsed ra WHERE ra.idx = r.idx))
  ORDER BY r.idx LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL423', format(
      '%ssubmission_id: submission %s is already recorded with other content; raw answers are immutable',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, mismatch.idx) END,
      mismatch.submission_id));
  END IF;

  -- The scratch rows go at commit (ON COMMIT DELETE ROWS); a second call in
  -- the same transaction clears them first.
  RETURN QUERY SELECT r.submission_id, r.inserted FROM pg_temp.recording_documents r ORDER BY r.idx;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.record_submission(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
SET search_path = pg_catalog, pg_temp
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
