-- =====================================================================
-- Score layer (contract section 8, ADR-0013/0014): typed scores per
-- session (submission), dual-written by two producers:
--   * automated: evaluation results of registered evaluators;
--   * human: annotations of review items in review queues.
--
-- One writer per producer, set-based (it takes an array of artefact ids),
-- serves the live path, the explicit write_*_scores functions, backfill
-- and the migration-time top-up: one code path, one test surface.
--
-- Failure isolation: a producer inserts its rows first, then writes their
-- scores inside ONE BEGIN ... EXCEPTION block (one subtransaction for the
-- whole set). Only if that fails does it look for the culprits, one
-- artefact at a time, in probes that are always rolled back, and then
-- writes everything that can be written in one more block. Committed
-- subtransactions per row would overflow each backend's 64-entry subxid
-- cache and slow every snapshot on the server; rolled-back ones do not.
-- See docs/scores.md.
--
-- API functions are SECURITY DEFINER with search_path pg_catalog, pg_temp:
-- pg_temp listed last, so that a caller's temporary objects never shadow
-- a built-in name in their bodies (an empty search_path would search the
-- temporary schema first).
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluators');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.evaluation_results');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.review_queues');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.review_items');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.annotations');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.scores');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_write_warnings');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_write_failures');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_backfill_cursors');

-- ---------------------------------------------------------------------
-- Declarations: output schemas of evaluators, form schemas of queues
-- ---------------------------------------------------------------------

-- A caller's text as quoted in a message: at most 60 characters.
CREATE OR REPLACE FUNCTION scoreledger_private.shorten(value text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN length(value) > 60 THEN left(value, 57) || '...' ELSE value END
$$;

-- {"field": {"type": "choice", "choices": ["ok", "rude"]}, ...}. Every
-- declaration is an object with a non-empty string "type"; a choice may
-- list its "choices" (distinct strings). Raises SL422 naming the entry.
CREATE OR REPLACE FUNCTION scoreledger_private.check_declarations(doc jsonb, path text)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  problem text;
BEGIN
  IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
    PERFORM scoreledger_private.fail('SL422', path || ': must be a JSON object mapping field names to declarations');
  END IF;
  SELECT format('%s.%s%s', path, scoreledger_private.shorten(d.key), CASE
           WHEN d.key !~ '\S' THEN ': a field name must not be blank'
           WHEN jsonb_typeof(d.value) <> 'object' THEN ': must be an object such as {"type": "choice"}'
           WHEN jsonb_typeof(d.value->'type') IS DISTINCT FROM 'string' OR (d.value->>'type') !~ '\S'
             THEN '.type: must be a non-empty string'
           WHEN d.value ? 'choices' AND (jsonb_typeof(d.value->'choices') <> 'array'
                OR EXISTS (SELECT 1 FROM jsonb_array_elements(d.value->'choices') c WHERE jsonb_typeof(c) <> 'string'))
             THEN '.choices: must be an array of strings'
           WHEN d.value ? 'choices' AND jsonb_array_length(d.value->'choices')
                  <> (SELECT count(DISTINCT c) FROM jsonb_array_elements(d.value->'choices') c)
             THEN '.choices: lists a choice twice'
           END)
    INTO problem
  FROM jsonb_each(doc) d
  WHERE d.key !~ '\S' OR jsonb_typeof(d.value) <> 'object'
     OR jsonb_typeof(d.value->'type') IS DISTINCT FROM 'string' OR (d.value->>'type') !~ '\S'
     OR (d.value ? 'choices' AND (jsonb_typeof(d.value->'choices') <> 'array'
         OR EXISTS (SELECT 1 FROM jsonb_array_elements(d.value->'choices') c WHERE jsonb_typeof(c) <> 'string')
         OR jsonb_array_length(d.value->'choices')
              <> (SELECT count(DISTINCT c) FROM jsonb_array_elements(d.value->'choices') c)))
  ORDER BY d.key
  LIMIT 1;
  IF problem IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422', problem);
  END IF;
  RETURN doc;
END
$$;

-- ---------------------------------------------------------------------
-- The type dispatch, for each top-level key of a payload / form data:
--   JSON boolean -> BOOLEAN, value_numeric 0 or 1
--   JSON number  -> NUMERIC, value_numeric
--   JSON string  -> CATEGORICAL, value_string
--   declared {"type": "choice"} -> CATEGORICAL whatever the scalar's JSON
--     type; value_string is its text ("0", "true", "rude")
--   null, array, object (and a blank or over 200-character key) -> no
--     score, a warning
-- A non-object document yields nothing. Two plain SQL functions, the
-- values and the warnings, each inlined into its writer's INSERT ... SELECT
-- (a single function with a warning column costs a second CASE per key on
-- the hot path, and its rows would have to be materialised to feed two
-- inserts).
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION scoreledger_private.score_values(data jsonb, declarations jsonb)
RETURNS TABLE (name text, data_type text, value_numeric numeric, value_string text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT e.key,
         CASE WHEN jsonb_typeof(e.value) = 'string' OR declarations -> e.key ->> 'type' = 'choice' THEN 'CATEGORICAL'
              WHEN jsonb_typeof(e.value) = 'boolean' THEN 'BOOLEAN'
              ELSE 'NUMERIC' END,
         CASE WHEN jsonb_typeof(e.value) = 'string' OR declarations -> e.key ->> 'type' = 'choice' THEN NULL
              WHEN jsonb_typeof(e.value) = 'boolean' THEN CASE WHEN e.value = 'true'::jsonb THEN 1 ELSE 0 END
              ELSE e.value::numeric END,
         CASE WHEN jsonb_typeof(e.value) = 'string' OR declarations -> e.key ->> 'type' = 'choice'
              THEN e.value #>> '{}' END
  FROM jsonb_each(CASE WHEN jsonb_typeof(data) = 'object' THEN data END) AS e
  WHERE jsonb_typeof(e.value) NOT IN ('null', 'array', 'object') AND btrim(e.key, E' \t\r\n') <> ''
    AND length(e.key) <= 200
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.score_warnings(data jsonb)
RETURNS TABLE (name text, json_type text, warning text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT e.key, jsonb_typeof(e.value),
         CASE WHEN btrim(e.key, E' \t\r\n') = '' THEN 'skipped: a score needs a non-blank name'
              WHEN length(e.key) > 200 THEN 'skipped: a score name has at most 200 characters'
              ELSE format('skipped: a JSON %s is not a score value', jsonb_typeof(e.value)) END
  FROM jsonb_each(CASE WHEN jsonb_typeof(data) = 'object' THEN data END) AS e
  WHERE jsonb_typeof(e.value) IN ('null', 'array', 'object') OR btrim(e.key, E' \t\r\n') = ''
     OR length(e.key) > 200
$$;

-- ---------------------------------------------------------------------
-- Guards next to the data
-- ---------------------------------------------------------------------

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

CREATE OR REPLACE FUNCTION scoreledger_private.tg_producers__immutable()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM scoreledger_private.fail('SL423',
    format('%s are never deleted or changed (%s refused): results and review items refer to them',
           TG_TABLE_NAME, lower(TG_OP)));
  RETURN NULL;
END
$$;

-- An evaluator's output schema and a queue's form schema decide how the
-- scores already written were typed: both are fixed once registered.
CREATE OR REPLACE TRIGGER evaluator_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.evaluators
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluators', 'evaluator_immutable',
  'an evaluator (and its output schema) never changes');
CREATE OR REPLACE TRIGGER evaluator_never_truncated BEFORE TRUNCATE ON scoreledger_private.evaluators
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.evaluators', 'evaluator_never_truncated',
  'evaluators are never truncated');
CREATE OR REPLACE TRIGGER review_queue_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.review_queues
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.review_queues', 'review_queue_immutable',
  'a review queue (and its form schema) never changes');
CREATE OR REPLACE TRIGGER review_queue_never_truncated BEFORE TRUNCATE ON scoreledger_private.review_queues
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.review_queues', 'review_queue_never_truncated',
  'review queues are never truncated');

-- ---------------------------------------------------------------------
-- The writers: replace the scores (and skip warnings) of a set of
-- artefacts — delete, then insert, in the caller's transaction — and
-- resolve their open failures. Return how many scores they wrote.
-- `stale`: the artefacts that may already have scores, warnings or open
-- failures (all of `ids`, but for the rows a producer has just inserted:
-- nobody else can have written anything for those).
-- Callers hold a lock on each artefact's row (its producer's write, or
-- backfill's FOR NO KEY UPDATE), so two writers never interleave on one.
--
-- Every lookup by id is plan-proof: one index probe per id, in a LATERAL
-- subquery the planner cannot flatten (OFFSET 0), and TID scans for the
-- deletions. A join, or "= ANY (ids)", is planned from the tables'
-- statistics, and while a tenant's first bulk load runs they are stale:
-- the planner then reads the tenant's whole table on every call.
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.forget_scores(tenant uuid, kind text, stale uuid[])
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF coalesce(cardinality(stale), 0) = 0 THEN
    RETURN;
  END IF;
  IF kind = 'evaluation_result' THEN
    DELETE FROM scoreledger_private.scores s
     WHERE s.ctid = ANY (ARRAY(
       SELECT t.ctid FROM unnest(stale) AS x(id)
       CROSS JOIN LATERAL (SELECT s2.ctid FROM scoreledger_private.scores s2
                            WHERE s2.tenant_id = tenant AND s2.evaluation_result_id IS NOT NULL
                              AND s2.evaluation_result_id = x.id OFFSET 0) t));
  ELSE
    DELETE FROM scoreledger_private.scores s
     WHERE s.ctid = ANY (ARRAY(
       SELECT t.ctid FROM unnest(stale) AS x(id)
       CROSS JOIN LATERAL (SELECT s2.ctid FROM scoreledger_private.scores s2
                            WHERE s2.tenant_id = tenant AND s2.annotation_id IS NOT NULL
                              AND s2.annotation_id = x.id OFFSET 0) t));
  END IF;
  DELETE FROM scoreledger_private.score_write_warnings w
   WHERE w.ctid = ANY (ARRAY(
     SELECT t.ctid FROM unnest(stale) AS x(id)
     CROSS JOIN LATERAL (SELECT w2.ctid FROM scoreledger_private.score_write_warnings w2
                          WHERE w2.tenant_id = tenant AND w2.source_kind = kind AND w2.source_id = x.id OFFSET 0) t));
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.resolve_failures(tenant uuid, kind text, stale uuid[])
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  UPDATE scoreledger_private.score_write_failures f SET resolved_at = clock_timestamp()
   WHERE f.ctid = ANY (ARRAY(
     SELECT t.ctid FROM unnest(stale) AS x(id)
     CROSS JOIN LATERAL (SELECT f2.ctid FROM scoreledger_private.score_write_failures f2
                          WHERE f2.tenant_id = tenant AND f2.resolved_at IS NULL
                            AND f2.source_kind = kind AND f2.source_id = x.id OFFSET 0) t))
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.write_result_scores(
  tenant uuid, ids uuid[], stale uuid[], rows scoreledger_private.evaluation_results[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  written bigint;
BEGIN
  PERFORM scoreledger_private.forget_scores(tenant, 'evaluation_result', stale);

  -- Errors, results without a submission and non-object payloads have no
  -- scores: for them the deletion above is the whole write. The sources
  -- are read once (src), for the scores and for the skip warnings: from
  -- `rows` when the caller has them at hand (the rows it has just written
  -- or locked: the same as the table's), else by id.
  WITH src AS MATERIALIZED (
    SELECT r.result_id, r.submission_id, r.payload, e.output_schema
    FROM (SELECT x.result_id, x.submission_id, x.payload, x.evaluator_id, x.error
          FROM unnest(rows) AS x
          WHERE rows IS NOT NULL
          UNION ALL
          SELECT x.result_id, x.submission_id, x.payload, x.evaluator_id, x.error
          FROM unnest(ids) AS i(id)
          CROSS JOIN LATERAL (SELECT r.result_id, r.submission_id, r.payload, r.evaluator_id, r.error
                              FROM scoreledger_private.evaluation_results r
                              WHERE r.tenant_id = tenant AND r.result_id = i.id OFFSET 0) x
          WHERE rows IS NULL) r
    JOIN scoreledger_private.evaluators e ON e.tenant_id = tenant AND e.evaluator_id = r.evaluator_id
    WHERE r.error IS NULL AND r.submission_id IS NOT NULL AND jsonb_typeof(r.payload) = 'object'
  ), warned AS (
    INSERT INTO scoreledger_private.score_write_warnings
      (tenant_id, source_kind, source_id, name, submission_id, json_type, warning)
    SELECT tenant, 'evaluation_result', src.result_id, w.name, src.submission_id, w.json_type, w.warning
    FROM src CROSS JOIN LATERAL scoreledger_private.score_warnings(src.payload) w
  ), inserted AS (
    INSERT INTO scoreledger_private.scores
      (tenant_id, submission_id, name, data_type, value_numeric, value_string, evaluation_result_id)
    SELECT tenant, src.submission_id, v.name, v.data_type, v.value_numeric, v.value_string, src.result_id
    FROM src CROSS JOIN LATERAL scoreledger_private.score_values(src.payload, src.output_schema) v
    RETURNING 1
  )
  SELECT count(*) INTO written FROM inserted;

  PERFORM scoreledger_private.resolve_failures(tenant, 'evaluation_result', stale);
  RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.write_annotation_scores(tenant uuid, ids uuid[], stale uuid[])
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  written bigint;
BEGIN
  PERFORM scoreledger_private.forget_scores(tenant, 'annotation', stale);

  -- Only submitted annotations of items on a submission have scores:
  -- authoritative or not (the authoritative filter is on the read side).
  WITH src AS MATERIALIZED (
    SELECT a.annotation_id, a.submission_id, a.data, a.form_schema
    FROM unnest(ids) AS u(id)
    CROSS JOIN LATERAL (SELECT a.annotation_id, i.submission_id, a.data, q.form_schema
                        FROM scoreledger_private.annotations a
                        JOIN scoreledger_private.review_items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id
                        JOIN scoreledger_private.review_queues q ON q.tenant_id = i.tenant_id AND q.queue_id = i.queue_id
                        WHERE a.tenant_id = tenant AND a.annotation_id = u.id
                          AND a.status = 'submitted' AND i.submission_id IS NOT NULL
                          AND jsonb_typeof(a.data) = 'object' OFFSET 0) a
  ), warned AS (
    INSERT INTO scoreledger_private.score_write_warnings
      (tenant_id, source_kind, source_id, name, submission_id, json_type, warning)
    SELECT tenant, 'annotation', src.annotation_id, w.name, src.submission_id, w.json_type, w.warning
    FROM src CROSS JOIN LATERAL scoreledger_private.score_warnings(src.data) w
  ), inserted AS (
    INSERT INTO scoreledger_private.scores
      (tenant_id, submission_id, name, data_type, value_numeric, value_string, annotation_id)
    SELECT tenant, src.submission_id, v.name, v.data_type, v.value_numeric, v.value_string, src.annotation_id
    FROM src CROSS JOIN LATERAL scoreledger_private.score_values(src.data, src.form_schema) v
    RETURNING 1
  )
  SELECT count(*) INTO written FROM inserted;

  PERFORM scoreledger_private.resolve_failures(tenant, 'annotation', stale);
  RETURN written;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.write_scores(
  tenant uuid, kind text, ids uuid[], stale uuid[], rows scoreledger_private.evaluation_results[] DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  IF kind = 'evaluation_result' THEN
    RETURN scoreledger_private.write_result_scores(tenant, ids, stale, rows);
  END IF;
  RETURN scoreledger_private.write_annotation_scores(tenant, ids, stale);
END
$$;

-- Upserts one open failure per artefact (attempts counts repeats).
CREATE OR REPLACE FUNCTION scoreledger_private.record_score_failures(
  tenant uuid, kind text, ids uuid[], errors text[], sqlstates text[])
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  INSERT INTO scoreledger_private.score_write_failures AS f (tenant_id, source_kind, source_id, error, sqlstate)
  SELECT tenant, kind, x.id, left(coalesce(x.error, 'unknown error'), 2000), x.state
  FROM unnest(ids, errors, sqlstates) AS x(id, error, state)
  ORDER BY x.id
  ON CONFLICT (tenant_id, source_kind, source_id) WHERE resolved_at IS NULL
  DO UPDATE SET error = excluded.error, sqlstate = excluded.sqlstate, attempts = f.attempts + 1,
                occurred_at = clock_timestamp()
$$;

-- Writes the scores of a set of artefacts without ever failing the caller.
-- One subtransaction for the whole set; when it fails, each artefact is
-- probed alone (and the probe rolled back, successful or not), the failing
-- ones are recorded, and the rest written together. Returns the scores
-- written and the artefacts that failed.
CREATE OR REPLACE FUNCTION scoreledger_private.write_scores_isolated(
  tenant uuid, kind text, ids uuid[], stale uuid[], rows scoreledger_private.evaluation_results[] DEFAULT NULL,
  OUT written bigint, OUT failed integer)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  set_error text;
  set_state text;
  one uuid;
  probe_ok boolean;
  bad_ids uuid[] := '{}';
  bad_errors text[] := '{}';
  bad_states text[] := '{}';
  good_ids uuid[];
BEGIN
  written := 0;
  failed := 0;
  IF coalesce(cardinality(ids), 0) = 0 THEN
    RETURN;
  END IF;

  BEGIN
    written := scoreledger_private.write_scores(tenant, kind, ids, stale, rows);
    RETURN;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS set_error = MESSAGE_TEXT, set_state = RETURNED_SQLSTATE;
  END;

  IF cardinality(ids) = 1 THEN
    bad_ids := ids;
    bad_errors := ARRAY[set_error];
    bad_states := ARRAY[set_state];
  ELSE
    -- Find the culprits. Every probe is rolled back (on success by a
    -- deliberate error caught right here), so no committed subtransaction
    -- is left per artefact.
    FOREACH one IN ARRAY ids LOOP
      probe_ok := false;
      BEGIN
        PERFORM scoreledger_private.write_scores(tenant, kind, ARRAY[one],
                                                 CASE WHEN one = ANY (stale) THEN ARRAY[one] ELSE '{}' END);
        probe_ok := true;
        PERFORM scoreledger_private.fail('SL409', 'probe succeeded; rolled back on purpose');
      EXCEPTION WHEN OTHERS THEN
        IF NOT probe_ok THEN
          GET STACKED DIAGNOSTICS set_error = MESSAGE_TEXT, set_state = RETURNED_SQLSTATE;
          bad_ids := bad_ids || one;
          bad_errors := bad_errors || set_error;
          bad_states := bad_states || set_state;
        END IF;
      END;
    END LOOP;
    good_ids := ARRAY(SELECT g FROM unnest(ids) g WHERE g <> ALL (bad_ids));
    IF cardinality(good_ids) > 0 THEN
      BEGIN
        written := scoreledger_private.write_scores(tenant, kind, good_ids,
                                                    ARRAY(SELECT g FROM unnest(good_ids) g WHERE g = ANY (stale)));
      EXCEPTION WHEN OTHERS THEN
        -- Fails together but not alone: give up on the set, record all.
        GET STACKED DIAGNOSTICS set_error = MESSAGE_TEXT, set_state = RETURNED_SQLSTATE;
        bad_ids := bad_ids || good_ids;
        bad_errors := bad_errors || array_fill(set_error, ARRAY[cardinality(good_ids)]);
        bad_states := bad_states || array_fill(set_state, ARRAY[cardinality(good_ids)]);
      END;
    END IF;
  END IF;

  failed := cardinality(bad_ids);
  BEGIN
    PERFORM scoreledger_private.record_score_failures(tenant, kind, bad_ids, bad_errors, bad_states);
  EXCEPTION WHEN OTHERS THEN
    -- Even the failure log is failing: say so, never fail the producer.
    GET STACKED DIAGNOSTICS set_error = MESSAGE_TEXT;
    RAISE WARNING 'scoreledger: % score write failure(s) could not be recorded: %', failed, set_error;
  END;
END
$$;

-- ---------------------------------------------------------------------
-- Evaluators and evaluation results
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.register_evaluator(name text, output_schema jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  existing scoreledger_private.evaluators;
  clean_name text := btrim(register_evaluator.name, E' \t\r\n');
BEGIN
  IF clean_name IS NULL OR clean_name !~ '\S' OR length(clean_name) > 200 THEN
    PERFORM scoreledger_private.fail('SL422', 'name: must be a non-empty string of at most 200 characters');
  END IF;
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

-- The first problem in a set of result documents, or no row. `indexed`:
-- entries are named [n].field (bulk) rather than field (one result).
-- One pass over the documents, nothing sorted or materialised but the
-- result ids (duplicates); evaluators are read once, submissions probed
-- per document (never joined: the planner would guess the documents'
-- count and might read every submission of the tenant).
CREATE OR REPLACE FUNCTION scoreledger_private.result_document_errors(docs jsonb, indexed boolean)
RETURNS TABLE (sqlstate text, message text)
LANGUAGE sql STABLE
AS $$
  WITH evaluators AS (
    SELECT coalesce(jsonb_object_agg(e.name, e.evaluator_id), '{}') AS by_name
    FROM scoreledger_private.evaluators e WHERE e.tenant_id = scoreledger.current_tenant()
  ), problems AS (
    SELECT (x.n - 1)::int AS idx, 0 AS rank, p.sqlstate, p.message
    FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
    CROSS JOIN evaluators ev
    CROSS JOIN LATERAL (SELECT
      CASE WHEN jsonb_typeof(x.doc->'submission_id') = 'string' AND scoreledger_private.is_uuid(x.doc->>'submission_id')
           THEN (x.doc->>'submission_id')::uuid END AS submission_id,
      CASE WHEN jsonb_typeof(x.doc->'evaluator') = 'string' THEN btrim(x.doc->>'evaluator', E' \t\r\n') END AS evaluator
      OFFSET 0) f
    -- OFFSET 0 keeps each CASE from being inlined (and evaluated) once per
    -- reference; the submission probe is a scalar subquery with LIMIT, which
    -- the planner cannot turn into a hash of every submission.
    CROSS JOIN LATERAL (SELECT
      CASE
        WHEN jsonb_typeof(x.doc) IS DISTINCT FROM 'object' THEN ': must be a JSON object'
        WHEN x.doc - ARRAY['evaluator', 'submission_id', 'payload', 'error', 'result_id'] <> '{}'
          THEN (SELECT min(k) FROM jsonb_object_keys(x.doc - ARRAY['evaluator', 'submission_id', 'payload', 'error', 'result_id']) k)
               || ': unknown field (expected evaluator, submission_id, payload, error, result_id)'
        WHEN f.evaluator IS NULL OR f.evaluator = '' THEN 'evaluator: must be the name of a registered evaluator'
        WHEN NOT ev.by_name ? f.evaluator
          THEN format('evaluator: no evaluator named %L in this tenant (register it with scoreledger.register_evaluator)',
                      scoreledger_private.shorten(f.evaluator))
        WHEN x.doc->'submission_id' <> 'null' AND f.submission_id IS NULL
          THEN 'submission_id: must be a uuid string or null'
        WHEN f.submission_id IS NOT NULL AND (
               SELECT s.submission_id FROM scoreledger_private.submissions s
               WHERE s.tenant_id = scoreledger.current_tenant() AND s.submission_id = f.submission_id) IS NULL
          THEN format('submission_id: submission %s does not exist', f.submission_id)
        WHEN x.doc->'error' <> 'null' AND (jsonb_typeof(x.doc->'error') <> 'string' OR (x.doc->>'error') !~ '\S')
          THEN 'error: must be a non-empty string or null'
        WHEN x.doc->'result_id' <> 'null'
             AND NOT (jsonb_typeof(x.doc->'result_id') = 'string' AND scoreledger_private.is_uuid(x.doc->>'result_id'))
          THEN 'result_id: must be a uuid string or null'
      END AS message
      OFFSET 0) m
    CROSS JOIN LATERAL (SELECT CASE WHEN m.message LIKE 'evaluator: no evaluator%' OR m.message LIKE 'submission_id: submission %'
                                    THEN 'SL404' ELSE 'SL422' END AS sqlstate, m.message) p
    WHERE m.message IS NOT NULL
    UNION ALL
    -- The second occurrence of a result id in the call.
    SELECT y.second, 1, 'SL422', format('result_id: %s appears twice in this call', y.result_id)
    FROM (SELECT lower(x.doc->>'result_id') AS result_id, (array_agg((x.n - 1)::int ORDER BY x.n))[2] AS second
          FROM jsonb_array_elements(docs) WITH ORDINALITY AS x(doc, n)
          WHERE jsonb_typeof(x.doc->'result_id') = 'string'
          GROUP BY lower(x.doc->>'result_id')
          HAVING count(*) > 1) y
  )
  SELECT pr.sqlstate,
         CASE WHEN NOT indexed THEN CASE WHEN pr.message LIKE ':%' THEN 'document' || pr.message ELSE pr.message END
              WHEN pr.message LIKE ':%' THEN format('[%s]', pr.idx) || pr.message
              ELSE format('[%s].', pr.idx) || pr.message END
  FROM problems pr
  ORDER BY pr.idx, pr.rank
  LIMIT 1
$$;

-- Inserts (or, for a document naming an existing result id, overwrites)
-- the well-formed documents' result rows, in result_id order (every writer
-- takes the row locks in one order); returns them. Malformed documents are
-- left out (taken < the documents' count) or make the statement fail: the
-- caller then names the problem.
--
-- Only ids that exist (probed in this statement's snapshot) go through
-- INSERT ... ON CONFLICT DO UPDATE; the others, named or fresh, through a
-- plain INSERT: speculative insertion costs three times a plain insert. A
-- named id another writer inserts after the snapshot makes the plain INSERT
-- fail (unique_violation): `upsert_all` then takes the ON CONFLICT path for
-- every named id (record_results retries so).
CREATE OR REPLACE FUNCTION scoreledger_private.insert_results(
  tenant uuid, docs jsonb, upsert_all boolean,
  OUT ids uuid[], OUT overwritten uuid[], OUT written_rows scoreledger_private.evaluation_results[], OUT taken integer)
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  WITH parsed AS MATERIALIZED (
    SELECT coalesce(g.given_id, gen_random_uuid()) AS result_id, ev.evaluator_id, g.submission_id, g.payload, g.error,
           g.given_id IS NOT NULL
             AND (upsert_all OR (SELECT r.result_id FROM scoreledger_private.evaluation_results r
                                 WHERE r.tenant_id = tenant AND r.result_id = g.given_id) IS NOT NULL)
             AS may_exist
    FROM jsonb_array_elements(docs) AS d(doc)
    -- The document's fields as plain values of a subquery the planner keeps
    -- (OFFSET 0): compared with an indexed column, an expression over the
    -- document (d.doc->>'result_id')::uuid is not leakproof, and row-level
    -- security then forbids it as an index condition -- the probe below
    -- and the evaluator lookup would read the tenant's whole table.
    CROSS JOIN LATERAL (SELECT (d.doc->>'result_id')::uuid AS given_id, (d.doc->>'submission_id')::uuid AS submission_id,
                               nullif(d.doc->'payload', 'null'::jsonb) AS payload, d.doc->>'error' AS error,
                               btrim(d.doc->>'evaluator', E' \t\r\n') AS evaluator
                        OFFSET 0) g
    JOIN scoreledger_private.evaluators ev ON ev.tenant_id = tenant AND ev.name = g.evaluator
    WHERE jsonb_typeof(d.doc) = 'object'
      AND d.doc - ARRAY['evaluator', 'submission_id', 'payload', 'error', 'result_id'] = '{}'
      AND jsonb_typeof(d.doc->'evaluator') = 'string'
      AND coalesce(jsonb_typeof(d.doc->'submission_id') IN ('string', 'null'), true)
      AND coalesce(jsonb_typeof(d.doc->'result_id') IN ('string', 'null'), true)
      AND (d.doc->'error' IS NULL OR d.doc->'error' = 'null'
           OR (jsonb_typeof(d.doc->'error') = 'string' AND (d.doc->>'error') ~ '\S'))
  ), upserted AS (
    INSERT INTO scoreledger_private.evaluation_results AS r
      (tenant_id, result_id, evaluator_id, submission_id, payload, error)
    SELECT tenant, p.result_id, p.evaluator_id, p.submission_id, p.payload, p.error
    FROM parsed p WHERE p.may_exist
    ORDER BY p.result_id
    ON CONFLICT (tenant_id, result_id) DO UPDATE
      SET evaluator_id = excluded.evaluator_id, submission_id = excluded.submission_id,
          payload = excluded.payload, error = excluded.error, updated_at = now()
    -- xmax = 0: inserted by this statement (not an overwrite), so it can
    -- have no scores yet, and the writer need not look for any.
    RETURNING r AS written_row, r.xmax = 0 AS inserted
  ), inserted AS (
    INSERT INTO scoreledger_private.evaluation_results AS r
      (tenant_id, result_id, evaluator_id, submission_id, payload, error)
    SELECT tenant, p.result_id, p.evaluator_id, p.submission_id, p.payload, p.error
    FROM parsed p WHERE NOT p.may_exist
    ORDER BY p.result_id
    RETURNING r AS written_row, true AS inserted
  ), written AS (
    SELECT * FROM upserted UNION ALL SELECT * FROM inserted
  )
  SELECT coalesce(array_agg((w.written_row).result_id), '{}'),
         coalesce(array_agg((w.written_row).result_id) FILTER (WHERE NOT w.inserted), '{}'),
         coalesce(array_agg(w.written_row), '{}'),
         count(*)
    INTO ids, overwritten, written_rows, taken
  FROM written w;
END
$$;

-- Records result documents, set-based, and writes their scores in
-- isolation. Returns the ids written.
--
-- Validation of a bulk call is optimistic: insert_results takes every
-- well-formed document and its statement checks the rest (uuid casts, the
-- submission reference, a result id twice in one call). Only if it takes
-- fewer rows than there are documents, or fails, does
-- result_document_errors look for the first problem to name; that second
-- pass costs as much as the insert, so the valid path does not pay it. A
-- call of a few documents (a single result) is validated first instead: it
-- then needs no subtransaction around its insert, and a caller making many
-- such calls in one transaction keeps one subtransaction per call (the
-- score write's).
CREATE OR REPLACE FUNCTION scoreledger_private.record_results(docs jsonb, indexed boolean)
RETURNS uuid[]
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

  IF jsonb_array_length(docs) <= 10 THEN
    SELECT * INTO problem FROM scoreledger_private.result_document_errors(docs, indexed);
    IF FOUND THEN
      PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
    END IF;
    -- No subtransaction to retry in: every named id takes the upsert path.
    SELECT * INTO written FROM scoreledger_private.insert_results(tenant, docs, true);
  ELSE
    BEGIN
      SELECT * INTO written FROM scoreledger_private.insert_results(tenant, docs, false);
    EXCEPTION
      WHEN unique_violation THEN
        -- A named id was inserted by another writer (or named twice here)
        -- since the probe: every named id through ON CONFLICT instead.
        BEGIN
          SELECT * INTO written FROM scoreledger_private.insert_results(tenant, docs, true);
        EXCEPTION WHEN OTHERS THEN
          SELECT * INTO problem FROM scoreledger_private.result_document_errors(docs, indexed);
          IF FOUND THEN
            PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
          END IF;
          RAISE;  -- not a problem of the documents: the caller sees the error as it is
        END;
      WHEN OTHERS THEN
        SELECT * INTO problem FROM scoreledger_private.result_document_errors(docs, indexed);
        IF FOUND THEN
          PERFORM scoreledger_private.fail(problem.sqlstate, problem.message);
        END IF;
        RAISE;  -- not a problem of the documents: the caller sees the error as it is
    END;
  END IF;
  IF written.taken <> jsonb_array_length(docs) THEN
    SELECT * INTO problem FROM scoreledger_private.result_document_errors(docs, indexed);
    PERFORM scoreledger_private.fail(coalesce(problem.sqlstate, 'SL422'),
                                     coalesce(problem.message, 'docs: a document is not a valid result document'));
  END IF;

  -- A new statement: the rows above are locked by this transaction, so no
  -- other writer of these results can interleave. The writer takes the
  -- rows as written (no second read of them).
  PERFORM scoreledger_private.write_scores_isolated(tenant, 'evaluation_result', written.ids, written.overwritten,
                                                    written.written_rows);
  RETURN written.ids;
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
  PERFORM scoreledger_private.require_tenant();
  ids := scoreledger_private.record_results(jsonb_build_array(jsonb_build_object(
    'evaluator', evaluator, 'submission_id', submission_id, 'payload', payload, 'error', error,
    'result_id', result_id)), false);
  RETURN ids[1];
END
$$;
COMMENT ON FUNCTION scoreledger.record_evaluation_result(text, uuid, jsonb, text, uuid) IS
  'Records (or, for an existing result_id, overwrites) one evaluation result of a registered evaluator about a submission, and writes its typed scores in the same call; a score-writing failure is logged in score_write_failures, never raised. Returns the result id.';
GRANT EXECUTE ON FUNCTION scoreledger.record_evaluation_result(text, uuid, jsonb, text, uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.record_evaluation_results(docs jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- JIT compiles each big statement for 100 ms or more: never worth it here.
SET jit = off
AS $$
BEGIN
  PERFORM scoreledger_private.require_tenant();
  RETURN cardinality(scoreledger_private.record_results(docs, true));
END
$$;
COMMENT ON FUNCTION scoreledger.record_evaluation_results(jsonb) IS
  'Records a JSON array of result documents {evaluator, submission_id, payload, error, result_id} set-based (all or nothing), and writes all their scores in one statement, isolated from the results: a failing artefact is logged in score_write_failures. Returns how many results were written.';
GRANT EXECUTE ON FUNCTION scoreledger.record_evaluation_results(jsonb) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Review queues, items and annotations
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.create_review_queue(name text, form_schema jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  existing scoreledger_private.review_queues;
  clean_name text := btrim(create_review_queue.name, E' \t\r\n');
BEGIN
  IF clean_name IS NULL OR clean_name !~ '\S' OR length(clean_name) > 200 THEN
    PERFORM scoreledger_private.fail('SL422', 'name: must be a non-empty string of at most 200 characters');
  END IF;
  PERFORM scoreledger_private.check_declarations(form_schema, 'form_schema');
  INSERT INTO scoreledger_private.review_queues (tenant_id, queue_id, name, form_schema)
  VALUES (tenant, gen_random_uuid(), clean_name, form_schema)
  ON CONFLICT ON CONSTRAINT review_queues_tenant_id_name_key DO NOTHING;
  SELECT * INTO existing FROM scoreledger_private.review_queues q WHERE q.tenant_id = tenant AND q.name = clean_name;
  IF existing.form_schema IS DISTINCT FROM form_schema THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'review queue %L already exists with another form schema; create a queue under a new name', clean_name));
  END IF;
  RETURN existing.queue_id;
END
$$;
COMMENT ON FUNCTION scoreledger.create_review_queue(text, jsonb) IS
  'Creates a review queue (idempotent on name) with the form schema its annotations follow, e.g. {"tone": {"type": "choice", "choices": ["ok","rude"]}}; returns its id. The same name with another schema raises SL409.';
GRANT EXECUTE ON FUNCTION scoreledger.create_review_queue(text, jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.add_review_item(queue_id uuid, submission_id uuid DEFAULT NULL,
                                                       message_ref text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  new_id uuid := gen_random_uuid();
BEGIN
  IF queue_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'queue_id: is required');
  END IF;
  IF submission_id IS NULL AND message_ref IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'submission_id: a review item is about a submission or a message (message_ref); give one');
  END IF;
  IF message_ref IS NOT NULL AND (message_ref !~ '\S' OR length(message_ref) > 1000) THEN
    PERFORM scoreledger_private.fail('SL422', 'message_ref: must be a non-empty string of at most 1000 characters');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.review_queues q
                 WHERE q.tenant_id = tenant AND q.queue_id = add_review_item.queue_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('queue_id: review queue %s does not exist', queue_id));
  END IF;
  IF submission_id IS NOT NULL AND NOT EXISTS (
       SELECT 1 FROM scoreledger_private.submissions s
       WHERE s.tenant_id = tenant AND s.submission_id = add_review_item.submission_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('submission_id: submission %s does not exist', submission_id));
  END IF;
  INSERT INTO scoreledger_private.review_items (tenant_id, item_id, queue_id, submission_id, message_ref)
  VALUES (tenant, new_id, queue_id, submission_id, message_ref);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION scoreledger.add_review_item(uuid, uuid, text) IS
  'Adds an item to a review queue: about a submission (its annotations write scores for it), or only about a message (message_ref; no score target). Returns the item id.';
GRANT EXECUTE ON FUNCTION scoreledger.add_review_item(uuid, uuid, text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.save_annotation(review_item_id uuid, data jsonb, status text DEFAULT 'submitted',
                                                       is_authoritative boolean DEFAULT false,
                                                       annotation_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  actor uuid := scoreledger_private.require_actor();
  saved_id uuid := coalesce(annotation_id, gen_random_uuid());
  current_row scoreledger_private.annotations;
BEGIN
  IF review_item_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'review_item_id: is required');
  END IF;
  IF data IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'data: is required (a JSON object of form fields)');
  END IF;
  IF status IS NULL OR status NOT IN ('draft', 'submitted') THEN
    PERFORM scoreledger_private.fail('SL422', 'status: must be draft or submitted');
  END IF;
  IF is_authoritative IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'is_authoritative: must be true or false');
  END IF;
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.review_items i
                 WHERE i.tenant_id = tenant AND i.item_id = review_item_id) THEN
    PERFORM scoreledger_private.fail('SL404', format('review_item_id: review item %s does not exist', review_item_id));
  END IF;

  -- Edit (locking the row: its writers take turns), or insert; a
  -- concurrent insert of the same new id turns this call into an edit.
  FOR attempt IN 1..2 LOOP
    SELECT * INTO current_row FROM scoreledger_private.annotations a
     WHERE a.tenant_id = tenant AND a.annotation_id = saved_id
     FOR NO KEY UPDATE;
    IF FOUND THEN
      IF current_row.item_id <> review_item_id THEN
        PERFORM scoreledger_private.fail('SL422', format(
          'annotation_id: annotation %s belongs to review item %s, not %s', saved_id, current_row.item_id, review_item_id));
      END IF;
      IF current_row.reviewer_id <> actor THEN
        PERFORM scoreledger_private.fail('SL403', format(
          'annotation %s is reviewer %s''s; only its reviewer edits it', saved_id, current_row.reviewer_id));
      END IF;
      UPDATE scoreledger_private.annotations a
         SET data = save_annotation.data, status = save_annotation.status,
             is_authoritative = save_annotation.is_authoritative, updated_at = now(),
             submitted_at = CASE WHEN save_annotation.status = 'submitted' THEN now() ELSE a.submitted_at END
       WHERE a.tenant_id = tenant AND a.annotation_id = saved_id;
      EXIT;
    END IF;
    INSERT INTO scoreledger_private.annotations
      (tenant_id, annotation_id, item_id, reviewer_id, data, status, is_authoritative, submitted_at)
    VALUES (tenant, saved_id, review_item_id, actor, data, status, is_authoritative,
            CASE WHEN status = 'submitted' THEN now() END)
    ON CONFLICT ON CONSTRAINT annotations_pkey DO NOTHING;
    EXIT WHEN FOUND;
  END LOOP;

  -- Every save writes the annotation's scores: a submitted one gets fresh
  -- scores, a draft loses any it had.
  PERFORM scoreledger_private.write_scores_isolated(tenant, 'annotation', ARRAY[saved_id], ARRAY[saved_id]);
  RETURN saved_id;
END
$$;
COMMENT ON FUNCTION scoreledger.save_annotation(uuid, jsonb, text, boolean, uuid) IS
  'Saves an annotation of a review item as the acting reviewer (insert, or edit of an existing annotation_id by its own reviewer) with status draft or submitted, and rewrites its scores in the same call: every submitted save (edits included) writes them, a draft has none. A score-writing failure is logged, never raised. Returns the annotation id.';
GRANT EXECUTE ON FUNCTION scoreledger.save_annotation(uuid, jsonb, text, boolean, uuid) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- The writers, callable on their own
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.write_one_artefact(kind text, id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  outcome record;
BEGIN
  IF kind = 'evaluation_result' THEN
    PERFORM 1 FROM scoreledger_private.evaluation_results r
     WHERE r.tenant_id = tenant AND r.result_id = id FOR NO KEY UPDATE;
  ELSE
    PERFORM 1 FROM scoreledger_private.annotations a
     WHERE a.tenant_id = tenant AND a.annotation_id = id FOR NO KEY UPDATE;
  END IF;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('%s %s does not exist', replace(kind, '_', ' '), id));
  END IF;
  SELECT * INTO outcome FROM scoreledger_private.write_scores_isolated(tenant, kind, ARRAY[id], ARRAY[id]);
  IF outcome.failed > 0 THEN
    RAISE WARNING 'scoreledger: the scores of % % were not written (see scoreledger.score_write_failures)',
      replace(kind, '_', ' '), id;
    RETURN NULL;
  END IF;
  RETURN outcome.written;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.write_evaluation_result_scores(result_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_tenant();
  RETURN scoreledger_private.write_one_artefact('evaluation_result', result_id);
END
$$;
COMMENT ON FUNCTION scoreledger.write_evaluation_result_scores(uuid) IS
  'Rewrites the typed scores of one evaluation result (delete then insert, one transaction) and returns how many it now has. On a writer failure the failure is logged in score_write_failures, a WARNING is raised and the result is null. SL404 for an unknown result.';
GRANT EXECUTE ON FUNCTION scoreledger.write_evaluation_result_scores(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.write_annotation_scores(annotation_id uuid)
RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_tenant();
  RETURN scoreledger_private.write_one_artefact('annotation', annotation_id);
END
$$;
COMMENT ON FUNCTION scoreledger.write_annotation_scores(uuid) IS
  'Rewrites the typed scores of one annotation (delete then insert, one transaction) and returns how many it now has (none unless submitted and about a submission). On a writer failure the failure is logged in score_write_failures, a WARNING is raised and the result is null. SL404 for an unknown annotation.';
GRANT EXECUTE ON FUNCTION scoreledger.write_annotation_scores(uuid) TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Backfill: chunks in keyset order (artefact id), each its own
-- transaction, driven by `scoreledger scores backfill`.
-- ---------------------------------------------------------------------

-- The next chunk of a backfill: the window of the next `batch_size` ids
-- after `after_id` in key order (`last_id`: the window's last id, null when
-- nothing is left), and of those the artefacts that lack their scores (or,
-- forced, all of them): `ids`, locked FOR NO KEY UPDATE SKIP LOCKED (an
-- artefact a live writer or another backfill holds is theirs to write),
-- with their `rows` (results). "Lacking": it would write something (an
-- error-free result / a submitted annotation, with a submission and a
-- non-empty object) and has neither scores nor warnings, or its last write
-- failed. `stale`: those that may have something to replace (all, below).
--
-- Plan-proof by construction. The window is an index range scan with a
-- LIMIT and no filter (a filtered "next N lacking" query lets the planner
-- choose a scan and sort of the tenant's whole table when it misjudges
-- the filter). Each artefact of the window is then tested with a count(*)
-- over an index prefix: an EXISTS may be hashed over the whole scores
-- table, and a LIMIT 1 may prefer a sequential scan "until the first
-- match" -- for an artefact without scores, the whole table. The probes
-- compare columns with columns: an expression over a value (a cast, a
-- JSON operator) is not leakproof, and row-level security then forbids it
-- as an index condition.
CREATE OR REPLACE FUNCTION scoreledger_private.next_backfill_chunk(tenant uuid, kind text, after_id uuid,
                                                                   batch_size integer, force boolean,
                                                                   OUT ids uuid[], OUT stale uuid[],
                                                                   OUT rows scoreledger_private.evaluation_results[],
                                                                   OUT last_id uuid)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  lower_bound uuid := coalesce(after_id, '00000000-0000-0000-0000-000000000000');
  window_ids uuid[];
BEGIN
  IF kind = 'evaluation_result' THEN
    window_ids := ARRAY(
      SELECT r.result_id FROM scoreledger_private.evaluation_results r
      WHERE r.tenant_id = tenant AND r.result_id >= lower_bound AND r.result_id IS DISTINCT FROM after_id
      ORDER BY r.result_id LIMIT batch_size);
    SELECT coalesce(array_agg((c.r).result_id ORDER BY w.n), '{}'), coalesce(array_agg(c.r ORDER BY w.n), '{}')
      INTO ids, rows
    FROM unnest(window_ids) WITH ORDINALITY AS w(id, n)
    CROSS JOIN LATERAL (
      SELECT r
      FROM scoreledger_private.evaluation_results r
      WHERE r.tenant_id = tenant AND r.result_id = w.id
        AND (force
             OR (r.error IS NULL AND r.submission_id IS NOT NULL
                 AND jsonb_typeof(r.payload) = 'object' AND r.payload <> '{}'::jsonb
                 AND (SELECT count(*) FROM scoreledger_private.scores s
                      WHERE s.tenant_id = r.tenant_id AND s.evaluation_result_id IS NOT NULL
                        AND s.evaluation_result_id = r.result_id) = 0
                 AND (SELECT count(*) FROM scoreledger_private.score_write_warnings w
                      WHERE w.tenant_id = r.tenant_id AND w.source_kind = 'evaluation_result'
                        AND w.source_id = r.result_id) = 0)
             OR (SELECT count(*) FROM scoreledger_private.score_write_failures f
                 WHERE f.tenant_id = r.tenant_id AND f.resolved_at IS NULL
                   AND f.source_kind = 'evaluation_result' AND f.source_id = r.result_id) > 0)
      FOR NO KEY UPDATE OF r SKIP LOCKED) c;
  ELSE
    window_ids := ARRAY(
      SELECT a.annotation_id FROM scoreledger_private.annotations a
      WHERE a.tenant_id = tenant AND a.annotation_id >= lower_bound AND a.annotation_id IS DISTINCT FROM after_id
      ORDER BY a.annotation_id LIMIT batch_size);
    SELECT coalesce(array_agg(c.annotation_id ORDER BY w.n), '{}') INTO ids
    FROM unnest(window_ids) WITH ORDINALITY AS w(id, n)
    CROSS JOIN LATERAL (
      SELECT a.annotation_id
      FROM scoreledger_private.annotations a
      WHERE a.tenant_id = tenant AND a.annotation_id = w.id
        AND (force
             OR (a.status = 'submitted' AND jsonb_typeof(a.data) = 'object' AND a.data <> '{}'::jsonb
                 AND (SELECT i.submission_id FROM scoreledger_private.review_items i
                      WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id) IS NOT NULL
                 AND (SELECT count(*) FROM scoreledger_private.scores s
                      WHERE s.tenant_id = a.tenant_id AND s.annotation_id IS NOT NULL
                        AND s.annotation_id = a.annotation_id) = 0
                 AND (SELECT count(*) FROM scoreledger_private.score_write_warnings w
                      WHERE w.tenant_id = a.tenant_id AND w.source_kind = 'annotation'
                        AND w.source_id = a.annotation_id) = 0)
             OR (SELECT count(*) FROM scoreledger_private.score_write_failures f
                 WHERE f.tenant_id = a.tenant_id AND f.resolved_at IS NULL
                   AND f.source_kind = 'annotation' AND f.source_id = a.annotation_id) > 0)
      FOR NO KEY UPDATE OF a SKIP LOCKED) c;
  END IF;
  last_id := window_ids[cardinality(window_ids)];
  -- Every artefact of the chunk is written delete-then-insert. Even one
  -- that lacked scores when this statement's snapshot was taken may have
  -- them now: a concurrent backfill can have written and committed it just
  -- before this one locked it (a lock, unlike an update, is not re-checked
  -- under READ COMMITTED). Replacing them is correct; inserting beside
  -- them would be a duplicate.
  stale := ids;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.check_backfill_arguments(source_kind text, batch_size integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
BEGIN
  IF source_kind IS NULL OR source_kind NOT IN ('evaluation_result', 'annotation') THEN
    PERFORM scoreledger_private.fail('SL422', 'source_kind: must be evaluation_result or annotation');
  END IF;
  IF batch_size IS NULL OR batch_size NOT BETWEEN 1 AND 100000 THEN
    PERFORM scoreledger_private.fail('SL422', 'batch_size: must be between 1 and 100000');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger.backfill_scores(source_kind text, after_id uuid DEFAULT NULL,
                                                       batch_size integer DEFAULT 1000, force boolean DEFAULT false)
RETURNS TABLE (artefacts integer, scores_written bigint, failed integer, last_id uuid)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  ids uuid[];
  stale uuid[];
  rows scoreledger_private.evaluation_results[];
  outcome record;
BEGIN
  PERFORM scoreledger_private.check_backfill_arguments(source_kind, batch_size);
  IF force IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'force: must be true or false');
  END IF;
  SELECT c.ids, c.stale, c.rows, c.last_id INTO ids, stale, rows, last_id
  FROM scoreledger_private.next_backfill_chunk(tenant, source_kind, after_id, batch_size, force) c;
  SELECT * INTO outcome FROM scoreledger_private.write_scores_isolated(tenant, source_kind, ids, stale, rows);
  artefacts := cardinality(ids);
  scores_written := outcome.written;
  failed := outcome.failed;
  -- A forced pass remembers how far it got, in the chunk's own transaction,
  -- and forgets it when it reaches the end.
  IF force AND last_id IS NOT NULL THEN
    INSERT INTO scoreledger_private.score_backfill_cursors AS c (tenant_id, source_kind, last_id)
    VALUES (tenant, backfill_scores.source_kind, last_id)
    ON CONFLICT ON CONSTRAINT score_backfill_cursors_pkey DO UPDATE
      SET last_id = greatest(c.last_id, excluded.last_id), updated_at = clock_timestamp();
  ELSIF force THEN
    DELETE FROM scoreledger_private.score_backfill_cursors c
     WHERE c.tenant_id = tenant AND c.source_kind = backfill_scores.source_kind;
  END IF;
  RETURN NEXT;
END
$$;
COMMENT ON FUNCTION scoreledger.backfill_scores(text, uuid, integer, boolean) IS
  'One backfill chunk (commit after each call): of the next batch_size artefacts of source_kind (evaluation_result | annotation) after after_id in id order, writes the scores of those that lack them (force: all), skipping artefacts another writer holds. A failing artefact is logged and skipped. Returns the artefacts written, scores written, failures and the last id examined (pass it as after_id next; null: nothing left).';
GRANT EXECUTE ON FUNCTION scoreledger.backfill_scores(text, uuid, integer, boolean) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.score_backfill_pending(force boolean DEFAULT false)
RETURNS TABLE (source_kind text, artefacts bigint, resume_after uuid)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  cursor_id uuid;
BEGIN
  IF force IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'force: must be true or false');
  END IF;
  -- Results.
  SELECT c.last_id INTO cursor_id FROM scoreledger_private.score_backfill_cursors c
   WHERE c.tenant_id = tenant AND c.source_kind = 'evaluation_result' AND force;
  RETURN QUERY
  SELECT 'evaluation_result'::text, count(*), cursor_id
  FROM scoreledger_private.evaluation_results r
  WHERE r.tenant_id = tenant AND (cursor_id IS NULL OR r.result_id > cursor_id)
    AND (force
         OR (r.error IS NULL AND r.submission_id IS NOT NULL
             AND jsonb_typeof(r.payload) = 'object' AND r.payload <> '{}'::jsonb
             AND NOT EXISTS (SELECT 1 FROM scoreledger_private.scores s
                             WHERE s.tenant_id = r.tenant_id AND s.evaluation_result_id IS NOT NULL
                               AND s.evaluation_result_id = r.result_id)
             AND NOT EXISTS (SELECT 1 FROM scoreledger_private.score_write_warnings w
                             WHERE w.tenant_id = r.tenant_id AND w.source_kind = 'evaluation_result'
                               AND w.source_id = r.result_id))
         OR EXISTS (SELECT 1 FROM scoreledger_private.score_write_failures f
                    WHERE f.tenant_id = r.tenant_id AND f.resolved_at IS NULL
                      AND f.source_kind = 'evaluation_result' AND f.source_id = r.result_id));
  -- Annotations.
  cursor_id := NULL;
  SELECT c.last_id INTO cursor_id FROM scoreledger_private.score_backfill_cursors c
   WHERE c.tenant_id = tenant AND c.source_kind = 'annotation' AND force;
  RETURN QUERY
  SELECT 'annotation'::text, count(*), cursor_id
  FROM scoreledger_private.annotations a
  WHERE a.tenant_id = tenant AND (cursor_id IS NULL OR a.annotation_id > cursor_id)
    AND (force
         OR (a.status = 'submitted' AND jsonb_typeof(a.data) = 'object' AND a.data <> '{}'::jsonb
             AND EXISTS (SELECT 1 FROM scoreledger_private.review_items i
                         WHERE i.tenant_id = a.tenant_id AND i.item_id = a.item_id AND i.submission_id IS NOT NULL)
             AND NOT EXISTS (SELECT 1 FROM scoreledger_private.scores s
                             WHERE s.tenant_id = a.tenant_id AND s.annotation_id IS NOT NULL
                               AND s.annotation_id = a.annotation_id)
             AND NOT EXISTS (SELECT 1 FROM scoreledger_private.score_write_warnings w
                             WHERE w.tenant_id = a.tenant_id AND w.source_kind = 'annotation'
                               AND w.source_id = a.annotation_id))
         OR EXISTS (SELECT 1 FROM scoreledger_private.score_write_failures f
                    WHERE f.tenant_id = a.tenant_id AND f.resolved_at IS NULL
                      AND f.source_kind = 'annotation' AND f.source_id = a.annotation_id));
END
$$;
COMMENT ON FUNCTION scoreledger.score_backfill_pending(boolean) IS
  'What a backfill of the current tenant has to do, per source_kind: the artefacts lacking scores (force: all of them after resume_after, where an interrupted forced backfill stopped).';
GRANT EXECUTE ON FUNCTION scoreledger.score_backfill_pending(boolean) TO scoreledger_app;

-- The migration-time top-up (phase 2 of docs/scores.md): every tenant, in
-- the caller's transaction, artefacts lacking scores only. For operators
-- (reads across tenants): not granted to scoreledger_app.
CREATE OR REPLACE FUNCTION scoreledger.top_up_scores(batch_size integer DEFAULT 10000)
RETURNS TABLE (tenant_id uuid, source_kind text, artefacts bigint, scores_written bigint, failed bigint)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
  caller_tenant uuid := scoreledger.current_tenant();
  caller_actor uuid := scoreledger.current_actor();
  t uuid;
  kind text;
  ids uuid[];
  stale uuid[];
  rows scoreledger_private.evaluation_results[];
  after_id uuid;
  outcome record;
BEGIN
  PERFORM scoreledger_private.check_backfill_arguments('evaluation_result', batch_size);
  FOR t IN SELECT x.tenant_id FROM scoreledger_private.tenants x ORDER BY x.tenant_id LOOP
    PERFORM scoreledger_private.enter_context(t);
    FOREACH kind IN ARRAY ARRAY['evaluation_result', 'annotation'] LOOP
      tenant_id := t;
      source_kind := kind;
      artefacts := 0;
      scores_written := 0;
      failed := 0;
      after_id := NULL;
      LOOP
        SELECT c.ids, c.stale, c.rows, c.last_id INTO ids, stale, rows, after_id
        FROM scoreledger_private.next_backfill_chunk(t, kind, after_id, batch_size, false) c;
        EXIT WHEN after_id IS NULL;
        SELECT * INTO outcome FROM scoreledger_private.write_scores_isolated(t, kind, ids, stale, rows);
        artefacts := artefacts + cardinality(ids);
        scores_written := scores_written + outcome.written;
        failed := failed + outcome.failed;
      END LOOP;
      IF artefacts > 0 THEN
        RETURN NEXT;
      END IF;
    END LOOP;
  END LOOP;
  PERFORM scoreledger_private.enter_context(caller_tenant, caller_actor);
END
$$;
COMMENT ON FUNCTION scoreledger.top_up_scores(integer) IS
  'Migration-time top-up, all tenants, in the caller''s transaction: writes the scores of every artefact that lacks them (rows created between a manual `scoreledger scores backfill` and this deploy). For operators and migrations; not granted to scoreledger_app. One row per tenant and source kind with work done.';

-- ---------------------------------------------------------------------
-- Read side
-- ---------------------------------------------------------------------

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
  'The read-side filter of ADR-0014: automated scores plus the human scores of authoritative submitted annotations only.';
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
    WHERE s.tenant_id = scoreledger.current_tenant()
  ), artefacts AS (
    -- Every artefact with the submission its scores target and the
    -- document and declarations they come from (null: it has no scores).
    SELECT 'evaluation_result' AS source_kind, r.result_id AS source_id, r.submission_id,
           CASE WHEN r.error IS NULL AND r.submission_id IS NOT NULL THEN r.payload END AS doc, e.output_schema AS declarations
    FROM scoreledger_private.evaluation_results r
    JOIN scoreledger_private.evaluators e ON e.tenant_id = r.tenant_id AND e.evaluator_id = r.evaluator_id
    WHERE r.tenant_id = scoreledger.current_tenant()
    UNION ALL
    SELECT 'annotation', a.annotation_id, i.submission_id,
           CASE WHEN a.status = 'submitted' AND i.submission_id IS NOT NULL THEN a.data END, q.form_schema
    FROM scoreledger_private.annotations a
    JOIN scoreledger_private.review_items i ON i.tenant_id = a.tenant_id AND i.item_id = a.item_id
    JOIN scoreledger_private.review_queues q ON q.tenant_id = i.tenant_id AND q.queue_id = i.queue_id
    WHERE a.tenant_id = scoreledger.current_tenant()
  ), failing AS (
    SELECT f.source_kind, f.source_id FROM scoreledger_private.score_write_failures f
    WHERE f.tenant_id = scoreledger.current_tenant() AND f.resolved_at IS NULL
  ), unwritten AS (
    -- Artefacts the backfill has yet to write (what it picks without
    -- --force): no scores and no warnings of their own. Work pending, not
    -- a breach: an artefact written through the API always has one or the
    -- other, or an open failure.
    SELECT a.source_kind, a.source_id FROM artefacts a
    WHERE a.doc IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM stored st WHERE st.source_kind = a.source_kind AND st.source_id = a.source_id)
      AND NOT EXISTS (SELECT 1 FROM scoreledger_private.score_write_warnings w
                      WHERE w.tenant_id = scoreledger.current_tenant()
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
