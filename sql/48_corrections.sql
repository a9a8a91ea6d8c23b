-- =====================================================================
-- Corrections documents: their shorthand forms expanded and every entry
-- validated in one set-based pass, then stored as rows of their batch.
-- Used by create_correction_batch (sql/50_remediation.sql) and
-- update_correction_batch (sql/65_governance.sql). Their guards: rows
-- change only while their batch is editable, and whoever changes them is
-- recorded as one of the batch's payload editors (who may not approve it).
-- =====================================================================

-- The targets of a corrections document, with its shorthand forms
-- expanded (contract section 12), in one set-based pass that raises
-- nothing: a JSON array of {n: the entry's index, t: the target's number
-- within it, form, expanded, matched, e: the entry}. An entry without
-- evaluation_version_id (form "versions") becomes one concrete entry per
-- evaluation version of the tenant containing its question version; a
-- drop_item or mark_correct with a "tag" (form "tag") one per item
-- carrying the tag; in publication order, then item position. An entry
-- whose expansion is not well defined (a malformed tag, a tag beside ids,
-- a scoped mark_correct) or that matches nothing stays as written, for
-- the rules to name; every other entry is its own target. At most one
-- element over the corrections_per_batch bound is returned: beyond it the
-- document is refused whole, and the expansion of a tag carried by many
-- items stops there.
CREATE OR REPLACE FUNCTION scoreledger_private.correction_targets(corrections jsonb)
RETURNS jsonb
LANGUAGE sql STABLE
AS $$
  WITH entries AS MATERIALIZED (
    SELECT (x.n - 1)::integer AS entry_no, x.e,
           CASE WHEN jsonb_typeof(x.e) <> 'object' THEN NULL
                WHEN x.e ? 'tag' THEN 'tag'
                WHEN nullif(x.e->'evaluation_version_id', 'null') IS NULL THEN 'versions' END AS form
    FROM jsonb_array_elements(corrections) WITH ORDINALITY x(e, n)
  ), expandable AS MATERIALIZED (
    SELECT en.entry_no, en.form,
           CASE WHEN en.form = 'tag' THEN en.e->>'tag' END AS tag,
           CASE WHEN en.form = 'versions' THEN (en.e->>'question_version_id')::uuid END AS question_id
    FROM entries en
    WHERE nullif(en.e->'submission_ids', 'null') IS NULL
      AND ((en.form = 'tag' AND en.e->>'type' IN ('drop_item', 'mark_correct')
            AND scoreledger_private.field_problem(en.e->'tag', 'tag') IS NULL
            AND nullif(en.e->'evaluation_version_id', 'null') IS NULL AND nullif(en.e->'question_version_id', 'null') IS NULL)
        OR (en.form = 'versions' AND scoreledger_private.field_problem(en.e->'question_version_id', 'uuid') IS NULL))
  ), matched AS (
    SELECT m.entry_no, m.evaluation_version_id, m.question_version_id,
           row_number() OVER (PARTITION BY m.entry_no ORDER BY v.created_at, v.evaluation_version_id, m.position) AS target_no
    FROM (SELECT x.entry_no, i.evaluation_version_id, i.question_version_id, i.position
          FROM expandable x
          JOIN scoreledger_private.items i
            ON i.tenant_id = (SELECT scoreledger.current_tenant()) AND x.form = 'tag' AND i.tags @> ARRAY[x.tag]
          UNION ALL
          SELECT x.entry_no, i.evaluation_version_id, i.question_version_id, i.position
          FROM expandable x
          JOIN scoreledger_private.items i
            ON i.tenant_id = (SELECT scoreledger.current_tenant()) AND x.form = 'versions' AND i.question_version_id = x.question_id) m
    JOIN scoreledger_private.evaluation_versions v
      ON v.tenant_id = (SELECT scoreledger.current_tenant()) AND v.evaluation_version_id = m.evaluation_version_id
  )
  SELECT coalesce(jsonb_agg(t.target ORDER BY t.entry_no, t.target_no), '[]')
  FROM (
    SELECT en.entry_no, coalesce(m.target_no, 0) AS target_no,
           jsonb_build_object('n', en.entry_no, 't', coalesce(m.target_no, 0), 'form', en.form,
             'expanded', x.entry_no IS NOT NULL, 'matched', m.entry_no IS NOT NULL,
             'e', CASE WHEN m.entry_no IS NULL THEN en.e
                       ELSE (en.e - 'tag') || jsonb_build_object('evaluation_version_id', m.evaluation_version_id,
                                                                 'question_version_id', m.question_version_id) END) AS target
    FROM entries en
    LEFT JOIN expandable x ON x.entry_no = en.entry_no
    LEFT JOIN matched m ON m.entry_no = en.entry_no
    ORDER BY 1, 2
    LIMIT scoreledger_private.input_limit('corrections_per_batch') + 1
  ) t
$$;

-- Every problem of a document's targets (correction_targets), in one
-- set-based pass: a row per failing (entry, rule), with the SQLSTATE the
-- rule carries and its message naming the entry as written (0-based). A
-- rule is evaluated only where the rules before it let it be (ids parse,
-- the item exists); the caller raises the first row in document order, so
-- the numbering of rules is the order in which an entry's problems are
-- reported. An expanded entry is checked target by target, like the
-- concrete entries it stands for. Over 80 lines: one statement, whose
-- rules read best side by side.
CREATE OR REPLACE FUNCTION scoreledger_private.correction_target_problems(targets jsonb)
RETURNS TABLE (entry_no integer, rule_no integer, item_no integer, sqlstate text, message text)
LANGUAGE sql STABLE
AS $$
  WITH entries AS MATERIALIZED (
    SELECT (x.t->>'n')::integer AS entry_no, (x.t->>'t')::integer AS target_no, x.t->'e' AS e, x.t->>'form' AS form,
           (x.t->'expanded')::boolean AS expanded, (x.t->'matched')::boolean AS matched,
           format('corrections[%s]', x.t->>'n') AS path,
           scoreledger_private.field_problem(x.t->'e'->'type', 'text') AS type_problem,
           scoreledger_private.field_problem(x.t->'e'->'evaluation_version_id', 'uuid', false) AS version_problem,
           CASE WHEN x.t->>'form' IS DISTINCT FROM 'tag'
                THEN scoreledger_private.field_problem(x.t->'e'->'question_version_id', 'uuid') END AS question_problem
    FROM jsonb_array_elements(targets) x(t)
    WHERE jsonb_typeof(x.t->'e') = 'object'
  ), typed AS MATERIALIZED (
    SELECT en.*,
           CASE WHEN en.type_problem IS NULL AND en.e->>'type' IN ('replace_key', 'drop_item', 'mark_correct')
                THEN en.e->>'type' END AS known_type,
           CASE WHEN en.version_problem IS NULL THEN (en.e->>'evaluation_version_id')::uuid END AS version_id,
           CASE WHEN en.question_problem IS NULL THEN (en.e->>'question_version_id')::uuid END AS question_id
    FROM entries en
  ), targets AS MATERIALIZED (
    SELECT t.*, v.evaluation_version_id IS NOT NULL AS version_exists, q.options,
           row_number() OVER (PARTITION BY t.known_type, t.version_id, t.question_id ORDER BY t.entry_no, t.target_no) AS occurrence
    FROM typed t
    LEFT JOIN scoreledger_private.evaluation_versions v
      ON v.tenant_id = (SELECT scoreledger.current_tenant()) AND v.evaluation_version_id = t.version_id
    LEFT JOIN scoreledger_private.items i
      ON i.tenant_id = (SELECT scoreledger.current_tenant()) AND i.evaluation_version_id = t.version_id AND i.question_version_id = t.question_id
    LEFT JOIN scoreledger_private.question_versions q
      ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id
  ), ids AS (
    -- Scoped mark_correct: every listed id, once, with what it refers to.
    SELECT t.entry_no, t.path, t.version_id, t.question_id, (y.n - 1)::integer AS id_no, y.e AS id,
           CASE WHEN jsonb_typeof(y.e) = 'string' AND scoreledger_private.is_uuid(y.e #>> '{}')
                THEN (y.e #>> '{}')::uuid END AS submission_id,
           row_number() OVER (PARTITION BY t.entry_no, lower(y.e #>> '{}') ORDER BY y.n) AS occurrence
    FROM targets t
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN t.known_type = 'mark_correct' AND t.options IS NOT NULL
                                                   AND jsonb_typeof(t.e->'submission_ids') = 'array'
                                                 THEN t.e->'submission_ids' ELSE '[]' END) WITH ORDINALITY y(e, n)
  )
  SELECT (x.t->>'n')::integer, 1, 0, 'SL422', format('corrections[%s]: must be a JSON object', x.t->>'n')
  FROM jsonb_array_elements(targets) x(t)
  WHERE jsonb_typeof(x.t->'e') <> 'object'
  UNION ALL
  SELECT t.entry_no, r.rule_no, 0, r.sqlstate, r.message
  FROM targets t
  CROSS JOIN LATERAL (VALUES
    (2, 'SL422', t.path || '.type: ' || t.type_problem),
    (3, 'SL422', CASE WHEN t.type_problem IS NULL AND t.known_type IS NULL THEN format(
       '%s.type: unknown type %s (expected replace_key, drop_item or mark_correct)', t.path, t.e->'type') END),
    (4, 'SL422', CASE WHEN t.form = 'tag' AND t.known_type = 'replace_key' THEN
       t.path || '.tag: only drop_item and mark_correct target a tag (a replace_key names its question_version_id)' END),
    (5, 'SL422', scoreledger_private.unknown_field_problem(t.e, t.path, CASE t.known_type
       WHEN 'replace_key' THEN ARRAY['type', 'evaluation_version_id', 'question_version_id', 'correct']
       WHEN 'drop_item' THEN ARRAY['type', 'evaluation_version_id', 'question_version_id', 'tag']
       WHEN 'mark_correct' THEN ARRAY['type', 'evaluation_version_id', 'question_version_id', 'tag', 'submission_ids'] END)),
    (6, 'SL422', CASE WHEN t.form = 'tag' AND NOT t.matched
                       AND (nullif(t.e->'evaluation_version_id', 'null') IS NOT NULL OR nullif(t.e->'question_version_id', 'null') IS NOT NULL)
       THEN t.path || ': give either a tag or evaluation_version_id and question_version_id, not both' END),
    (7, 'SL422', CASE WHEN t.form = 'tag' AND NOT t.matched THEN t.path || '.tag: ' || scoreledger_private.field_problem(t.e->'tag', 'tag') END),
    (8, 'SL422', CASE WHEN t.form IS NOT NULL AND NOT t.matched AND t.known_type = 'mark_correct'
                       AND nullif(t.e->'submission_ids', 'null') IS NOT NULL
       THEN t.path || '.submission_ids: a scoped mark_correct names its evaluation_version_id and question_version_id' END),
    (9, 'SL422', t.path || '.evaluation_version_id: ' || t.version_problem),
    (10, 'SL422', t.path || '.question_version_id: ' || t.question_problem),
    (11, 'SL422', CASE WHEN t.form = 'tag' AND t.expanded AND NOT t.matched THEN format(
       '%s.tag: no item of an evaluation version carries tag %s', t.path, t.e->'tag') END),
    (12, 'SL422', CASE WHEN t.form = 'versions' AND t.expanded AND NOT t.matched THEN format(
       '%s.question_version_id: %s is not an item of any evaluation version', t.path, t.question_id) END),
    (13, 'SL422', CASE WHEN t.version_id IS NOT NULL AND NOT t.version_exists THEN format(
       '%s.evaluation_version_id: evaluation version %s does not exist', t.path, t.version_id) END),
    (14, 'SL422', CASE WHEN t.version_exists AND t.question_id IS NOT NULL AND t.options IS NULL THEN format(
       '%s.question_version_id: %s is not an item of evaluation version %s', t.path, t.question_id, t.version_id) END),
    (15, 'SL422', CASE WHEN t.known_type IS NOT NULL AND t.options IS NOT NULL AND t.occurrence > 1 THEN format(
       '%s: a second %s for the same item (question version %s%s)', t.path, t.known_type, t.question_id,
       CASE WHEN t.matched THEN ' in evaluation version ' || t.version_id END) END),
    (16, 'SL422', CASE WHEN t.known_type = 'replace_key' THEN
       t.path || '.correct: ' || scoreledger_private.field_problem(t.e->'correct', 'string_set') END),
    (17, 'SL422', CASE WHEN t.known_type = 'replace_key' AND jsonb_typeof(t.e->'correct') = 'array'
                         AND jsonb_array_length(t.e->'correct') = 0 THEN t.path || '.correct: must name at least one option' END),
    (18, 'SL422', CASE WHEN t.known_type = 'replace_key' AND t.options IS NOT NULL
                         AND scoreledger_private.field_problem(t.e->'correct', 'string_set') IS NULL THEN (
       SELECT format('%s.correct: %s is not an option of question version %s', t.path, c.e, t.question_id)
       FROM jsonb_array_elements(t.e->'correct') WITH ORDINALITY c(e, n)
       WHERE c.e #>> '{}' <> ALL (t.options) ORDER BY c.n LIMIT 1) END),
    (19, 'SL422', CASE WHEN t.known_type = 'mark_correct' AND t.e->'submission_ids' <> 'null'
                         AND (jsonb_typeof(t.e->'submission_ids') <> 'array' OR jsonb_array_length(t.e->'submission_ids') = 0)
       THEN t.path || '.submission_ids: must be a non-empty array of submission ids (omit it for everyone)'
       WHEN t.known_type = 'mark_correct' AND jsonb_typeof(t.e->'submission_ids') = 'array'
            AND jsonb_array_length(t.e->'submission_ids') > scoreledger_private.input_limit('ids_per_correction')
       THEN format('%s.submission_ids: at most %s submission ids per entry', t.path,
                   scoreledger_private.input_limit('ids_per_correction')) END)
  ) r(rule_no, sqlstate, message)
  WHERE r.message IS NOT NULL
  UNION ALL
  SELECT i.entry_no, 20, i.id_no, 'SL422', format('%s.submission_ids[%s]: ', i.path, i.id_no) || CASE
           WHEN i.submission_id IS NULL THEN 'must be a uuid string'
           WHEN i.occurrence > 1 THEN format('%s is listed twice', i.id #>> '{}')
           WHEN s.submission_id IS NULL THEN format('submission %s does not exist', i.id #>> '{}')
           WHEN s.evaluation_version_id <> i.version_id
             THEN format('submission %s is not of evaluation version %s', i.id #>> '{}', i.version_id)
           ELSE format('submission %s does not contain question version %s', i.id #>> '{}', i.question_id) END
  FROM ids i
  LEFT JOIN scoreledger_private.submissions s
    ON s.tenant_id = (SELECT scoreledger.current_tenant()) AND s.submission_id = i.submission_id
  LEFT JOIN scoreledger_private.answers a
    ON a.tenant_id = s.tenant_id AND a.submission_no = s.submission_no AND a.question_version_id = i.question_id
  WHERE i.submission_id IS NULL OR i.occurrence > 1 OR s.submission_id IS NULL
     OR s.evaluation_version_id <> i.version_id OR a.question_version_id IS NULL
$$;

-- The stored form of a corrections document, whole or nothing: every
-- shorthand expanded once (correction_targets), then every target checked
-- (correction_target_problems); the first problem in document order is
-- raised (SL422 naming the entry as written), else the concrete entries
-- are returned, in document order. The one path of create and edit, so a
-- batch's payload is always what apply, preview and revert read.
CREATE OR REPLACE FUNCTION scoreledger_private.expand_corrections(corrections jsonb)
RETURNS jsonb
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  targets jsonb;
  problem record;
BEGIN
  PERFORM scoreledger_private.require_tenant();
  IF corrections IS NULL OR jsonb_typeof(corrections) <> 'array' OR jsonb_array_length(corrections) = 0 THEN
    PERFORM scoreledger_private.fail('SL422', 'corrections: must be a non-empty JSON array');
  END IF;
  IF jsonb_array_length(corrections) > scoreledger_private.input_limit('corrections_per_batch') THEN
    PERFORM scoreledger_private.fail('SL422', format('corrections: at most %s corrections per batch',
                                                     scoreledger_private.input_limit('corrections_per_batch')));
  END IF;
  targets := scoreledger_private.correction_targets(corrections);
  IF jsonb_array_length(targets) > scoreledger_private.input_limit('corrections_per_batch') THEN
    PERFORM scoreledger_private.fail('SL422', format(
      'corrections: the entries expand to more than %s corrections (at most %s per batch); split the batch',
      scoreledger_private.input_limit('corrections_per_batch'), scoreledger_private.input_limit('corrections_per_batch')));
  END IF;
  SELECT p.sqlstate, p.message INTO problem FROM scoreledger_private.correction_target_problems(targets) p
  ORDER BY p.entry_no, p.rule_no, p.item_no, p.message LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
  END IF;
  RETURN (SELECT jsonb_agg(x.t->'e' ORDER BY x.n) FROM jsonb_array_elements(targets) WITH ORDINALITY x(t, n));
END
$$;

-- Stores a corrections document as expand_corrections returns it (concrete
-- entries only) as rows of `batch_id`.
CREATE OR REPLACE FUNCTION scoreledger_private.store_corrections(batch_id uuid, corrections jsonb)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  WITH entries AS (
    SELECT (x.n - 1)::int AS ordinal, x.e,
           (x.e->>'evaluation_version_id')::uuid AS version_id, (x.e->>'question_version_id')::uuid AS question_id
    FROM jsonb_array_elements(corrections) WITH ORDINALITY x(e, n)
  ), stored AS (
    INSERT INTO scoreledger_private.corrections
      (tenant_id, batch_id, ordinal, correction_type, evaluation_version_id, question_version_id, correct, correct_mask, scoped)
    SELECT scoreledger.current_tenant(), store_corrections.batch_id, en.ordinal, en.e->>'type', en.version_id, en.question_id,
           k.correct, CASE WHEN k.correct IS NOT NULL THEN scoreledger_private.option_mask(q.options, k.correct) END,
           en.e->>'type' = 'mark_correct' AND jsonb_typeof(en.e->'submission_ids') IS NOT DISTINCT FROM 'array'
    FROM entries en
    JOIN scoreledger_private.question_versions q
      ON q.tenant_id = (SELECT scoreledger.current_tenant()) AND q.question_version_id = en.question_id
    LEFT JOIN LATERAL (SELECT array_agg(c ORDER BY m) AS correct
                       FROM jsonb_array_elements_text(en.e->'correct') WITH ORDINALITY y(c, m)
                       WHERE en.e->>'type' = 'replace_key') k ON true
    RETURNING ordinal
  )
  INSERT INTO scoreledger_private.correction_submissions (tenant_id, batch_id, ordinal, submission_id)
  SELECT scoreledger.current_tenant(), store_corrections.batch_id, en.ordinal, s::uuid
  FROM entries en
  JOIN stored ON stored.ordinal = en.ordinal
  CROSS JOIN LATERAL jsonb_array_elements_text(en.e->'submission_ids') s
  WHERE en.e->>'type' = 'mark_correct' AND jsonb_typeof(en.e->'submission_ids') = 'array'
$$;

-- ---------------------------------------------------------------------
-- Guards of the stored corrections
-- ---------------------------------------------------------------------

-- `editors` with the current actor added (once): who changes a batch's
-- corrections is on record, so an edit without an actor is refused.
CREATE OR REPLACE FUNCTION scoreledger_private.with_payload_editor(editors uuid[])
RETURNS uuid[]
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  actor uuid := scoreledger.current_actor();
BEGIN
  IF actor IS NULL THEN
    PERFORM scoreledger_private.fail('SL401',
      'no actor: a batch''s corrections are changed only by a known user (set_context(tenant_id, actor_id))');
  END IF;
  RETURN CASE WHEN actor = ANY (editors) THEN editors ELSE editors || actor END;
END
$$;

-- Corrections are added, changed or removed only while their batch is
-- editable (for the owner's plain INSERT too: an applied batch's effect
-- never changes under an unchanged payload), and whoever does it joins the
-- batch's payload editors. One statement-level pass over the rows touched
-- (a scoped mark_correct may list 100,000 submissions).
CREATE OR REPLACE FUNCTION scoreledger_private.corrections_changed(batches uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  frozen record;
BEGIN
  IF batches IS NULL THEN
    RETURN;
  END IF;
  SELECT b.batch_id, b.status INTO frozen
  FROM scoreledger_private.correction_batches b
  JOIN scoreledger_private.workflow_statuses s ON s.machine = 'batch' AND s.status = b.status
  WHERE b.tenant_id = (SELECT scoreledger.current_tenant()) AND b.batch_id = ANY (batches) AND NOT s.editable
  ORDER BY b.batch_id LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail('SL423', format('the corrections of %s batch %s are immutable', frozen.status, frozen.batch_id));
  END IF;
  UPDATE scoreledger_private.correction_batches b
     SET payload_editors = scoreledger_private.with_payload_editor(b.payload_editors)
   WHERE b.tenant_id = (SELECT scoreledger.current_tenant()) AND b.batch_id = ANY (batches)
     AND b.payload_editors IS DISTINCT FROM scoreledger_private.with_payload_editor(b.payload_editors);
END
$$;

-- Rows added or removed (the transition table of an INSERT or a DELETE).
CREATE OR REPLACE FUNCTION scoreledger_private.tg_corrections__editable_only()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.corrections_changed((SELECT array_agg(DISTINCT r.batch_id) FROM changed_rows r));
  RETURN NULL;
END
$$;

-- Rows changed: the batches they left and the batches they joined.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_corrections__edited_while_editable()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.corrections_changed((
    SELECT array_agg(DISTINCT x.batch_id)
    FROM (SELECT r.batch_id FROM changed_rows r UNION ALL SELECT o.batch_id FROM old_rows o) x));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER corrections_added_while_editable AFTER INSERT ON scoreledger_private.corrections
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__editable_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.corrections', 'corrections_added_while_editable',
  'corrections are added only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER corrections_changed_while_editable AFTER UPDATE ON scoreledger_private.corrections
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__edited_while_editable();
SELECT scoreledger_private.declare_guard('scoreledger_private.corrections', 'corrections_changed_while_editable',
  'corrections change only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER corrections_removed_while_editable AFTER DELETE ON scoreledger_private.corrections
  REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__editable_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.corrections', 'corrections_removed_while_editable',
  'corrections are removed only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER corrections_never_truncated BEFORE TRUNCATE ON scoreledger_private.corrections
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.corrections', 'corrections_never_truncated',
  'corrections are never truncated');
CREATE OR REPLACE TRIGGER correction_submissions_added_while_editable AFTER INSERT ON scoreledger_private.correction_submissions
  REFERENCING NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__editable_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_submissions', 'correction_submissions_added_while_editable',
  'scoped submissions are added only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER correction_submissions_changed_while_editable AFTER UPDATE ON scoreledger_private.correction_submissions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__edited_while_editable();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_submissions', 'correction_submissions_changed_while_editable',
  'scoped submissions change only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER correction_submissions_removed_while_editable AFTER DELETE ON scoreledger_private.correction_submissions
  REFERENCING OLD TABLE AS changed_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_corrections__editable_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_submissions', 'correction_submissions_removed_while_editable',
  'scoped submissions are removed only while their batch is editable, by a recorded editor');
CREATE OR REPLACE TRIGGER correction_submissions_never_truncated BEFORE TRUNCATE ON scoreledger_private.correction_submissions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_submissions', 'correction_submissions_never_truncated',
  'scoped submissions are never truncated');
