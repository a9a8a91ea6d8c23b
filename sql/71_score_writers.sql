-- =====================================================================
-- Score layer, part 2: the writers, with failure isolation.
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
-- =====================================================================

-- Row-level security of this part's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.scores');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_write_warnings');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_write_failures');

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
    WHERE scoreledger_private.result_yields_scores(r.error, r.submission_id, r.payload)
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
                          AND scoreledger_private.annotation_yields_scores(a.status, a.data)
                          AND i.submission_id IS NOT NULL OFFSET 0) a
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.write_evaluation_result_scores');
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.write_annotation_scores');
  PERFORM scoreledger_private.require_tenant();
  RETURN scoreledger_private.write_one_artefact('annotation', annotation_id);
END
$$;
COMMENT ON FUNCTION scoreledger.write_annotation_scores(uuid) IS
  'Rewrites the typed scores of one annotation (delete then insert, one transaction) and returns how many it now has (none unless submitted and about a submission). On a writer failure the failure is logged in score_write_failures, a WARNING is raised and the result is null. SL404 for an unknown annotation.';
GRANT EXECUTE ON FUNCTION scoreledger.write_annotation_scores(uuid) TO scoreledger_app;
