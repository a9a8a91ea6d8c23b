-- =====================================================================
-- Content: evaluations, immutable evaluation and question versions, their
-- items, and assignments.
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluations');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluation_versions');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.question_versions');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.items');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.assignments');

-- Published content never changes: a fix is a new version (or a
-- correction batch), so the past stays explainable.
CREATE OR REPLACE TRIGGER evaluation_version_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.evaluation_versions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluation_versions', 'evaluation_version_immutable',
  'published evaluation versions never change');
CREATE OR REPLACE TRIGGER evaluation_version_never_truncated BEFORE TRUNCATE ON scoreledger_private.evaluation_versions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluation_versions', 'evaluation_version_never_truncated',
  'published evaluation versions are never truncated');
CREATE OR REPLACE TRIGGER question_version_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.question_versions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.question_versions', 'question_version_immutable',
  'published question versions never change');
CREATE OR REPLACE TRIGGER question_version_never_truncated BEFORE TRUNCATE ON scoreledger_private.question_versions
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.question_versions', 'question_version_never_truncated',
  'published question versions are never truncated');
CREATE OR REPLACE TRIGGER item_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.items
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.items', 'item_immutable',
  'published items never change');
CREATE OR REPLACE TRIGGER item_never_truncated BEFORE TRUNCATE ON scoreledger_private.items
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.items', 'item_never_truncated',
  'published items are never truncated');

-- Submissions name their assignment (checked per statement, not by a
-- foreign key): an assignment is never deleted.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_assignments__never_deleted()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423', format('assignments are never deleted (%s refused)', lower(TG_OP)));
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER assignment_never_deleted BEFORE DELETE ON scoreledger_private.assignments
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_assignments__never_deleted();
SELECT scoreledger_private.declare_guard('scoreledger_private.assignments', 'assignment_never_deleted',
  'assignments are never deleted (submissions name them)');
CREATE OR REPLACE TRIGGER assignment_never_truncated BEFORE TRUNCATE ON scoreledger_private.assignments
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_assignments__never_deleted();
SELECT scoreledger_private.declare_guard('scoreledger_private.assignments', 'assignment_never_truncated',
  'assignments are never truncated');

-- A published version's items arrive with it, all at once: an item added
-- later would change what learners were examined on.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_items__complete_at_publication()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (
      SELECT 1
      FROM (SELECT DISTINCT n.tenant_id, n.evaluation_version_id FROM new_rows n) touched
      JOIN scoreledger_private.evaluation_versions v
        ON v.tenant_id = touched.tenant_id AND v.evaluation_version_id = touched.evaluation_version_id
      WHERE jsonb_array_length(v.document->'items') <> (
        SELECT count(*) FROM scoreledger_private.items i
        WHERE i.tenant_id = v.tenant_id AND i.evaluation_version_id = v.evaluation_version_id)) THEN
    PERFORM scoreledger_private.fail('SL423', 'a published evaluation version''s items are immutable; publish a new version');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER items_complete_at_publication AFTER INSERT ON scoreledger_private.items
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_items__complete_at_publication();
SELECT scoreledger_private.declare_guard('scoreledger_private.items', 'items_complete_at_publication',
  'an evaluation version gets all its items at publication, none later');

-- ---------------------------------------------------------------------
-- Field rules as data: the problem with one field, or null, without
-- raising, so a whole document is checked in one set-based pass and the
-- first problem in document order is raised. Same rules and words as the
-- raising readers doc_uuid, doc_text, doc_number, doc_string_set
-- (sql/00_errors.sql), which read single header fields.
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.field_problem(value jsonb, kind text, required boolean DEFAULT true)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN value IS NULL OR value = 'null'::jsonb THEN CASE WHEN required THEN 'is required' END
    WHEN kind = 'uuid' THEN
      CASE WHEN jsonb_typeof(value) <> 'string' OR NOT scoreledger_private.is_uuid(value #>> '{}') THEN 'must be a uuid string' END
    WHEN kind = 'text' THEN
      CASE WHEN jsonb_typeof(value) <> 'string' OR (value #>> '{}') !~ '\S' THEN 'must be a non-empty string'
           WHEN length(value #>> '{}') > 10000 THEN 'must be at most 10000 characters' END
    WHEN kind = 'number' THEN CASE WHEN jsonb_typeof(value) <> 'number' THEN 'must be a number' END
    WHEN kind = 'string_set' THEN
      CASE WHEN jsonb_typeof(value) <> 'array' THEN 'must be an array of strings'
           WHEN EXISTS (SELECT 1 FROM jsonb_array_elements(value) e WHERE jsonb_typeof(e) <> 'string')
             THEN 'must be an array of strings'
           WHEN jsonb_array_length(value) <> (SELECT count(DISTINCT e) FROM jsonb_array_elements_text(value) e)
             THEN 'lists an option twice'
           WHEN EXISTS (SELECT 1 FROM jsonb_array_elements_text(value) e WHERE e !~ '\S' OR length(e) > 1000)
             THEN 'options must be non-empty strings of at most 1000 characters' END
  END
$$;

-- The first field of `doc` (alphabetically) that is not allowed, as the
-- problem doc_require_object raises; null when every field is known.
CREATE OR REPLACE FUNCTION scoreledger_private.unknown_field_problem(doc jsonb, path text, allowed_keys text[])
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT scoreledger_private.doc_path(path, k) || ': unknown field (expected one of ' || array_to_string(allowed_keys, ', ') || ')'
  FROM jsonb_object_keys(doc) k WHERE k <> ALL (allowed_keys) ORDER BY k LIMIT 1
$$;

-- A JSON array of strings as text[], in order (for values field_problem
-- accepted as a string_set).
CREATE OR REPLACE FUNCTION scoreledger_private.text_array(value jsonb)
RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT array_agg(e ORDER BY n) FROM jsonb_array_elements_text(value) WITH ORDINALITY x(e, n)
$$;

-- Bit i of the mask is options[i + 1]; null when a value is not an option.
CREATE OR REPLACE FUNCTION scoreledger_private.option_mask(options text[], selected text[])
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN bool_and(p IS NOT NULL) IS NOT FALSE
              THEN coalesce(sum(1::bigint << (p - 1)), 0)::bigint END
  FROM unnest(selected) AS s(v)
  LEFT JOIN LATERAL (SELECT array_position(options, s.v) AS p) pos ON true
$$;

CREATE OR REPLACE FUNCTION scoreledger.import_evaluation_version(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
<<fn>>
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  evaluation_id uuid;
  version_id uuid;
  title text;
  version_no integer;
  version_no_given numeric;
  pass_mark numeric;
  item jsonb;
  item_path text;
  item_no integer := 0;
  kind text;
  scoring text;
  options text[];
  correct text[];
  points numeric;
  normalised_items jsonb := '[]';
  normalised jsonb;
  seen_questions uuid[] := '{}';
  question_version_id uuid;
  existing_document jsonb;
  existing_question scoreledger_private.question_versions;
BEGIN
  PERFORM scoreledger_private.doc_require_object(doc, '',
    ARRAY['evaluation_id', 'evaluation_title', 'evaluation_version_id', 'version_no', 'pass_mark', 'items']);
  evaluation_id := scoreledger_private.doc_uuid(doc, 'evaluation_id', '');
  title := scoreledger_private.doc_text(doc, 'evaluation_title', '');
  version_id := scoreledger_private.doc_uuid(doc, 'evaluation_version_id', '', false);
  version_no_given := scoreledger_private.doc_number(doc, 'version_no', '');
  IF version_no_given <> trunc(version_no_given) OR version_no_given NOT BETWEEN 1 AND 2147483647 THEN
    PERFORM scoreledger_private.fail('SL422', 'version_no: must be a positive integer');
  END IF;
  version_no := version_no_given;
  pass_mark := scoreledger_private.doc_number(doc, 'pass_mark', '');
  IF pass_mark < 0 OR pass_mark > 1 THEN
    PERFORM scoreledger_private.fail('SL422', 'pass_mark: must be a fraction between 0 and 1');
  END IF;
  IF jsonb_typeof(doc->'items') IS DISTINCT FROM 'array' OR jsonb_array_length(doc->'items') = 0 THEN
    PERFORM scoreledger_private.fail('SL422', 'items: must be a non-empty array');
  END IF;
  IF jsonb_array_length(doc->'items') > 1000 THEN
    PERFORM scoreledger_private.fail('SL422', 'items: at most 1000 items per evaluation version');
  END IF;

  FOR item IN SELECT e FROM jsonb_array_elements(doc->'items') e LOOP
    item_path := format('items[%s]', item_no);
    PERFORM scoreledger_private.doc_require_object(item, item_path,
      ARRAY['question_id', 'question_version_id', 'kind', 'prompt', 'options', 'correct', 'points', 'scoring']);
    question_version_id := scoreledger_private.doc_uuid(item, 'question_version_id', item_path);
    IF question_version_id = ANY (seen_questions) THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.question_version_id: appears twice in this version');
    END IF;
    seen_questions := seen_questions || question_version_id;
    kind := scoreledger_private.doc_text(item, 'kind', item_path);
    IF kind NOT IN ('single_choice', 'multiple_choice') THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.kind: must be single_choice or multiple_choice');
    END IF;
    scoring := coalesce(scoreledger_private.doc_text(item, 'scoring', item_path, false), 'exact');
    IF scoring NOT IN ('exact', 'partial') THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.scoring: must be exact or partial');
    END IF;
    IF scoring = 'partial' AND kind <> 'multiple_choice' THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.scoring: partial scoring is for multiple_choice items only');
    END IF;
    options := scoreledger_private.doc_string_set(item, 'options', item_path);
    IF cardinality(options) NOT BETWEEN 1 AND 63 THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.options: must list 1 to 63 options');
    END IF;
    correct := scoreledger_private.doc_string_set(item, 'correct', item_path);
    IF cardinality(correct) = 0 THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.correct: must name at least one option');
    END IF;
    IF NOT correct <@ options THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.correct: names an option that is not in options');
    END IF;
    points := coalesce(scoreledger_private.doc_number(item, 'points', item_path, false), 1);
    IF points <= 0 OR points > 1000000 THEN
      PERFORM scoreledger_private.fail('SL422', item_path || '.points: must be a positive number (at most 1000000)');
    END IF;
    normalised_items := normalised_items || jsonb_build_array(jsonb_build_object(
      'question_id', scoreledger_private.doc_uuid(item, 'question_id', item_path),
      'question_version_id', question_version_id,
      'kind', kind,
      'prompt', coalesce(scoreledger_private.doc_text(item, 'prompt', item_path, false), ''),
      'options', to_jsonb(options),
      'correct', to_jsonb(correct),
      'points', points,
      'scoring', scoring));
    item_no := item_no + 1;
  END LOOP;

  IF version_id IS NULL THEN
    SELECT v.evaluation_version_id INTO version_id FROM scoreledger_private.evaluation_versions v
    WHERE v.tenant_id = tenant AND v.evaluation_id = fn.evaluation_id
      AND v.version_no = fn.version_no;
    version_id := coalesce(version_id, gen_random_uuid());
  END IF;

  normalised := jsonb_build_object(
    'evaluation_id', evaluation_id, 'evaluation_title', title, 'evaluation_version_id', version_id,
    'version_no', version_no, 'pass_mark', pass_mark, 'items', normalised_items);

  -- Concurrent importers of one version: the primary key makes the second
  -- wait, then it compares against what the first wrote.
  INSERT INTO scoreledger_private.evaluations (tenant_id, evaluation_id, title)
  VALUES (tenant, evaluation_id, title)
  ON CONFLICT ON CONSTRAINT evaluations_pkey DO NOTHING;

  SELECT v.document INTO existing_document FROM scoreledger_private.evaluation_versions v
  WHERE v.tenant_id = tenant AND (v.evaluation_version_id = version_id
     OR (v.evaluation_id = fn.evaluation_id AND v.version_no = fn.version_no));
  IF existing_document IS NOT NULL THEN
    IF existing_document = normalised THEN
      RETURN version_id;
    END IF;
    PERFORM scoreledger_private.fail('SL423', format(
      'evaluation version %s (evaluation %s, version_no %s) already exists with different content; publish a new version_no',
      version_id, evaluation_id, version_no));
  END IF;

  -- Question versions may be shared by several evaluation versions, but a
  -- question version id always means the same content.
  item_no := 0;
  FOR item IN SELECT e FROM jsonb_array_elements(normalised_items) e LOOP
    SELECT * INTO existing_question FROM scoreledger_private.question_versions q
    WHERE q.tenant_id = tenant AND q.question_version_id = (item->>'question_version_id')::uuid;
    IF existing_question.question_version_id IS NULL THEN
      INSERT INTO scoreledger_private.question_versions
        (tenant_id, question_version_id, question_id, kind, prompt, options, correct, correct_mask, points, scoring)
      SELECT tenant, (item->>'question_version_id')::uuid, (item->>'question_id')::uuid, item->>'kind', item->>'prompt',
             o.options, c.correct, scoreledger_private.option_mask(o.options, c.correct), (item->>'points')::numeric, item->>'scoring'
      FROM (SELECT array_agg(x ORDER BY n) AS options FROM jsonb_array_elements_text(item->'options') WITH ORDINALITY a(x, n)) o,
           (SELECT array_agg(x ORDER BY n) AS correct FROM jsonb_array_elements_text(item->'correct') WITH ORDINALITY a(x, n)) c;
    ELSIF jsonb_build_object(
        'question_id', existing_question.question_id, 'question_version_id', existing_question.question_version_id,
        'kind', existing_question.kind, 'prompt', existing_question.prompt,
        'options', to_jsonb(existing_question.options), 'correct', to_jsonb(existing_question.correct),
        'points', existing_question.points, 'scoring', existing_question.scoring) <> item THEN
      PERFORM scoreledger_private.fail('SL423', format(
        'items[%s].question_version_id: question version %s already exists with different content',
        item_no, item->>'question_version_id'));
    END IF;
    item_no := item_no + 1;
  END LOOP;

  INSERT INTO scoreledger_private.evaluation_versions
    (tenant_id, evaluation_version_id, evaluation_id, version_no, title, pass_mark, document)
  VALUES (tenant, version_id, evaluation_id, version_no, title, pass_mark, normalised);

  INSERT INTO scoreledger_private.items (tenant_id, evaluation_version_id, question_version_id, position)
  SELECT tenant, version_id, (e->>'question_version_id')::uuid, n
  FROM jsonb_array_elements(normalised_items) WITH ORDINALITY a(e, n);

  -- The evaluation carries the title of its latest version.
  UPDATE scoreledger_private.evaluations e SET title = fn.title
  WHERE e.tenant_id = tenant AND e.evaluation_id = fn.evaluation_id
    AND e.title <> fn.title;

  RETURN version_id;
END
$$;
COMMENT ON FUNCTION scoreledger.import_evaluation_version(jsonb) IS
  'Publishes an immutable evaluation version with its question versions. Re-importing the same document is a no-op; different content under an existing id raises SL423.';
GRANT EXECUTE ON FUNCTION scoreledger.import_evaluation_version(jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.upsert_assignment(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
<<fn>>
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  assignment_id uuid;
  evaluation_id uuid;
  title text;
  programme text;
  attempt_policy text;
  current_evaluation uuid;
BEGIN
  PERFORM scoreledger_private.doc_require_object(doc, '',
    ARRAY['assignment_id', 'title', 'evaluation_id', 'programme', 'attempt_policy']);
  assignment_id := scoreledger_private.doc_uuid(doc, 'assignment_id', '');
  title := scoreledger_private.doc_text(doc, 'title', '');
  evaluation_id := scoreledger_private.doc_uuid(doc, 'evaluation_id', '');
  programme := scoreledger_private.doc_text(doc, 'programme', '', false);
  attempt_policy := coalesce(scoreledger_private.doc_text(doc, 'attempt_policy', '', false), 'highest');
  IF attempt_policy NOT IN ('highest', 'latest', 'first') THEN
    PERFORM scoreledger_private.fail('SL422', 'attempt_policy: must be highest, latest or first');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.evaluations e
                 WHERE e.tenant_id = tenant AND e.evaluation_id = fn.evaluation_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('evaluation_id: evaluation %s does not exist', evaluation_id));
  END IF;

  SELECT a.evaluation_id INTO current_evaluation FROM scoreledger_private.assignments a
  WHERE a.tenant_id = tenant AND a.assignment_id = fn.assignment_id
  FOR UPDATE;
  IF current_evaluation IS NOT NULL AND current_evaluation <> evaluation_id
     AND EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                 WHERE s.tenant_id = tenant AND s.assignment_id = fn.assignment_id) THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'assignment %s already has submissions for evaluation %s; its evaluation cannot change', assignment_id, current_evaluation));
  END IF;

  INSERT INTO scoreledger_private.assignments AS a
    (tenant_id, assignment_id, title, evaluation_id, programme, attempt_policy)
  VALUES (tenant, assignment_id, title, evaluation_id, programme, attempt_policy)
  ON CONFLICT (tenant_id, assignment_id) DO UPDATE
    SET title = excluded.title, evaluation_id = excluded.evaluation_id, programme = excluded.programme,
        attempt_policy = excluded.attempt_policy, updated_at = now()
    WHERE (a.title, a.evaluation_id, a.programme, a.attempt_policy)
          IS DISTINCT FROM (excluded.title, excluded.evaluation_id, excluded.programme, excluded.attempt_policy);
  RETURN assignment_id;
END
$$;
COMMENT ON FUNCTION scoreledger.upsert_assignment(jsonb) IS
  'Creates or updates an assignment of an evaluation with its attempt policy (highest, latest, first).';
GRANT EXECUTE ON FUNCTION scoreledger.upsert_assignment(jsonb) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.evaluation_versions AS
  SELECT v.evaluation_version_id, v.evaluation_id, v.title, v.version_no, v.pass_mark,
         (SELECT count(*) FROM scoreledger_private.items i
           WHERE i.tenant_id = v.tenant_id AND i.evaluation_version_id = v.evaluation_version_id) AS item_count,
         v.created_at
  FROM scoreledger_private.evaluation_versions v;
COMMENT ON VIEW scoreledger.evaluation_versions IS 'Published evaluation versions of the current tenant.';
GRANT SELECT ON scoreledger.evaluation_versions TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.items AS
  SELECT i.evaluation_version_id, i.question_version_id, q.question_id, i.position, q.kind, q.prompt,
         q.options, q.correct, q.points, q.scoring
  FROM scoreledger_private.items i
  JOIN scoreledger_private.question_versions q
    ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id;
COMMENT ON VIEW scoreledger.items IS
  'Items of every evaluation version with their question version as published (original key).';
GRANT SELECT ON scoreledger.items TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.assignments AS
  SELECT a.assignment_id, a.title, a.evaluation_id, a.programme, a.attempt_policy, a.created_at, a.updated_at
  FROM scoreledger_private.assignments a;
COMMENT ON VIEW scoreledger.assignments IS 'Assignments of the current tenant.';
GRANT SELECT ON scoreledger.assignments TO scoreledger_app;
