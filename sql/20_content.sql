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

-- ---------------------------------------------------------------------
-- Publishing an evaluation version: read the header, find every item's
-- problems in one pass, normalise, then publish (insert) — each a step.
-- ---------------------------------------------------------------------

-- The header of an evaluation document, checked field by field (one
-- object: no loop), and the shape of its items list.
CREATE OR REPLACE FUNCTION scoreledger_private.read_evaluation_header(doc jsonb,
  OUT evaluation_id uuid, OUT title text, OUT version_id uuid, OUT version_no integer, OUT pass_mark numeric)
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  version_no_given numeric;
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
  IF jsonb_array_length(doc->'items') > scoreledger_private.input_limit('items_per_version') THEN
    PERFORM scoreledger_private.fail('SL422', format('items: at most %s items per evaluation version',
                                                     scoreledger_private.input_limit('items_per_version')));
  END IF;
END
$$;

-- Every problem of an items list, in one set-based pass: a row per failing
-- (item, rule) with the rule's SQLSTATE and a message naming the entry.
-- The rule number is the order in which one item's problems are reported.
CREATE OR REPLACE FUNCTION scoreledger_private.evaluation_item_problems(items jsonb)
RETURNS TABLE (item_no integer, rule_no integer, sqlstate text, message text)
LANGUAGE sql IMMUTABLE
AS $$
  WITH entries AS MATERIALIZED (
    SELECT (x.n - 1)::integer AS item_no, x.e, format('items[%s]', x.n - 1) AS path,
           scoreledger_private.field_problem(x.e->'question_version_id', 'uuid') AS qv_problem,
           scoreledger_private.field_problem(x.e->'options', 'string_set') AS options_problem,
           scoreledger_private.field_problem(x.e->'correct', 'string_set') AS correct_problem,
           scoreledger_private.field_problem(x.e->'points', 'number', false) AS points_problem
    FROM jsonb_array_elements(items) WITH ORDINALITY x(e, n)
    WHERE jsonb_typeof(x.e) = 'object'
  ), ranked AS (
    SELECT en.*, row_number() OVER (PARTITION BY CASE WHEN en.qv_problem IS NULL THEN (en.e->>'question_version_id')::uuid END
                                    ORDER BY en.item_no) AS occurrence
    FROM entries en
  )
  SELECT (x.n - 1)::integer, 1, 'SL422', format('items[%s]: must be a JSON object', x.n - 1)
  FROM jsonb_array_elements(items) WITH ORDINALITY x(e, n)
  WHERE jsonb_typeof(x.e) <> 'object'
  UNION ALL
  SELECT r.item_no, v.rule_no, v.sqlstate, v.message
  FROM ranked r
  CROSS JOIN LATERAL (VALUES
    (2, 'SL422', scoreledger_private.unknown_field_problem(r.e, r.path,
       ARRAY['question_id', 'question_version_id', 'kind', 'prompt', 'options', 'correct', 'points', 'scoring', 'tags'])),
    (3, 'SL422', r.path || '.question_version_id: ' || r.qv_problem),
    (4, 'SL422', CASE WHEN r.qv_problem IS NULL AND r.occurrence > 1
                      THEN r.path || '.question_version_id: appears twice in this version' END),
    (5, 'SL422', r.path || '.kind: ' || scoreledger_private.field_problem(r.e->'kind', 'text')),
    (6, 'SL422', CASE WHEN jsonb_typeof(r.e->'kind') = 'string' AND r.e->>'kind' NOT IN ('single_choice', 'multiple_choice')
                      THEN r.path || '.kind: must be single_choice or multiple_choice' END),
    (7, 'SL422', r.path || '.scoring: ' || scoreledger_private.field_problem(r.e->'scoring', 'text', false)),
    (8, 'SL422', CASE WHEN jsonb_typeof(r.e->'scoring') = 'string' AND r.e->>'scoring' NOT IN ('exact', 'partial')
                      THEN r.path || '.scoring: must be exact or partial' END),
    (9, 'SL422', CASE WHEN r.e->>'scoring' = 'partial' AND r.e->>'kind' IS DISTINCT FROM 'multiple_choice'
                      THEN r.path || '.scoring: partial scoring is for multiple_choice items only' END),
    (10, 'SL422', r.path || '.options: ' || r.options_problem),
    (11, 'SL422', CASE WHEN r.options_problem IS NULL AND jsonb_array_length(r.e->'options') NOT BETWEEN 1 AND 63
                       THEN r.path || '.options: must list 1 to 63 options' END),
    (12, 'SL422', r.path || '.correct: ' || r.correct_problem),
    (13, 'SL422', CASE WHEN r.correct_problem IS NULL AND jsonb_array_length(r.e->'correct') = 0
                       THEN r.path || '.correct: must name at least one option' END),
    (14, 'SL422', CASE WHEN r.options_problem IS NULL AND r.correct_problem IS NULL
                        AND NOT scoreledger_private.text_array(r.e->'correct') <@ scoreledger_private.text_array(r.e->'options')
                       THEN r.path || '.correct: names an option that is not in options' END),
    (15, 'SL422', r.path || '.points: ' || r.points_problem),
    (16, 'SL422', CASE WHEN r.points_problem IS NULL AND jsonb_typeof(r.e->'points') = 'number'
                        AND ((r.e->>'points')::numeric <= 0 OR (r.e->>'points')::numeric > 1000000)
                       THEN r.path || '.points: must be a positive number (at most 1000000)' END),
    (17, 'SL422', r.path || '.question_id: ' || scoreledger_private.field_problem(r.e->'question_id', 'uuid')),
    (18, 'SL422', r.path || '.prompt: ' || scoreledger_private.field_problem(r.e->'prompt', 'text', false)),
    (19, 'SL422', r.path || '.tags: ' || scoreledger_private.field_problem(r.e->'tags', 'tag_set', false))
  ) v(rule_no, sqlstate, message)
  WHERE v.message IS NOT NULL
$$;

-- A valid items list in its stored form: defaults filled in, in order.
-- Tags appear only on an item that has some, so a document published
-- before items carried tags still re-imports as a no-op.
CREATE OR REPLACE FUNCTION scoreledger_private.normalise_evaluation_items(items jsonb)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
AS $$
  SELECT jsonb_agg(jsonb_build_object(
           'question_id', (x.e->>'question_id')::uuid,
           'question_version_id', (x.e->>'question_version_id')::uuid,
           'kind', x.e->>'kind',
           'prompt', coalesce(x.e->>'prompt', ''),
           'options', to_jsonb(scoreledger_private.text_array(x.e->'options')),
           'correct', to_jsonb(scoreledger_private.text_array(x.e->'correct')),
           'points', coalesce((x.e->>'points')::numeric, 1),
           'scoring', coalesce(x.e->>'scoring', 'exact'))
         || CASE WHEN jsonb_array_length(coalesce(nullif(x.e->'tags', 'null'), '[]')) > 0
                 THEN jsonb_build_object('tags', x.e->'tags') ELSE '{}' END ORDER BY x.n)
  FROM jsonb_array_elements(items) WITH ORDINALITY x(e, n)
$$;

-- Writes a new version and the question versions it introduces. A
-- question version may be shared by several evaluation versions, but its
-- id always means the same content (SL423 naming the first item that
-- differs); tags are the item's, so versions sharing a question version
-- may tag it differently.
CREATE OR REPLACE FUNCTION scoreledger_private.publish_evaluation_version(
  tenant uuid, evaluation_id uuid, version_id uuid, version_no integer, title text, pass_mark numeric, normalised jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  conflict text;
BEGIN
  SELECT format('items[%s].question_version_id: question version %s already exists with different content',
                x.n - 1, x.item->>'question_version_id') INTO conflict
  FROM jsonb_array_elements(normalised->'items') WITH ORDINALITY x(item, n)
  JOIN scoreledger_private.question_versions q
    ON q.tenant_id = tenant AND q.question_version_id = (x.item->>'question_version_id')::uuid
  WHERE jsonb_build_object('question_id', q.question_id, 'question_version_id', q.question_version_id,
          'kind', q.kind, 'prompt', q.prompt, 'options', to_jsonb(q.options), 'correct', to_jsonb(q.correct),
          'points', q.points, 'scoring', q.scoring) <> x.item - 'tags'
  ORDER BY x.n LIMIT 1;
  IF conflict IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL423', conflict);
  END IF;

  INSERT INTO scoreledger_private.question_versions
    (tenant_id, question_version_id, question_id, kind, prompt, options, correct, correct_mask, points, scoring)
  SELECT tenant, (x.item->>'question_version_id')::uuid, (x.item->>'question_id')::uuid, x.item->>'kind', x.item->>'prompt',
         o.options, c.correct, scoreledger_private.option_mask(o.options, c.correct), (x.item->>'points')::numeric,
         x.item->>'scoring'
  FROM jsonb_array_elements(normalised->'items') x(item)
  CROSS JOIN LATERAL (SELECT scoreledger_private.text_array(x.item->'options') AS options) o
  CROSS JOIN LATERAL (SELECT scoreledger_private.text_array(x.item->'correct') AS correct) c
  WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.question_versions q
                    WHERE q.tenant_id = tenant AND q.question_version_id = (x.item->>'question_version_id')::uuid);

  INSERT INTO scoreledger_private.evaluation_versions
    (tenant_id, evaluation_version_id, evaluation_id, version_no, title, pass_mark, document)
  VALUES (tenant, version_id, evaluation_id, version_no, title, pass_mark, normalised);

  INSERT INTO scoreledger_private.items (tenant_id, evaluation_version_id, question_version_id, position, tags)
  SELECT tenant, version_id, (x.item->>'question_version_id')::uuid, x.n,
         scoreledger_private.text_array(coalesce(x.item->'tags', '[]'))
  FROM jsonb_array_elements(normalised->'items') WITH ORDINALITY x(item, n);

  -- The evaluation carries the title of its latest version.
  UPDATE scoreledger_private.evaluations e SET title = publish_evaluation_version.title
  WHERE e.tenant_id = tenant AND e.evaluation_id = publish_evaluation_version.evaluation_id
    AND e.title <> publish_evaluation_version.title;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.import_evaluation_version(doc jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  header record;
  version_id uuid;
  problem record;
  normalised jsonb;
  existing_document jsonb;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.import_evaluation_version');
  header := scoreledger_private.read_evaluation_header(doc);
  SELECT p.sqlstate, p.message INTO problem FROM scoreledger_private.evaluation_item_problems(doc->'items') p
  ORDER BY p.item_no, p.rule_no LIMIT 1;
  IF FOUND THEN
    PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
  END IF;

  version_id := header.version_id;
  IF version_id IS NULL THEN
    SELECT v.evaluation_version_id INTO version_id FROM scoreledger_private.evaluation_versions v
    WHERE v.tenant_id = tenant AND v.evaluation_id = header.evaluation_id AND v.version_no = header.version_no;
    version_id := coalesce(version_id, gen_random_uuid());
  END IF;
  normalised := jsonb_build_object(
    'evaluation_id', header.evaluation_id, 'evaluation_title', header.title, 'evaluation_version_id', version_id,
    'version_no', header.version_no, 'pass_mark', header.pass_mark,
    'items', scoreledger_private.normalise_evaluation_items(doc->'items'));

  -- Concurrent importers of one version: the primary key makes the second
  -- wait, then it compares against what the first wrote.
  INSERT INTO scoreledger_private.evaluations (tenant_id, evaluation_id, title)
  VALUES (tenant, header.evaluation_id, header.title)
  ON CONFLICT ON CONSTRAINT evaluations_pkey DO NOTHING;

  SELECT v.document INTO existing_document FROM scoreledger_private.evaluation_versions v
  WHERE v.tenant_id = tenant AND (v.evaluation_version_id = version_id
     OR (v.evaluation_id = header.evaluation_id AND v.version_no = header.version_no));
  IF existing_document IS NOT NULL THEN
    IF existing_document = normalised THEN
      RETURN version_id;
    END IF;
    PERFORM scoreledger_private.fail('SL423', format(
      'evaluation version %s (evaluation %s, version_no %s) already exists with different content; publish a new version_no',
      version_id, header.evaluation_id, header.version_no));
  END IF;

  PERFORM scoreledger_private.publish_evaluation_version(tenant, header.evaluation_id, version_id, header.version_no,
    header.title, header.pass_mark, normalised);
  RETURN version_id;
END
$$;
COMMENT ON FUNCTION scoreledger.import_evaluation_version(jsonb) IS
  'Publishes an immutable evaluation version with its question versions (items may carry tags, part of the document). Re-importing the same document is a no-op; different content under an existing id raises SL423.';
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
  rules jsonb;
  previous scoreledger_private.assignments;
  written boolean;
  pairs record;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.upsert_assignment');
  PERFORM scoreledger_private.doc_require_object(doc, '',
    ARRAY['assignment_id', 'title', 'evaluation_id', 'programme', 'attempt_policy', 'max_attempts', 'retake_cooldown',
          'retake_after_pass', 'intervention_after_fails', 'remedial_assignment_id']);
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
  -- Attempt rules (contract section 11): sql/45_attempts.sql.
  rules := scoreledger_private.assignment_rules(doc, tenant, assignment_id);

  SELECT * INTO previous FROM scoreledger_private.assignments a
  WHERE a.tenant_id = tenant AND a.assignment_id = fn.assignment_id
  FOR UPDATE;
  current_evaluation := previous.evaluation_id;
  IF current_evaluation IS NOT NULL AND current_evaluation <> evaluation_id
     AND EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                 WHERE s.tenant_id = tenant AND s.assignment_id = fn.assignment_id) THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'assignment %s already has submissions for evaluation %s; its evaluation cannot change', assignment_id, current_evaluation));
  END IF;

  INSERT INTO scoreledger_private.assignments AS a
    (tenant_id, assignment_id, title, evaluation_id, programme, attempt_policy, max_attempts, retake_cooldown,
     retake_after_pass, intervention_after_fails, remedial_assignment_id)
  VALUES (tenant, assignment_id, title, evaluation_id, programme, attempt_policy, (rules ->> 'max_attempts')::integer,
          (rules ->> 'retake_cooldown')::interval, (rules ->> 'retake_after_pass')::boolean,
          (rules ->> 'intervention_after_fails')::integer, (rules ->> 'remedial_assignment_id')::uuid)
  ON CONFLICT (tenant_id, assignment_id) DO UPDATE
    SET title = excluded.title, evaluation_id = excluded.evaluation_id, programme = excluded.programme,
        attempt_policy = excluded.attempt_policy, max_attempts = excluded.max_attempts,
        retake_cooldown = excluded.retake_cooldown, retake_after_pass = excluded.retake_after_pass,
        intervention_after_fails = excluded.intervention_after_fails,
        remedial_assignment_id = excluded.remedial_assignment_id, updated_at = now()
    WHERE (a.title, a.evaluation_id, a.programme, a.attempt_policy, a.max_attempts, a.retake_cooldown, a.retake_after_pass,
           a.intervention_after_fails, a.remedial_assignment_id)
          IS DISTINCT FROM (excluded.title, excluded.evaluation_id, excluded.programme, excluded.attempt_policy,
                            excluded.max_attempts, excluded.retake_cooldown, excluded.retake_after_pass,
                            excluded.intervention_after_fails, excluded.remedial_assignment_id);
  written := FOUND;
  -- A change of the rules (or the policy, which decides outcomes) is an
  -- event; it rewrites nothing that happened, and the learners' open
  -- locks follow the rule as it now reads (sql/46_interventions.sql).
  IF written AND (previous.assignment_id IS NULL OR scoreledger_private.stored_rules(previous) IS DISTINCT FROM rules
                  OR previous.attempt_policy IS DISTINCT FROM attempt_policy) THEN
    INSERT INTO scoreledger_private.assignment_rule_events (tenant_id, assignment_id, rules, actor_id)
    VALUES (tenant, assignment_id, rules || jsonb_build_object('attempt_policy', attempt_policy), scoreledger.current_actor());
    IF previous.assignment_id IS NOT NULL THEN
      SELECT array_agg(p.assignment_id) AS aa, array_agg(p.user_id) AS uu INTO pairs
      FROM (SELECT DISTINCT s.assignment_id, s.user_id FROM scoreledger_private.submissions s
            WHERE s.tenant_id = tenant AND s.assignment_id = fn.assignment_id
            UNION
            SELECT i.assignment_id, i.user_id FROM scoreledger_private.interventions i
            WHERE i.tenant_id = tenant AND i.assignment_id = fn.assignment_id AND i.status = 'open') p;
      PERFORM scoreledger_private.enact_intervention_rule(pairs.aa, pairs.uu, NULL, 'the assignment''s rules changed',
                                                          true, 'scoreledger.upsert_assignment');
    END IF;
  END IF;
  RETURN assignment_id;
END
$$;
COMMENT ON FUNCTION scoreledger.upsert_assignment(jsonb) IS
  'Creates or updates an assignment of an evaluation with its attempt policy (highest, latest, first) and attempt rules (max_attempts, retake_cooldown, retake_after_pass, intervention_after_fails, remedial_assignment_id); a change of rules is an event.';
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
         q.options, q.correct, q.points, q.scoring, i.tags
  FROM scoreledger_private.items i
  JOIN scoreledger_private.question_versions q
    ON q.tenant_id = i.tenant_id AND q.question_version_id = i.question_version_id;
COMMENT ON VIEW scoreledger.items IS
  'Items of every evaluation version with their question version as published (original key) and the item''s tags (what a correction''s "tag" targets).';
GRANT SELECT ON scoreledger.items TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.assignments AS
  SELECT a.assignment_id, a.title, a.evaluation_id, a.programme, a.attempt_policy, a.created_at, a.updated_at,
         a.max_attempts, a.retake_cooldown, a.retake_after_pass, a.intervention_after_fails, a.remedial_assignment_id
  FROM scoreledger_private.assignments a;
COMMENT ON VIEW scoreledger.assignments IS 'Assignments of the current tenant.';
GRANT SELECT ON scoreledger.assignments TO scoreledger_app;
