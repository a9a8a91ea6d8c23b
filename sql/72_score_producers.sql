-- =====================================================================
-- Score layer, part 3: the automated producer -- evaluators and their
-- evaluation results. A result document is checked by one rule set
-- (result_documents), inserted set-based, and its scores written in the
-- same call, isolated from it (sql/71_score_writers.sql).
-- =====================================================================

-- Row-level security of this part's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluators');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluation_results');

-- Results reference their evaluator and submission without row-by-row
-- foreign keys (see migrations/0002): checked here once per statement.
-- Neither evaluators nor submissions are ever deleted.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_evaluation_results__references()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows n
             WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.evaluators e
                               WHERE e.tenant_id = n.tenant_id AND e.evaluator_id = n.evaluator_id)) THEN
    PERFORM scoreledger_private.fail('SL404', 'an evaluation result must reference a registered evaluator of the same tenant');
  END IF;
  IF EXISTS (SELECT 1 FROM new_rows n
             WHERE n.submission_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM scoreledger_private.submissions s
                               WHERE s.tenant_id = n.tenant_id AND s.submission_id = n.submission_id)) THEN
    PERFORM scoreledger_private.fail('SL404', 'an evaluation result must reference a recorded submission of the same tenant');
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER result_references_exist_on_insert AFTER INSERT ON scoreledger_private.evaluation_results
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_evaluation_results__references();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluation_results', 'result_references_exist_on_insert',
  'a result names an existing evaluator and submission');
CREATE OR REPLACE TRIGGER result_references_exist_on_update AFTER UPDATE ON scoreledger_private.evaluation_results
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_evaluation_results__references();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluation_results', 'result_references_exist_on_update',
  'a result keeps naming an existing evaluator and submission');

-- An evaluator's output schema decides how the scores already written were
-- typed: it is fixed once registered (guard: sql/70_scores.sql).
CREATE OR REPLACE TRIGGER evaluator_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.evaluators
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluators', 'evaluator_immutable',
  'an evaluator (and its output schema) never changes');
CREATE OR REPLACE TRIGGER evaluator_never_truncated BEFORE TRUNCATE ON scoreledger_private.evaluators
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluators', 'evaluator_never_truncated',
  'evaluators are never truncated');

-- ---------------------------------------------------------------------
-- Evaluators
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.register_evaluator(name text, output_schema jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  existing scoreledger_private.evaluators;
  clean_name text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.register_evaluator');
  clean_name := scoreledger_private.producer_name(register_evaluator.name);
  PERFORM scoreledger_private.check_declarations(output_schema, 'output_schema');
  INSERT INTO scoreledger_private.evaluators (tenant_id, evaluator_id, name, output_schema)
  VALUES (tenant, gen_random_uuid(), clean_name, output_schema)
  ON CONFLICT ON CONSTRAINT evaluators_tenant_id_name_key DO NOTHING;
  SELECT * INTO existing FROM scoreledger_private.evaluators e WHERE e.tenant_id = tenant AND e.name = clean_name;
  IF existing.output_schema IS DISTINCT FROM output_schema THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'evaluator %L is already registered with another output schema; register the new schema under a new name',
      clean_name));
  END IF;
  RETURN existing.evaluator_id;
END
$$;
COMMENT ON FUNCTION scoreledger.register_evaluator(text, jsonb) IS
  'Registers an evaluator (idempotent on name) with its output schema, e.g. {"tone": {"type": "choice", "choices": ["ok","rude"]}}; returns its id. The same name with another schema raises SL409.';
GRANT EXECUTE ON FUNCTION scoreledger.register_evaluator(text, jsonb) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- The rules of a result document, each written once
-- ---------------------------------------------------------------------

-- Every result document of a call, parsed once, with the first rule it
-- breaks (problem, null if none; the shape of sql/41_submission_rules.sql).
-- Both the insert and the error come from here, whatever the call's size.
--
-- The document's fields are plain values of a subquery the planner keeps
-- (OFFSET 0): compared with an indexed column, an expression over the
-- document ((d.doc->>'result_id')::uuid) is not leakproof, and row-level
-- security then forbids it as an index condition -- the evaluator lookup
-- and the probes would read the tenant's whole table. Submissions are
-- probed per document (a scalar subquery: never joined, or the planner
-- would guess the documents' count and might hash every submission of the
-- tenant). `docs` is named once (see submission_documents).
CREATE OR REPLACE FUNCTION scoreledger_private.result_documents(docs jsonb, tenant uuid)
RETURNS TABLE (idx integer, given_id uuid, evaluator_id uuid, submission_id uuid, payload jsonb, error text,
               problem text[])
LANGUAGE sql STABLE
AS $$
  SELECT d.idx, d.given_id, d.evaluator_id, d.submission_id, d.payload, d.error,
         CASE
           WHEN NOT d.is_object THEN scoreledger_private.problem('SL422', NULL, 'must be a JSON object')
           WHEN d.unknown_field IS NOT NULL
             THEN scoreledger_private.problem('SL422', d.unknown_field,
                    'unknown field (expected evaluator, submission_id, payload, error, result_id)')
           WHEN d.evaluator IS NULL OR d.evaluator = ''
             THEN scoreledger_private.problem('SL422', 'evaluator', 'must be the name of a registered evaluator')
           WHEN d.evaluator_id IS NULL
             THEN scoreledger_private.problem('SL404', 'evaluator',
                    format('no evaluator named %L in this tenant (register it with scoreledger.register_evaluator)',
                           scoreledger_private.shorten(d.evaluator)))
           WHEN d.submission_json <> 'null' AND d.submission_id IS NULL
             THEN scoreledger_private.problem('SL422', 'submission_id', 'must be a uuid string or null')
           WHEN d.submission_id IS NOT NULL AND NOT d.submission_found
             THEN scoreledger_private.problem('SL404', 'submission_id',
                    format('submission %s does not exist', d.submission_id))
           WHEN d.error_json <> 'null' AND (jsonb_typeof(d.error_json) <> 'string' OR d.error !~ '\S')
             THEN scoreledger_private.problem('SL422', 'error', 'must be a non-empty string or null')
           WHEN jsonb_typeof(d.payload) = 'object'
                AND (SELECT count(*) FROM jsonb_object_keys(d.payload)) > scoreledger_private.input_limit('keys_per_payload')
             THEN scoreledger_private.problem('SL422', 'payload', format('at most %s top-level keys',
                    scoreledger_private.input_limit('keys_per_payload')))
           WHEN d.result_json <> 'null' AND d.given_id IS NULL
             THEN scoreledger_private.problem('SL422', 'result_id', 'must be a uuid string or null')
           WHEN d.occurrence > 1
             THEN scoreledger_private.problem('SL422', 'result_id', format('%s appears twice in this call', d.given_id))
         END
  FROM (
    SELECT p.*, ev.evaluator_id,
           p.submission_id IS NOT NULL
             AND (SELECT s.submission_id FROM scoreledger_private.submissions s
                  WHERE s.tenant_id = tenant AND s.submission_id = p.submission_id) IS NOT NULL AS submission_found,
           CASE WHEN p.given_id IS NOT NULL
                THEN row_number() OVER (PARTITION BY p.given_id ORDER BY p.idx) END AS occurrence
    FROM (
      SELECT (x.n - 1)::int AS idx, jsonb_typeof(x.doc) = 'object' AS is_object,
             CASE WHEN jsonb_typeof(x.doc) = 'object'
                       AND x.doc - ARRAY['evaluator', 'submission_id', 'payload', 'error', 'result_id'] <> '{}'
                  THEN scoreledger_private.first_unknown_key(x.doc,
                         ARRAY['evaluator', 'submission_id', 'payload', 'error', 'result_id']) END AS unknown_field,
             CASE WHEN jsonb_typeof(x.doc->'evaluator') = 'string'
                  THEN btrim(x.doc->>'evaluator', E' \t\r\n') END AS evaluator,
             coalesce(x.doc->'submission_id', 'null') AS submission_json,
             CASE WHEN jsonb_typeof(x.doc->'submission_id') = 'string'
                       AND scoreledger_private.is_uuid(x.doc->>'submission_id')
                  THEN (x.doc->>'submission_id')::uuid END AS submission_id,
             coalesce(x.doc->'error', 'null') AS error_json, x.doc->>'error' AS error,
             coalesce(x.doc->'result_id', 'null') AS result_json,
             CASE WHEN jsonb_typeof(x.doc->'result_id') = 'string' AND scoreledger_private.is_uuid(x.doc->>'result_id')
                  THEN (x.doc->>'result_id')::uuid END AS given_id,
             nullif(x.doc->'payload', 'null'::jsonb) AS payload
      FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
      OFFSET 0) p
    LEFT JOIN scoreledger_private.evaluators ev ON ev.tenant_id = tenant AND ev.name = p.evaluator
  ) d
$$;

-- The first problem of a call's result documents, or no row. `indexed`:
-- entries are named [n].field (bulk) rather than field (one result).
-- Called when insert_result_documents took fewer documents than it was given.
CREATE OR REPLACE FUNCTION scoreledger_private.first_result_problem(docs jsonb, tenant uuid, indexed boolean)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE sql STABLE
AS $$
  SELECT d.problem[1],
         scoreledger_private.problem_message(CASE WHEN indexed THEN format('[%s]', d.idx) ELSE '' END, d.problem)
  FROM scoreledger_private.result_documents(docs, tenant) d
  WHERE d.problem IS NOT NULL
  ORDER BY d.idx
  LIMIT 1
$$;

-- The id of a result document without result_id: a UUID version 5 in the
-- namespace below of the name
--   <tenant>:<evaluator_id>:<submission_id or "null">:<md5 of payload>:<md5 of error>
-- (uuids lower case with hyphens; payload as jsonb's canonical text, "null"
-- when absent; error "null" when absent), so re-running an import of the
-- same results is a no-op, never a duplicate, while an evaluator's new
-- verdict on the same submission (another payload) is a result of its own.
CREATE OR REPLACE FUNCTION scoreledger_private.result_key_namespace()
RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT '7e3d9b2a-51c4-5f08-8a6e-c2b41f9d0e57'::uuid
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.result_key(tenant uuid, evaluator_id uuid, submission_id uuid,
                                                          payload jsonb, error text)
RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT scoreledger_private.uuid_generate_v5(scoreledger_private.result_key_namespace(),
    tenant::text || ':' || evaluator_id::text || ':' || coalesce(submission_id::text, 'null') || ':'
    || md5(coalesce(payload::text, 'null')) || ':' || coalesce(md5(error), 'null'))
$$;

-- Every document of a call that record_evaluation_results would refuse,
-- with the first rule it breaks (the same rules: result_documents).
CREATE OR REPLACE FUNCTION scoreledger.result_problems(docs jsonb)
RETURNS TABLE (idx integer, sqlstate text, message text)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', 'docs: must be a JSON array of result documents');
  END IF;
  IF jsonb_array_length(docs) > scoreledger_private.input_limit('documents_per_call') THEN
    PERFORM scoreledger_private.fail('SL422', format('docs: at most %s documents per call',
                                                     scoreledger_private.input_limit('documents_per_call')));
  END IF;
  RETURN QUERY
  SELECT d.idx, d.problem[1], scoreledger_private.problem_message(format('[%s]', d.idx), d.problem)
  FROM scoreledger_private.result_documents(docs, tenant) d
  WHERE d.problem IS NOT NULL
  ORDER BY d.idx;
END
$$;
COMMENT ON FUNCTION scoreledger.result_problems(jsonb) IS
  'Every document of a JSON array that record_evaluation_results would refuse, with the first rule it breaks (idx from 0, SQLSTATE, message naming the entry [n] as record_evaluation_results does). Writes nothing.';
GRANT EXECUTE ON FUNCTION scoreledger.result_problems(jsonb) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Recording results
-- ---------------------------------------------------------------------

-- Inserts (or, for a document naming an existing result id, overwrites)
-- the result rows of a call whose every document passes its rules, in
-- result_id order (every writer takes the row locks in one order); returns
-- them. A document without result_id gets its derived id (result_key): if
-- a result has it already, or an earlier document of the call derives it,
-- the document is an identical re-recording, a no-op (counted in
-- `unchanged`). If any document breaks a rule nothing is written and
-- `taken` + `unchanged` is 0: the caller then names the problem
-- (first_result_problem). `document_ids`: each document's id, in order.
--
-- Only ids that exist (probed in this statement's snapshot) go through
-- INSERT ... ON CONFLICT; the others, named, derived or fresh, through a
-- plain INSERT: speculative insertion costs three times a plain insert. An
-- id another writer inserts after the snapshot makes the plain INSERT fail
-- (unique_violation): `upsert_all` then takes the ON CONFLICT path for
-- every named id, and ON CONFLICT DO NOTHING for every derived one
-- (record_result_documents retries so).
CREATE OR REPLACE FUNCTION scoreledger_private.insert_result_documents(
  tenant uuid, docs jsonb, upsert_all boolean,
  OUT ids uuid[], OUT overwritten uuid[], OUT written_rows scoreledger_private.evaluation_results[], OUT taken integer,
  OUT unchanged integer, OUT document_ids uuid[])
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  WITH checked AS MATERIALIZED (
    SELECT * FROM scoreledger_private.result_documents(docs, tenant)
  ), keyed AS MATERIALIZED (
    SELECT c.idx, coalesce(c.given_id,
             scoreledger_private.result_key(tenant, c.evaluator_id, c.submission_id, c.payload, c.error)) AS result_id,
           c.given_id IS NULL AS derived, c.evaluator_id, c.submission_id, c.payload, c.error
    FROM checked c
    WHERE NOT EXISTS (SELECT 1 FROM checked b WHERE b.problem IS NOT NULL)
  ), parsed AS MATERIALIZED (
    SELECT k.*,
           -- A derived id named by an earlier document of the call: the same content, once.
           k.derived AND row_number() OVER (PARTITION BY k.result_id ORDER BY k.idx) > 1 AS twin,
           (SELECT r.result_id FROM scoreledger_private.evaluation_results r
             WHERE r.tenant_id = tenant AND r.result_id = k.result_id) IS NOT NULL AS found
    FROM keyed k
  ), upserted AS (
    INSERT INTO scoreledger_private.evaluation_results AS r
      (tenant_id, result_id, evaluator_id, submission_id, payload, error)
    SELECT tenant, p.result_id, p.evaluator_id, p.submission_id, p.payload, p.error
    FROM parsed p WHERE NOT p.derived AND (upsert_all OR p.found)
    ORDER BY p.result_id
    ON CONFLICT (tenant_id, result_id) DO UPDATE
      SET evaluator_id = excluded.evaluator_id, submission_id = excluded.submission_id,
          payload = excluded.payload, error = excluded.error, updated_at = now()
    -- xmax = 0: inserted by this statement (not an overwrite), so it can
    -- have no scores yet, and the writer need not look for any.
    RETURNING r AS written_row, r.xmax = 0 AS inserted
  ), derived_new AS (
    -- Derived ids another writer may be inserting too: the first one wins,
    -- the other call finds it identical (the id is the content).
    INSERT INTO scoreledger_private.evaluation_results AS r
      (tenant_id, result_id, evaluator_id, submission_id, payload, error)
    SELECT tenant, p.result_id, p.evaluator_id, p.submission_id, p.payload, p.error
    FROM parsed p WHERE p.derived AND NOT p.twin AND NOT p.found AND upsert_all
    ORDER BY p.result_id
    ON CONFLICT (tenant_id, result_id) DO NOTHING
    RETURNING r AS written_row, true AS inserted
  ), inserted AS (
    INSERT INTO scoreledger_private.evaluation_results AS r
      (tenant_id, result_id, evaluator_id, submission_id, payload, error)
    SELECT tenant, p.result_id, p.evaluator_id, p.submission_id, p.payload, p.error
    FROM parsed p WHERE NOT upsert_all AND NOT p.found AND NOT p.twin
    ORDER BY p.result_id
    RETURNING r AS written_row, true AS inserted
  ), written AS (
    SELECT * FROM upserted UNION ALL SELECT * FROM derived_new UNION ALL SELECT * FROM inserted
  ), summary AS (
    SELECT coalesce(array_agg((w.written_row).result_id), '{}') AS ids,
           coalesce(array_agg((w.written_row).result_id) FILTER (WHERE NOT w.inserted), '{}') AS overwritten,
           coalesce(array_agg(w.written_row), '{}') AS written_rows,
           count(*)::integer AS taken
    FROM written w
  )
  SELECT s.ids, s.overwritten, s.written_rows, s.taken,
         (SELECT count(*) FROM parsed p)::integer - s.taken,
         (SELECT coalesce(array_agg(p.result_id ORDER BY p.idx), '{}') FROM parsed p)
    INTO ids, overwritten, written_rows, taken, unchanged, document_ids
  FROM summary s;
END
$$;

-- Records result documents, set-based, and writes their scores in
-- isolation. Returns the ids written.
--
-- One rule set decides, whatever the call's size (result_documents). A
-- call of a few documents (a single result) inserts without a
-- subtransaction: a caller making many such calls in one transaction then
-- keeps one subtransaction per call (the score write's). A bulk call takes
-- the cheaper plain INSERT for ids it does not find, inside a
-- subtransaction that a concurrent writer's unique_violation rolls back
-- for a retry through ON CONFLICT.
CREATE OR REPLACE FUNCTION scoreledger_private.record_result_documents(docs jsonb, indexed boolean,
  OUT written_ids uuid[], OUT document_ids uuid[])
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  problem record;
  written record;
BEGIN
  IF docs IS NULL OR jsonb_typeof(docs) <> 'array' THEN
    PERFORM scoreledger_private.fail('SL422', 'docs: must be a JSON array of result documents');
  END IF;
  IF jsonb_array_length(docs) > scoreledger_private.input_limit('documents_per_call') THEN
    PERFORM scoreledger_private.fail('SL422', format('docs: at most %s documents per call',
                                                     scoreledger_private.input_limit('documents_per_call')));
  END IF;

  IF jsonb_array_length(docs) <= 10 THEN
    SELECT * INTO written FROM scoreledger_private.insert_result_documents(tenant, docs, true);
  ELSE
    BEGIN
      SELECT * INTO written FROM scoreledger_private.insert_result_documents(tenant, docs, false);
    EXCEPTION WHEN unique_violation THEN
      -- An id was inserted by another writer since the probe: every named
      -- or derived id through ON CONFLICT instead.
      SELECT * INTO written FROM scoreledger_private.insert_result_documents(tenant, docs, true);
    END;
  END IF;
  IF written.taken + written.unchanged <> jsonb_array_length(docs) THEN
    SELECT * INTO problem FROM scoreledger_private.first_result_problem(docs, tenant, indexed);
    PERFORM scoreledger_private.fail(coalesce(problem.sqlstate, 'SL422'),
                                     coalesce(problem.message, 'docs: a document is not a valid result document'));
  END IF;

  -- A new statement: the rows above are locked by this transaction, so no
  -- other writer of these results can interleave. The writer takes the
  -- rows as written (no second read of them).
  PERFORM scoreledger_private.write_scores_isolated(tenant, 'evaluation_result', written.ids, written.overwritten,
                                                    written.written_rows);
  written_ids := written.ids;
  document_ids := written.document_ids;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.record_evaluation_result(evaluator text, submission_id uuid, payload jsonb,
                                                                error text DEFAULT NULL, result_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ids uuid[];
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.record_evaluation_result');
  PERFORM scoreledger_private.require_tenant();
  SELECT r.document_ids INTO ids FROM scoreledger_private.record_result_documents(jsonb_build_array(jsonb_build_object(
    'evaluator', evaluator, 'submission_id', submission_id, 'payload', payload, 'error', error,
    'result_id', result_id)), false) r;
  RETURN ids[1];
END
$$;
COMMENT ON FUNCTION scoreledger.record_evaluation_result(text, uuid, jsonb, text, uuid) IS
  'Records (or, for an existing result_id, overwrites) one evaluation result of a registered evaluator about a submission, and writes its typed scores in the same call; a score-writing failure is logged in score_write_failures, never raised. Without result_id the id is derived from (tenant, evaluator, submission, payload, error), so recording the same result again is a no-op. Returns the result id.';
GRANT EXECUTE ON FUNCTION scoreledger.record_evaluation_result(text, uuid, jsonb, text, uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.record_evaluation_results(docs jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- JIT compiles each big statement for 100 ms or more: never worth it here.
SET jit = off
AS $$
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.record_evaluation_results');
  PERFORM scoreledger_private.require_tenant();
  RETURN (SELECT cardinality(r.written_ids) FROM scoreledger_private.record_result_documents(docs, true) r);
END
$$;
COMMENT ON FUNCTION scoreledger.record_evaluation_results(jsonb) IS
  'Records a JSON array of result documents {evaluator, submission_id, payload, error, result_id} set-based (all or nothing), and writes all their scores in one statement, isolated from the results: a failing artefact is logged in score_write_failures. A document without result_id gets an id derived from its content (tenant, evaluator, submission, payload, error): one already recorded is a no-op. Returns how many results were written (new or overwritten).';
GRANT EXECUTE ON FUNCTION scoreledger.record_evaluation_results(jsonb) TO scoreledger_app;
