-- =====================================================================
-- The rules of a submission document, each written once.
--
-- A rule is one WHEN of a CASE: its condition, its SQLSTATE, the field it
-- names and its message, side by side. A CASE yields the first rule a
-- document (or an answer) breaks, as a problem (sqlstate, field, message),
-- or null. Recording (sql/42_recording.sql) evaluates these CASEs over the
-- whole call in its bulk statements, stores each entry's problem, and
-- raises the first in document order; the diagnosis functions there read
-- the same stored problems. Rules across entries (an id named twice, an
-- item answered twice) are set-based too: a window over the call's
-- documents, one statement over its answers (mark_repeated_answers). No
-- other code says what a valid document is; tests/pgtap/26 holds an
-- example of each rule, counted from these functions' source.
--
-- Cheap first: on the valid path every WHEN is a cheap operator over values
-- parsed once (nothing cast before it is checked); anything costly to word
-- a message (a subquery over the entry) sits in a helper called only by
-- the WHEN that has already failed. The result documents' rules follow the
-- same shape (sql/72_score_producers.sql).
-- =====================================================================

-- ---------------------------------------------------------------------
-- Problems: what a rule yields, and how its message reads
-- ---------------------------------------------------------------------

-- A broken rule: its SQLSTATE, the field it names (null: the entry as a
-- whole) and what is wrong. An array, not a composite type, so that the
-- repeatable sql/ files need no type of their own.
CREATE OR REPLACE FUNCTION scoreledger_private.problem(sqlstate text, field text, message text)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT ARRAY[sqlstate, field, message]
$$;

-- The message of a problem of the entry at `entry` ('' for a lone
-- document): "submissions[2].user_id: must be ...", "[3]: must be a JSON
-- object", "document: must be a JSON object".
CREATE OR REPLACE FUNCTION scoreledger_private.problem_message(entry text, problem text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN problem[2] IS NULL THEN coalesce(nullif(entry, ''), 'document')
              WHEN entry = '' THEN problem[2]
              ELSE entry || '.' || problem[2] END
         || ': ' || problem[3]
$$;

-- The first key of an object outside `known` (in key order), for the
-- "unknown field" rules.
CREATE OR REPLACE FUNCTION scoreledger_private.first_unknown_key(doc jsonb, known text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT min(k) FROM jsonb_object_keys(doc - known) k
$$;

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

-- ---------------------------------------------------------------------
-- A submission document's top-level fields
-- ---------------------------------------------------------------------

-- Every document of a call, parsed once, with the first rule it breaks
-- (problem, null if none). One SELECT, so that the planner inlines it into
-- the statement that records the documents. `docs` is named once: inlined,
-- each mention is a copy of the whole call's JSON in the plan, and planning
-- copies the plan tree several times.
--
-- Text fields (jsonb_to_record), so that no value can fail a conversion:
-- an absent field and a JSON null both read as null, and a non-string JSON
-- value reads as its JSON text, which no uuid or timestamp pattern
-- accepts. Version and assignment are matched as text, as is_uuid lets
-- them through (either letter case): no pattern to run per document on the
-- valid path. A window, not a self-join, finds an id named twice.
CREATE OR REPLACE FUNCTION scoreledger_private.submission_documents(docs jsonb, tenant uuid)
RETURNS TABLE (idx integer, given_id uuid, version_id uuid, evaluation_id uuid, user_id uuid, assignment_id uuid,
               submitted_at timestamptz, answer_count integer, problem text[])
LANGUAGE sql STABLE
AS $$
  SELECT d.idx, d.given_id, d.version_id, d.evaluation_id, d.user_id, d.assignment_id,
         CASE WHEN d.submitted_at_valid THEN d.submitted_at::timestamptz END, d.answer_count,
         CASE
           WHEN NOT d.is_object THEN scoreledger_private.problem('SL422', NULL, 'must be a JSON object')
           WHEN d.unknown_field IS NOT NULL THEN scoreledger_private.problem('SL422', d.unknown_field, 'unknown field')
           WHEN d.submission_id IS NOT NULL AND d.given_id IS NULL
             THEN scoreledger_private.problem('SL422', 'submission_id', 'must be a uuid string')
           WHEN d.version_id IS NULL AND NOT coalesce(scoreledger_private.is_uuid(d.version_text), false)
             THEN scoreledger_private.problem('SL422', 'evaluation_version_id', 'must be a uuid string')
           WHEN d.version_id IS NULL
             THEN scoreledger_private.problem('SL404', 'evaluation_version_id',
                    format('evaluation version %s does not exist', lower(d.version_text)))
           WHEN d.user_id IS NULL THEN scoreledger_private.problem('SL422', 'user_id', 'must be a uuid string')
           WHEN d.assignment_text IS NOT NULL AND d.assignment_id IS NULL
                AND NOT scoreledger_private.is_uuid(d.assignment_text)
             THEN scoreledger_private.problem('SL422', 'assignment_id', 'must be a uuid string')
           WHEN d.assignment_text IS NOT NULL AND d.assignment_id IS NULL
             THEN scoreledger_private.problem('SL404', 'assignment_id',
                    format('assignment %s does not exist', lower(d.assignment_text)))
           WHEN d.assignment_id IS NOT NULL AND d.assignment_evaluation_id <> d.evaluation_id
             THEN scoreledger_private.problem('SL422', 'assignment_id',
                    format('assignment %s is for another evaluation', d.assignment_id))
           WHEN NOT d.submitted_at_valid
             THEN scoreledger_private.problem('SL422', 'submitted_at',
                    'must be an ISO 8601 timestamp with a time zone, e.g. 2026-11-01T10:00:00Z')
           WHEN d.answer_count IS NULL OR d.answer_count = 0
             THEN scoreledger_private.problem('SL422', 'answers', 'must be a non-empty array')
           WHEN d.answer_count > scoreledger_private.input_limit('answers_per_submission')
             THEN scoreledger_private.problem('SL422', 'answers',
                    format('at most %s answers', scoreledger_private.input_limit('answers_per_submission')))
           WHEN d.occurrence > 1
             THEN scoreledger_private.problem('SL422', 'submission_id', format('%s appears twice in this call', d.given_id))
         END
  FROM (
    -- A window over scalars: everything it needs is extracted below it
    -- (OFFSET 0), or the sort would carry every document along.
    SELECT p.*, CASE WHEN p.given_id IS NOT NULL
                     THEN row_number() OVER (PARTITION BY p.given_id ORDER BY p.idx) END AS occurrence
    FROM (
      SELECT (x.n - 1)::int AS idx, jsonb_typeof(x.doc) = 'object' AS is_object,
             CASE WHEN jsonb_typeof(x.doc) = 'object'
                       AND x.doc - ARRAY['submission_id', 'evaluation_version_id', 'user_id', 'assignment_id', 'submitted_at',
                                         'answers', 'attempt_id'] <> '{}'
                  THEN scoreledger_private.first_unknown_key(x.doc, ARRAY['submission_id', 'evaluation_version_id',
                         'user_id', 'assignment_id', 'submitted_at', 'answers', 'attempt_id']) END AS unknown_field,
             f.submission_id, ids.given_id, f.evaluation_version_id AS version_text,
             v.evaluation_version_id AS version_id, v.evaluation_id, ids.user_id,
             f.assignment_id AS assignment_text, a.assignment_id, a.evaluation_id AS assignment_evaluation_id,
             f.submitted_at, ids.submitted_at_valid,
             CASE WHEN jsonb_typeof(f.answers) = 'array' THEN jsonb_array_length(f.answers) END AS answer_count
      FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
      CROSS JOIN LATERAL jsonb_to_record(CASE WHEN jsonb_typeof(x.doc) = 'object' THEN x.doc ELSE '{}' END)
        AS f(submission_id text, evaluation_version_id text, user_id text, assignment_id text, submitted_at text,
             answers jsonb)
      CROSS JOIN LATERAL (SELECT
        CASE WHEN scoreledger_private.is_uuid(f.submission_id) THEN f.submission_id::uuid END AS given_id,
        CASE WHEN scoreledger_private.is_uuid(f.user_id) THEN f.user_id::uuid END AS user_id,
        scoreledger_private.is_iso_timestamptz(f.submitted_at) AS submitted_at_valid) ids
      LEFT JOIN scoreledger_private.evaluation_versions v
        ON v.tenant_id = tenant AND v.evaluation_version_id::text = lower(f.evaluation_version_id)
      LEFT JOIN scoreledger_private.assignments a
        ON a.tenant_id = tenant AND a.assignment_id::text = lower(f.assignment_id)
      OFFSET 0) p
  ) d
$$;

-- ---------------------------------------------------------------------
-- An answer of a submission document
-- ---------------------------------------------------------------------

-- Words what is wrong with a selection that failed the bit count of
-- submission_answer_problem (only then called): an element that is not a
-- string, else the first that is not an option, else a repeat.
CREATE OR REPLACE FUNCTION scoreledger_private.selection_problem(selection jsonb, options text[],
                                                                 question_version_id uuid)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
  SELECT CASE
    WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(selection) x(s) WHERE jsonb_typeof(x.s) <> 'string')
      THEN scoreledger_private.problem('SL422', 'selected', 'must be an array of option strings')
    WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(selection) x(s) WHERE x.s <> ALL (options))
      THEN scoreledger_private.problem('SL422', 'selected', format('%s is not an option of question version %s',
             (SELECT x.s::text FROM jsonb_array_elements(selection) WITH ORDINALITY x(s, n)
              WHERE (x.s #>> '{}') <> ALL (options) ORDER BY x.n LIMIT 1),
             question_version_id))
    ELSE scoreledger_private.problem('SL422', 'selected', 'lists an option twice')
  END
$$;

-- The first rule an answer breaks, or null. Its inputs, parsed once by
-- recording: the answer, the item it names in the document's evaluation
-- version (question_version_id and options; null if none), the selection
-- with its length (null unless an array) and its option mask (one bit per
-- distinct option string; a number, a stranger or a repeat leaves it null
-- or with fewer bits than elements). One expression: inlined per answer.
-- (The one rule across answers: mark_repeated_answers, below.)
CREATE OR REPLACE FUNCTION scoreledger_private.submission_answer_problem(
  answer jsonb, question_version_id uuid, options text[], version_id uuid,
  selection jsonb, selection_length integer, selected_mask bigint)
RETURNS text[]
LANGUAGE sql STABLE
AS $$
  SELECT CASE
    WHEN jsonb_typeof(answer) <> 'object' THEN scoreledger_private.problem('SL422', NULL, 'must be a JSON object')
    WHEN answer - ARRAY['question_version_id', 'selected'] <> '{}'
      THEN scoreledger_private.problem('SL422',
             scoreledger_private.first_unknown_key(answer, ARRAY['question_version_id', 'selected']), 'unknown field')
    WHEN question_version_id IS NULL
         AND NOT (jsonb_typeof(answer->'question_version_id') = 'string'
                  AND scoreledger_private.is_uuid(answer->>'question_version_id'))
      THEN scoreledger_private.problem('SL422', 'question_version_id', 'must be a uuid string')
    WHEN question_version_id IS NULL
      THEN scoreledger_private.problem('SL422', 'question_version_id',
             format('%s is not an item of evaluation version %s', answer->>'question_version_id', version_id))
    WHEN selection_length IS NULL
      THEN scoreledger_private.problem('SL422', 'selected', 'must be an array of option strings')
    WHEN selected_mask IS NULL OR bit_count(selected_mask::bit(64)) <> selection_length
      THEN scoreledger_private.selection_problem(selection, options, question_version_id)
  END
$$;

-- Each item is answered at most once per document: every later answer to
-- an item gets this problem, unless it has one of its own. A rule across
-- the answers of a document, so one statement over the parsed answers of
-- the call (recording's scratch tables, sql/42_recording.sql), and only
-- over documents whose answers name fewer distinct items than they are
-- (items_answered, counted by the scoring step): grouping every answer of
-- the call by item would cost the valid path a hash of them all.
CREATE OR REPLACE FUNCTION scoreledger_private.mark_repeated_answers()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_temp.recording_submissions r WHERE r.items_answered < r.answer_count) THEN
    RETURN;  -- the valid path: one scan of the documents
  END IF;
  UPDATE pg_temp.recording_answers a
     SET problem = scoreledger_private.problem('SL422', 'question_version_id',
                     format('%s is answered twice', a.question_version_id))
    FROM (SELECT ra.idx, ra.question_version_id, min(ra.answer_idx) AS first_idx
          FROM pg_temp.recording_submissions r
          JOIN pg_temp.recording_answers ra ON ra.idx = r.idx
          WHERE r.items_answered < r.answer_count AND ra.question_version_id IS NOT NULL
          GROUP BY ra.idx, ra.question_version_id
          HAVING count(*) > 1) repeated
   WHERE a.idx = repeated.idx AND a.question_version_id = repeated.question_version_id
     AND a.answer_idx > repeated.first_idx AND a.problem IS NULL;
END
$$;
