-- =====================================================================
-- Score layer, part 5: backfill -- writing the scores of artefacts that
-- lack them, in chunks of keyset order (artefact id), each its own
-- transaction, driven by `scoreledger scores backfill`; and the
-- migration-time top-up of every tenant.
-- =====================================================================

-- Row-level security of this part's table (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.score_backfill_cursors');

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
             OR (scoreledger_private.result_yields_scores(r.error, r.submission_id, r.payload)
                 AND r.payload <> '{}'::jsonb
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
             OR (scoreledger_private.annotation_yields_scores(a.status, a.data) AND a.data <> '{}'::jsonb
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.backfill_scores');
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
         OR (scoreledger_private.result_yields_scores(r.error, r.submission_id, r.payload)
             AND r.payload <> '{}'::jsonb
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
         OR (scoreledger_private.annotation_yields_scores(a.status, a.data) AND a.data <> '{}'::jsonb
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.top_up_scores', 'none');
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
