-- =====================================================================
-- Recording submissions: parse, check, score, insert -- set-based.
--
-- A call's documents go through session scratch tables, one step each:
--   parse_submissions   the documents' fields and the first rule each
--                       breaks (sql/41_submission_rules.sql);
--   load_recording_items  the items of their versions, under the
--                       corrections in force;
--   parse_answers       every answer once: its item, selection, award and
--                       the first rule it breaks;
--   score_submissions   each document's score (and its items counted for
--                       mark_repeated_answers, the one rule across answers);
--   refuse_differing_twins  two documents of the call deriving one id;
--   number_attempts, insert_submissions, refuse_changed_rerecordings.
-- A document without submission_id gets a derived one (submission_key).
-- A broken rule is raised (first_submission_problem, in document order)
-- before anything is written; the diagnosis functions at the end run the
-- same steps and read the same problems, so they cannot disagree.
--
-- The scratch tables are ANALYZEd where joins depend on them: joins
-- between CTEs are planned as if they held one row, and a nested loop over
-- thousands of documents is quadratic.
-- =====================================================================

-- ---------------------------------------------------------------------
-- Scratch tables
-- ---------------------------------------------------------------------

-- The session's scratch tables, created on first use (ON COMMIT DELETE
-- ROWS: nothing outlives a transaction), and emptied for a new call. Named
-- apart from earlier layouts (recording_documents, recording_answers_parsed),
-- which a long-lived session may still hold.
CREATE OR REPLACE FUNCTION scoreledger_private.ensure_recording_tables()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  -- Only tables this role made: a look-alike the caller planted in its own
  -- temp schema (with a trigger, say) would run its code as the owner.
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_class c
             WHERE c.relnamespace = pg_catalog.pg_my_temp_schema()
               AND c.relname IN ('recording_submissions', 'recording_answers', 'recording_items', 'recording_attempts')
               AND (c.relowner <> (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = current_user)
                    OR c.relkind <> 'r'
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid)
                    OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid))) THEN
    PERFORM scoreledger_private.fail('SL403', 'this session holds temporary tables named recording_submissions/recording_answers/recording_items/recording_attempts that scoreledger did not create; drop them');
  END IF;
  IF to_regclass('pg_temp.recording_submissions') IS NULL THEN
    -- Nullable throughout: a row holds what a document says, checked or not.
    CREATE TEMP TABLE recording_submissions (
      idx integer PRIMARY KEY, answer_count integer, submission_id uuid, version_id uuid, evaluation_id uuid,
      user_id uuid, assignment_id uuid, submitted_at timestamptz, problem text[], fresh boolean,
      attempt_no integer, score numeric, max_score numeric, items_answered integer, answer_problems integer,
      inserted boolean NOT NULL DEFAULT false
    ) WITH (fillfactor = 30) ON COMMIT DELETE ROWS;  -- room for its three updates to stay HOT
    CREATE TEMP TABLE recording_answers (
      idx integer NOT NULL, answer_idx integer NOT NULL, question_version_id uuid, selected text[],
      selected_mask bigint, award numeric, item_max numeric, problem text[]
    ) ON COMMIT DELETE ROWS;
  END IF;
  IF to_regclass('pg_temp.recording_items') IS NULL THEN
    -- The items of the call's evaluation versions under the corrections in
    -- force, keyed as answers name them.
    CREATE TEMP TABLE recording_items (
      evaluation_version_id uuid NOT NULL, question_version_id uuid NOT NULL, question_version_text text NOT NULL,
      kind text NOT NULL, scoring text NOT NULL, points numeric NOT NULL, key_mask bigint NOT NULL,
      dropped boolean NOT NULL, credit_all boolean NOT NULL, options text[] NOT NULL,
      PRIMARY KEY (evaluation_version_id, question_version_text)
    ) ON COMMIT DELETE ROWS;
  END IF;
  IF to_regclass('pg_temp.recording_attempts') IS NULL THEN
    -- The documents' attempt_id (sql/45_attempts.sql), apart from the
    -- layout above so that long-lived sessions keep theirs.
    CREATE TEMP TABLE recording_attempts (idx integer PRIMARY KEY, attempt_id uuid NOT NULL) ON COMMIT DELETE ROWS;
  END IF;
  -- A second call in the same transaction starts from empty tables.
  DELETE FROM pg_temp.recording_attempts;
  DELETE FROM pg_temp.recording_submissions;
  DELETE FROM pg_temp.recording_answers;
  DELETE FROM pg_temp.recording_items;
END
$$;

-- ---------------------------------------------------------------------
-- Parse (and check)
-- ---------------------------------------------------------------------

-- Step 1: the documents' fields and problems (submission_documents); a
-- document without an id gets its derived one (submission_key, below).
-- `fresh`: no submission has its id yet and no earlier document of the call
-- names it (a twin: compared with its first in refuse_differing_twins).
CREATE OR REPLACE FUNCTION scoreledger_private.parse_submissions(docs jsonb, tenant uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  derived boolean;
BEGIN
  -- `derived`: some document has no id of its own, read off the parsed
  -- rows in the same statement (a second pass over the call's JSON cost
  -- about 15 ms of CPU per 5,000 documents).
  WITH k AS MATERIALIZED (
    SELECT d.*, CASE WHEN d.problem IS NULL THEN coalesce(d.given_id,
                  scoreledger_private.submission_key(tenant, d.version_id, d.user_id, d.submitted_at)) END
                  AS submission_id
    FROM scoreledger_private.submission_documents(docs, tenant) d
    -- Kept apart (a materialized CTE): pulled up, the join below would
    -- carry submission_key, which is not leakproof, and row-level security
    -- then forbids the index probe: every submission of the tenant would
    -- be read per call (20 ms at 20k, linear in the tenant).
  ), parsed AS (
    INSERT INTO pg_temp.recording_submissions
      (idx, answer_count, submission_id, version_id, evaluation_id, user_id, assignment_id, submitted_at, problem, fresh)
    SELECT k.idx, k.answer_count, k.submission_id, k.version_id, k.evaluation_id, k.user_id, k.assignment_id,
           k.submitted_at, k.problem,
           k.submission_id IS NOT NULL AND existing.submission_id IS NULL
    FROM k
    -- One primary-key probe per document, whatever the statistics say: as a
    -- plain join, a tenant the statistics call small (a table never
    -- analyzed, or a tenant grown since the last ANALYZE) made a hash join
    -- over the tenant's whole key range the cheaper plan, read on each call.
    LEFT JOIN LATERAL (
      SELECT e.submission_id FROM scoreledger_private.submissions e
      WHERE e.tenant_id = tenant AND e.submission_id = k.submission_id
      LIMIT 1) existing ON true
  )
  SELECT coalesce(bool_or(k.given_id IS NULL), false) INTO derived FROM k;
  -- Twins: only a derived id can repeat one of the call (a given id named
  -- twice is a problem of submission_documents), so the sort that finds
  -- them runs only for calls with a document without submission_id.
  IF derived THEN
    UPDATE pg_temp.recording_submissions r SET fresh = false
      FROM (SELECT r2.idx, row_number() OVER (PARTITION BY r2.submission_id ORDER BY r2.idx) AS occurrence
            FROM pg_temp.recording_submissions r2 WHERE r2.submission_id IS NOT NULL) t
     WHERE r.idx = t.idx AND t.occurrence > 1 AND r.fresh;
  END IF;
  ANALYZE pg_temp.recording_submissions;
END
$$;

-- The id of a submission document without one (contract v2 section 3): a
-- UUID version 5 in the namespace below of the name
--   <tenant>:<evaluation_version_id>:<user_id>:<submitted_at>
-- uuids in lower case with hyphens, submitted_at in UTC as
-- YYYY-MM-DDTHH:MI:SS.ffffffZ (always six fractional digits), e.g.
--   5b1c…:9e2f…:0d41…:2026-11-01T10:00:00.000000Z
-- so re-recording the same attempt is a no-op and a client can compute
-- the id itself (Python: uuid.uuid5(NAMESPACE, name)).
CREATE OR REPLACE FUNCTION scoreledger_private.submission_key_namespace()
RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT '4c0a5f8e-2d3b-5e7a-9c61-7f0d2b9e8a13'::uuid
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.submission_key(tenant uuid, version_id uuid, user_id uuid,
                                                              submitted_at timestamptz)
RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT scoreledger_private.uuid_generate_v5(scoreledger_private.submission_key_namespace(),
    tenant::text || ':' || version_id::text || ':' || user_id::text || ':'
    || pg_catalog.to_char(submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
$$;

-- Step 2: the items of the documents' versions, under the corrections in
-- force (in a new snapshot: the caller takes its locks first).
CREATE OR REPLACE FUNCTION scoreledger_private.load_recording_items()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  INSERT INTO pg_temp.recording_items
  SELECT s.evaluation_version_id, s.question_version_id, s.question_version_id::text, s.kind, s.scoring, s.points,
         s.key_mask, s.dropped, s.credit_all, s.options
  FROM scoreledger_private.item_states(
    (SELECT array_agg(DISTINCT r.version_id) FROM pg_temp.recording_submissions r)) s;
  ANALYZE pg_temp.recording_items;
END
$$;

-- Step 3: every answer of documents without a problem, parsed once (from
-- the call's documents, in memory), joined to its item, scored, and
-- checked by submission_answer_problem (the rule across answers,
-- mark_repeated_answers, runs once step 4 has counted each document's items). The common selections (none, one
-- option) skip the per-answer subquery. OFFSET 0 keeps each level a
-- separate projection: flattened, every use of a column would repeat the
-- JSON extraction behind it.
CREATE OR REPLACE FUNCTION scoreledger_private.parse_answers(docs jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  INSERT INTO pg_temp.recording_answers
    (idx, answer_idx, question_version_id, selected, selected_mask, award, item_max, problem)
  SELECT m.idx, m.answer_idx, m.question_version_id, m.selected, m.selected_mask,
         scoreledger_private.item_award(m.kind, m.scoring, m.points, m.key_mask, m.dropped, m.credit_all, m.selected_mask),
         scoreledger_private.item_max(m.points, m.dropped),
         scoreledger_private.submission_answer_problem(m.answer, m.question_version_id, m.options, m.version_id,
           m.selection, m.selection_length, m.selected_mask)
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
      SELECT r.idx, (a.n - 1)::int AS answer_idx, r.version_id, a.answer, it.question_version_id, it.kind, it.scoring,
             it.points, it.key_mask, it.dropped, it.credit_all, it.options, a.selection,
             CASE WHEN jsonb_typeof(a.selection) = 'array' THEN jsonb_array_length(a.selection) END AS selection_length
      FROM jsonb_array_elements(docs) WITH ORDINALITY AS d(doc, n)
      JOIN pg_temp.recording_submissions r ON r.idx = d.n - 1
      CROSS JOIN LATERAL (
        SELECT e.answer, e.n,
               CASE WHEN jsonb_typeof(e.answer) = 'object' THEN e.answer->'selected' END AS selection,
               -- Lowered byte-wise (collation "C"): the locale's lower() cost about 35 ms
               -- a call, and only an ASCII uuid can equal an item's id text anyway.
               CASE WHEN jsonb_typeof(e.answer) = 'object'
                    THEN lower((e.answer->>'question_version_id') COLLATE "C") END AS qv
        FROM jsonb_array_elements(d.doc->'answers') WITH ORDINALITY AS e(answer, n)
        OFFSET 0) a
      LEFT JOIN pg_temp.recording_items it
        ON it.evaluation_version_id = r.version_id AND it.question_version_text = a.qv
      WHERE r.problem IS NULL
      OFFSET 0) p
    OFFSET 0) m;
  -- Not ANALYZEd: the sample costs more than the plans below gain from it.
END
$$;

-- The first problem of the parsed call, in document order: documents'
-- fields first (their answers are parsed only once every document's fields
-- pass), then answers. `path_prefix`: the call's argument name
-- ("submissions[2].user_id: ..."), null for a lone document ("user_id: ...").
CREATE OR REPLACE FUNCTION scoreledger_private.first_submission_problem(path_prefix text)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  RETURN QUERY
  SELECT x.problem[1], scoreledger_private.problem_message(x.entry, x.problem)
  FROM (
    (SELECT 0 AS part, r.idx, r.problem,
            CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s]', path_prefix, r.idx) END AS entry
     FROM pg_temp.recording_submissions r WHERE r.problem IS NOT NULL ORDER BY r.idx LIMIT 1)
    UNION ALL
    (SELECT 1, a.idx, a.problem,
            CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, a.idx) END
            || format('answers[%s]', a.answer_idx)
     FROM pg_temp.recording_answers a WHERE a.problem IS NOT NULL ORDER BY a.idx, a.answer_idx LIMIT 1)
  ) x
  ORDER BY x.part
  LIMIT 1;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.raise_first_submission_problem(path_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  first record;
BEGIN
  SELECT * INTO first FROM scoreledger_private.first_submission_problem(path_prefix);
  IF FOUND THEN
    PERFORM scoreledger_private.fail(first.sqlstate, first.message);
  END IF;
END
$$;

-- ---------------------------------------------------------------------
-- Score and insert
-- ---------------------------------------------------------------------

-- Step 4: each document's score, the sum of its answers' awards, how many
-- distinct items its answers name (for mark_repeated_answers) and how many
-- broke a rule: counted here, in the pass that groups the answers anyway,
-- so that asking "any problem?" reads the documents, not every answer.
CREATE OR REPLACE FUNCTION scoreledger_private.score_submissions()
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  UPDATE pg_temp.recording_submissions r
     SET score = t.score, max_score = t.max_score, items_answered = t.items_answered,
         answer_problems = t.answer_problems
    FROM (SELECT ra.idx, sum(ra.award) AS score, sum(ra.item_max) AS max_score,
                 count(DISTINCT ra.question_version_id)::int AS items_answered,
                 count(ra.problem)::int AS answer_problems
          FROM pg_temp.recording_answers ra
          GROUP BY ra.idx) t
   WHERE r.idx = t.idx;
END
$$;

-- Step 5: attempt numbers. The counter rows are locked in key order, so
-- concurrent recorders of one learner take turns and never deadlock.
CREATE OR REPLACE FUNCTION scoreledger_private.number_attempts(tenant uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  WITH counters AS (
    INSERT INTO scoreledger_private.attempt_counters AS c (tenant_id, evaluation_id, user_id, attempts)
    SELECT tenant, r.evaluation_id, r.user_id, count(*)
    FROM pg_temp.recording_submissions r WHERE r.fresh
    GROUP BY r.evaluation_id, r.user_id ORDER BY r.evaluation_id, r.user_id
    ON CONFLICT (tenant_id, evaluation_id, user_id) DO UPDATE SET attempts = c.attempts + excluded.attempts
    RETURNING c.evaluation_id, c.user_id, c.attempts
  )
  UPDATE pg_temp.recording_submissions r SET attempt_no = numbered.attempt_no
  FROM (SELECT r2.idx, c.attempts - count(*) OVER w + row_number() OVER (w ORDER BY r2.submitted_at, r2.idx) AS attempt_no
        FROM pg_temp.recording_submissions r2 JOIN counters c ON c.evaluation_id = r2.evaluation_id AND c.user_id = r2.user_id
        WHERE r2.fresh
        WINDOW w AS (PARTITION BY r2.evaluation_id, r2.user_id)) numbered
  WHERE r.idx = numbered.idx;
END
$$;

-- Step 6: one statement writes the submissions, their raw answers and
-- their first history rows: the tables' statement triggers then check them
-- together (score = latest history row, answers complete). A concurrent
-- caller may have recorded the same id since the snapshot of step 1; its
-- row wins and this one is compared in step 7. Committed before this
-- statement (whose snapshot follows the version locks), it is skipped
-- here, never probed by ON CONFLICT: an apply's bulk pass may be
-- rescoring it, and waiting for that apply while holding the version lock
-- it waits for would deadlock (docs/security.md section 6 item 2).
-- Still in flight, it is the ON CONFLICT's to wait for.
CREATE OR REPLACE FUNCTION scoreledger_private.insert_submissions(tenant uuid)
RETURNS void
LANGUAGE plpgsql VOLATILE
-- The answers join to the written submissions by hashing those (a call's
-- documents) and reading the scratch answers once, then sort by number.
-- A merge join sorted the call's every answer twice, by document and then
-- by number: about 35 ms of a 5,000-document call.
SET enable_mergejoin = off
AS $$
BEGIN
  WITH inserted AS (
    INSERT INTO scoreledger_private.submissions
      (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, assignment_id, attempt_no, submitted_at,
       answer_count, score, max_score, attempt_id)
    SELECT tenant, r.submission_id, r.version_id, r.evaluation_id, r.user_id, r.assignment_id, r.attempt_no, r.submitted_at,
           r.answer_count, r.score, r.max_score, ra.attempt_id
    FROM pg_temp.recording_submissions r
    LEFT JOIN pg_temp.recording_attempts ra ON ra.idx = r.idx
    WHERE r.fresh
      -- One primary-key probe per document (OFFSET 0 keeps it a subplan):
      -- as an anti-join, the generic plan hashed every submission of the
      -- tenant, 48 ms of a call at 100k and growing with the tenant.
      AND NOT EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                      WHERE s.tenant_id = tenant AND s.submission_id = r.submission_id OFFSET 0)
    -- In key order: two recorders of the same attempts (derived ids) insert
    -- the same keys, and in different orders would deadlock on the index.
    ORDER BY r.submission_id
    ON CONFLICT (tenant_id, submission_id) DO NOTHING
    RETURNING submissions.submission_id, submissions.submission_no, submissions.score, submissions.max_score
  ), written AS (
    SELECT r.idx, i.submission_id, i.submission_no, i.score, i.max_score
    FROM inserted i JOIN pg_temp.recording_submissions r ON r.submission_id = i.submission_id AND r.fresh
  ), answers_written AS (
    INSERT INTO scoreledger_private.answers
      (tenant_id, submission_id, submission_no, question_version_id, selected, selected_mask)
    SELECT tenant, w.submission_id, w.submission_no, ra.question_version_id, ra.selected, ra.selected_mask
    FROM written w JOIN pg_temp.recording_answers ra ON ra.idx = w.idx
    -- The numbers follow submission_id (above), not the documents' order:
    -- sorted, every answer lands at the right edge of the answers' primary
    -- key (the B-tree's fast path) instead of a random leaf; about 80 ms
    -- of a 5,000-document call.
    ORDER BY w.submission_no
  ), history_written AS (
    INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, correction_batch_id, score, max_score)
    SELECT tenant, w.submission_id, NULL, w.score, w.max_score FROM written w
  )
  UPDATE pg_temp.recording_submissions r SET inserted = true FROM written w WHERE r.idx = w.idx;
END
$$;

-- Step 7: documents not recorded by this call name a submission that
-- exists: a no-op if identical, else SL423 (raw answers are immutable).
-- Set-based over the whole call (a re-run of an import is all of this
-- path): the documents joined with their stored submissions, each stored
-- submission's answers read through the primary key's (tenant,
-- submission_no) prefix, the call's answers grouped in one pass, and the
-- two compared as (item, option mask) lists. The mask stands for the
-- sorted selection: a version's options never change. Never a scan of the
-- call's answers per document: that was quadratic.
CREATE OR REPLACE FUNCTION scoreledger_private.changed_rerecordings(tenant uuid)
RETURNS TABLE (idx integer, submission_id uuid)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
  -- A first recording names no stored submission: skip the join. Planned
  -- while every document of the call still counts as not inserted (the
  -- temporary table is analyzed before the insert), it can be a hash join
  -- whose first step reads submissions up to the tenant's first row,
  -- through every other tenant's rows before it.
  IF NOT EXISTS (SELECT 1 FROM pg_temp.recording_submissions r WHERE NOT r.inserted AND r.problem IS NULL) THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH stored AS MATERIALIZED (
    SELECT r.idx, r.submission_id,
           (s.evaluation_version_id, s.user_id, s.assignment_id, s.submitted_at, s.answer_count, s.attempt_id)
             IS NOT DISTINCT FROM (r.version_id, r.user_id, r.assignment_id, r.submitted_at, r.answer_count, att.attempt_id)
             AS same_header,
           s.submission_no
    FROM pg_temp.recording_submissions r
    JOIN scoreledger_private.submissions s ON s.tenant_id = tenant AND s.submission_id = r.submission_id
    LEFT JOIN pg_temp.recording_attempts att ON att.idx = r.idx
    WHERE NOT r.inserted AND r.problem IS NULL
  ), given AS (
    SELECT ra.idx, array_agg(ra.question_version_id::text || ':' || ra.selected_mask::text
                             ORDER BY ra.question_version_id) AS answers
    FROM pg_temp.recording_answers ra
    WHERE ra.idx IN (SELECT st.idx FROM stored st WHERE st.same_header)
    GROUP BY ra.idx
  )
  SELECT st.idx, st.submission_id
  FROM stored st LEFT JOIN given g ON g.idx = st.idx
  WHERE NOT st.same_header
     OR g.answers IS DISTINCT FROM
        (SELECT array_agg(a.question_version_id::text || ':' || a.selected_mask::text ORDER BY a.question_version_id)
         FROM scoreledger_private.answers a
         WHERE a.tenant_id = tenant AND a.submission_no = st.submission_no);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.refuse_changed_rerecordings(tenant uuid, path_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  mismatch record;
BEGIN
  SELECT c.idx, c.submission_id INTO mismatch
  FROM scoreledger_private.changed_rerecordings(tenant) c ORDER BY c.idx LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL423', format(
      '%ssubmission_id: submission %s is already recorded with other content; raw answers are immutable',
      CASE WHEN path_prefix IS NULL THEN '' ELSE format('%s[%s].', path_prefix, mismatch.idx) END,
      mismatch.submission_id));
  END IF;
END
$$;

-- Two documents of the call naming one submission (a derived id: the same
-- version, learner and submitted_at; or a given id equal to a derived one):
-- the same content is one attempt, recorded once; other content is SL422
-- naming both entries, before anything is written. A window finds each
-- document's first twin (one sort of the call's documents, not a probe
-- per document); answers are compared only for the twins themselves.
CREATE OR REPLACE FUNCTION scoreledger_private.differing_twins()
RETURNS TABLE (first_idx integer, idx integer, submission_id uuid)
LANGUAGE plpgsql STABLE
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  SELECT f.idx, t.idx, t.submission_id
  FROM (SELECT r.*, min(r.idx) OVER (PARTITION BY r.submission_id) AS first_idx
        FROM pg_temp.recording_submissions r WHERE r.problem IS NULL AND r.submission_id IS NOT NULL) t
  JOIN pg_temp.recording_submissions f ON f.idx = t.first_idx
  WHERE t.idx > t.first_idx AND NOT t.fresh
    AND ((f.version_id, f.user_id, f.assignment_id, f.submitted_at)
           IS DISTINCT FROM (t.version_id, t.user_id, t.assignment_id, t.submitted_at)
         OR (SELECT jsonb_agg(jsonb_build_array(a.question_version_id, a.selected_mask) ORDER BY a.question_version_id)
               FROM pg_temp.recording_answers a WHERE a.idx = f.idx)
            IS DISTINCT FROM
            (SELECT jsonb_agg(jsonb_build_array(a.question_version_id, a.selected_mask) ORDER BY a.question_version_id)
               FROM pg_temp.recording_answers a WHERE a.idx = t.idx));
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.refuse_differing_twins(path_prefix text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  twin record;
BEGIN
  SELECT * INTO twin FROM scoreledger_private.differing_twins() d ORDER BY d.idx LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL422', format(
      '%1$s[%2$s] and %1$s[%3$s]: both are submission %4$s (the same evaluation_version_id, user_id and submitted_at) with different content',
      coalesce(path_prefix, 'submissions'), twin.first_idx, twin.idx, twin.submission_id));
  END IF;
END
$$;

-- ---------------------------------------------------------------------
-- The steps together
-- ---------------------------------------------------------------------

-- The answer steps, after the documents' fields passed: the items of the
-- versions under the corrections in force, every answer parsed and
-- checked once, each document scored, repeated items marked. Shared by
-- recording and the diagnosis, so both see the same problems.
CREATE OR REPLACE FUNCTION scoreledger_private.check_and_score_answers(docs jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM scoreledger_private.load_recording_items();
  PERFORM scoreledger_private.parse_answers(docs);
  PERFORM scoreledger_private.score_submissions();
  PERFORM scoreledger_private.mark_repeated_answers();
END
$$;

-- Records submission documents, all or nothing. Returns one row per
-- document: its submission id and whether this call recorded it (false:
-- an identical earlier recording or an identical twin of the call, a
-- no-op). `fn`: the API function, named in refusals. A call made in a
-- transaction that already holds locks must not wait for one (sql/30_scoring.sql):
-- it runs under a short lock_timeout, and a timeout is SL409.
CREATE OR REPLACE FUNCTION scoreledger_private.record_documents(docs jsonb, path_prefix text, fn text)
RETURNS TABLE (submission_id uuid, recorded boolean)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  saved_timeout text;
BEGIN
  IF NOT scoreledger_private.holds_locks() THEN
    RETURN QUERY SELECT * FROM scoreledger_private.record_documents_now(docs, path_prefix, false, fn);
    RETURN;
  END IF;
  saved_timeout := pg_catalog.current_setting('lock_timeout');
  PERFORM pg_catalog.set_config('lock_timeout', scoreledger_private.later_call_lock_timeout(), true);
  BEGIN
    RETURN QUERY SELECT * FROM scoreledger_private.record_documents_now(docs, path_prefix, true, fn);
  EXCEPTION WHEN lock_not_available THEN
    PERFORM scoreledger_private.refuse_lock_wait(fn, 'a learner''s attempt counter or a submission this call records');
  END;
  PERFORM pg_catalog.set_config('lock_timeout', saved_timeout, true);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.record_documents_now(docs jsonb, path_prefix text, late boolean, fn text)
RETURNS TABLE (submission_id uuid, recorded boolean)
LANGUAGE plpgsql VOLATILE
-- A call's parsed answers (and the rows its triggers collect) in memory,
-- not in batches spilled to temporary files.
SET work_mem = '64MB'
-- No JIT: the parse of a 5,000-document call is estimated above
-- jit_inline_above_cost (submission_key per row) and compiling it took
-- about 1 s, as long as the rest of the call (the score layer's rule too).
SET jit = off
-- Generic plans for every statement of the call (nested steps included):
-- a custom plan folds the call's JSON into each plan as a constant and
-- cost about 90 ms of CPU per 5,000-document call in planning alone, for
-- the same plan shapes (the steps' plans hinge on the ANALYZEd scratch
-- tables, not on parameter values; the triggers' EXECUTEs stay one-shot).
SET plan_cache_mode = force_generic_plan
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  versions uuid[];
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(path_prefix, 'document') || ': must be a JSON array');
  END IF;
  IF jsonb_array_length(docs) > scoreledger_private.input_limit('documents_per_call') THEN
    PERFORM scoreledger_private.fail('SL422', format('%s: at most %s documents per call',
      coalesce(path_prefix, 'document'), scoreledger_private.input_limit('documents_per_call')));
  END IF;
  PERFORM scoreledger_private.ensure_recording_tables();

  PERFORM scoreledger_private.parse_submissions(docs, tenant);
  IF EXISTS (SELECT 1 FROM pg_temp.recording_submissions r WHERE r.problem IS NOT NULL) THEN
    PERFORM scoreledger_private.raise_first_submission_problem(path_prefix);
  END IF;

  -- Shared lock on each evaluation version, in key order: an apply takes it
  -- exclusively before its bulk pass (for a moment) and from its catch-up
  -- to its commit (rescore_batch, sql/49_rescoring.sql), so a submission is
  -- scored under the corrections in force without the batch and rescored by
  -- the catch-up, or after the apply commits; never against a half-applied
  -- batch. Bounded: each is a slot of the server's shared lock table.
  SELECT array_agg(DISTINCT r.version_id) INTO versions FROM pg_temp.recording_submissions r;
  IF cardinality(versions) > scoreledger_private.input_limit('versions_per_call') THEN
    PERFORM scoreledger_private.fail('SL422', format('%s: at most %s distinct evaluation versions per call, not %s',
      coalesce(path_prefix, 'document'), scoreledger_private.input_limit('versions_per_call'), cardinality(versions)));
  END IF;
  PERFORM scoreledger_private.lock_versions(tenant, versions, false, late, fn);

  PERFORM scoreledger_private.check_and_score_answers(docs);
  IF EXISTS (SELECT 1 FROM pg_temp.recording_submissions r
             WHERE r.answer_problems > 0 OR r.items_answered < r.answer_count) THEN
    PERFORM scoreledger_private.raise_first_submission_problem(path_prefix);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_temp.recording_submissions r WHERE NOT r.fresh) THEN
    PERFORM scoreledger_private.refuse_differing_twins(path_prefix);
  END IF;

  -- attempt_id (contract section 11, sql/45_attempts.sql): parsed and
  -- checked against the learners' starts before anything is written.
  PERFORM scoreledger_private.parse_attempt_ids(docs, path_prefix);
  PERFORM scoreledger_private.check_attempt_ids(tenant, path_prefix);

  PERFORM scoreledger_private.number_attempts(tenant);
  PERFORM scoreledger_private.insert_submissions(tenant);
  PERFORM scoreledger_private.refuse_changed_rerecordings(tenant, path_prefix);
  -- The intervention rule over every learner this call recorded for an
  -- assignment, in one pass (sql/46_interventions.sql).
  PERFORM scoreledger_private.enact_intervention_rule(x.aa, x.uu, NULL, 'a new recording', late, fn)
  FROM (SELECT array_agg(r.assignment_id) AS aa, array_agg(r.user_id) AS uu
        FROM (SELECT DISTINCT r2.assignment_id, r2.user_id FROM pg_temp.recording_submissions r2
              WHERE r2.inserted AND r2.assignment_id IS NOT NULL) r) x
  WHERE x.aa IS NOT NULL;

  -- The scratch rows go at commit (ON COMMIT DELETE ROWS); a second call in
  -- the same transaction clears them first.
  RETURN QUERY SELECT r.submission_id, r.inserted FROM pg_temp.recording_submissions r ORDER BY r.idx;
END
$$;

-- ---------------------------------------------------------------------
-- Diagnosis: the first problem of documents, without recording them
-- ---------------------------------------------------------------------

-- The first broken rule among the documents' top-level fields, or no row.
CREATE OR REPLACE FUNCTION scoreledger_private.submission_document_errors(docs jsonb, path_prefix text)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM scoreledger_private.ensure_recording_tables();
  PERFORM scoreledger_private.parse_submissions(docs, scoreledger_private.require_tenant());
  RETURN QUERY SELECT * FROM scoreledger_private.first_submission_problem(path_prefix);
END
$$;

-- The first broken rule among the answers of documents whose top-level
-- fields pass, or no row (also when some document's fields do not pass).
CREATE OR REPLACE FUNCTION scoreledger_private.submission_answer_errors(docs jsonb, path_prefix text)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM scoreledger_private.ensure_recording_tables();
  PERFORM scoreledger_private.parse_submissions(docs, scoreledger_private.require_tenant());
  IF EXISTS (SELECT 1 FROM pg_temp.recording_submissions r WHERE r.problem IS NOT NULL) THEN
    RETURN;
  END IF;
  PERFORM scoreledger_private.check_and_score_answers(docs);
  RETURN QUERY SELECT * FROM scoreledger_private.first_submission_problem(path_prefix);
END
$$;

-- Every refused document of a call, each with the first rule it breaks,
-- in the order recording checks them: its fields, then its answers, then a
-- twin of the call with other content, then a stored submission of the
-- same id with other content. Recording raises one of these (the first
-- check that finds any); an importer asks for all of them to set aside
-- the refused documents and record the rest (scoreledger.submission_problems).
-- The same steps and scratch tables as recording, nothing written.
CREATE OR REPLACE FUNCTION scoreledger_private.submission_problems_of(docs jsonb, path_prefix text)
RETURNS TABLE (idx integer, sqlstate text, message text)
LANGUAGE plpgsql VOLATILE
SET work_mem = '64MB'
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(path_prefix, 'document') || ': must be a JSON array');
  END IF;
  IF jsonb_array_length(docs) > scoreledger_private.input_limit('documents_per_call') THEN
    PERFORM scoreledger_private.fail('SL422', format('%s: at most %s documents per call',
      coalesce(path_prefix, 'document'), scoreledger_private.input_limit('documents_per_call')));
  END IF;
  PERFORM scoreledger_private.ensure_recording_tables();
  PERFORM scoreledger_private.parse_submissions(docs, tenant);
  PERFORM scoreledger_private.check_and_score_answers(docs);
  RETURN QUERY
  SELECT DISTINCT ON (p.idx) p.idx, p.problem[1], scoreledger_private.problem_message(p.entry, p.problem)
  FROM (
    SELECT 0 AS rank, r.idx, r.problem, format('%s[%s]', path_prefix, r.idx) AS entry
    FROM pg_temp.recording_submissions r WHERE r.problem IS NOT NULL
    UNION ALL
    SELECT 1, a.idx, a.problem, format('%s[%s].answers[%s]', path_prefix, a.idx, a.answer_idx)
    FROM pg_temp.recording_answers a WHERE a.problem IS NOT NULL
    UNION ALL
    -- A twin of the call with other content than its first occurrence.
    SELECT 2, t.idx, scoreledger_private.problem('SL422', 'submission_id', format(
             'submission %s is also %s[%s] (the same evaluation_version_id, user_id and submitted_at) with different content',
             t.submission_id, path_prefix, t.first_idx)), format('%s[%s]', path_prefix, t.idx)
    FROM scoreledger_private.differing_twins() t
    UNION ALL
    SELECT 3, c.idx, scoreledger_private.problem('SL423', 'submission_id', format(
             'submission %s is already recorded with other content; raw answers are immutable', c.submission_id)),
           format('%s[%s]', path_prefix, c.idx)
    FROM scoreledger_private.changed_rerecordings(tenant) c
  ) p
  ORDER BY p.idx, p.rank;
END
$$;

-- ---------------------------------------------------------------------
-- API
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.record_submission(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  recorded_id uuid;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.record_submission');
  SELECT r.submission_id INTO recorded_id
  FROM scoreledger_private.record_documents(jsonb_build_array(doc), NULL, 'scoreledger.record_submission') r;
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
  SELECT scoreledger_private.begin_writing_call('scoreledger.record_submissions');
  SELECT count(*) FILTER (WHERE r.recorded)::integer
  FROM scoreledger_private.record_documents(docs, 'submissions', 'scoreledger.record_submissions') r
$$;
COMMENT ON FUNCTION scoreledger.record_submissions(jsonb) IS
  'Records a JSON array of submission documents in one set-based pass (all or nothing). Returns how many were newly recorded; identical re-recordings (and identical documents of one call deriving the same id) are no-ops. Needs READ COMMITTED (SL409 otherwise).';
GRANT EXECUTE ON FUNCTION scoreledger.record_submissions(jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.submission_problems(docs jsonb)
RETURNS TABLE (idx integer, sqlstate text, message text)
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
  -- Recording's scratch tables and snapshot rules: the same level recording needs.
  SELECT scoreledger_private.require_read_committed('scoreledger.submission_problems');
  SELECT * FROM scoreledger_private.submission_problems_of(docs, 'submissions')
$$;
COMMENT ON FUNCTION scoreledger.submission_problems(jsonb) IS
  'Every document of a JSON array that record_submissions would refuse, with the first rule it breaks (idx from 0, SQLSTATE, message naming the entry as record_submissions does). Writes nothing. Lets an importer set aside the refused documents and record the rest. Needs READ COMMITTED (SL409 otherwise), as recording does.';
GRANT EXECUTE ON FUNCTION scoreledger.submission_problems(jsonb) TO scoreledger_app;
