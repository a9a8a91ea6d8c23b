-- =====================================================================
-- Remediation: correction batches — create, list, show, apply, revert.
--
-- Apply and revert move a batch along its workflow around one routine,
-- rescore_batch (sql/49_rescoring.sql), which rescores the submissions the
-- batch reaches and re-evaluates the intervention rule over their learners.
-- =====================================================================

-- Row-level security of this domain's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.correction_batches');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.corrections');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.correction_submissions');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.batch_events');

-- ---------------------------------------------------------------------
-- Guards next to the data
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.tg_correction_batches__guard()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM scoreledger_private.fail('SL423', 'correction batches are never deleted; discard a draft instead');
  END IF;
  -- Who made a batch, and when, never changes: dual control depends on it.
  IF NEW.created_by IS DISTINCT FROM OLD.created_by OR NEW.created_at IS DISTINCT FROM OLD.created_at
     OR NEW.batch_id IS DISTINCT FROM OLD.batch_id OR NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
    PERFORM scoreledger_private.fail('SL423', format('correction batch %s: its id, tenant, creator and creation time are immutable', OLD.batch_id));
  END IF;
  -- Once applied (a frozen status of the machine, sql/25_workflow.sql), a
  -- batch is history: only a move of the machine (applied -> reverted,
  -- which records the compensating batch) may touch it, and a compensating
  -- batch's result is recorded once, after its rescoring.
  IF (SELECT s.frozen FROM scoreledger_private.workflow_statuses s WHERE s.machine = 'batch' AND s.status = OLD.status) AND (
       NEW.payload IS DISTINCT FROM OLD.payload OR NEW.reason IS DISTINCT FROM OLD.reason
    OR NEW.created_by IS DISTINCT FROM OLD.created_by OR NEW.created_at IS DISTINCT FROM OLD.created_at
    OR NEW.applied_at IS DISTINCT FROM OLD.applied_at OR NEW.applied_by IS DISTINCT FROM OLD.applied_by
    OR NEW.applied_seq IS DISTINCT FROM OLD.applied_seq
    OR (NEW.apply_result IS DISTINCT FROM OLD.apply_result AND OLD.apply_result IS NOT NULL)
    OR ((NEW.figures_submissions_affected, NEW.figures_pass_to_fail, NEW.figures_fail_to_pass,
         NEW.figures_interventions_opened, NEW.figures_interventions_withdrawn, NEW.figures_remedial_completed, NEW.figures_at)
        IS DISTINCT FROM (OLD.figures_submissions_affected, OLD.figures_pass_to_fail, OLD.figures_fail_to_pass,
         OLD.figures_interventions_opened, OLD.figures_interventions_withdrawn, OLD.figures_remedial_completed, OLD.figures_at)
        AND OLD.apply_result IS NOT NULL)
    OR NEW.reverts_batch_id IS DISTINCT FROM OLD.reverts_batch_id
    OR NOT (NEW.status = OLD.status AND NEW.reverted_by_batch_id IS NOT DISTINCT FROM OLD.reverted_by_batch_id
            OR OLD.reverted_by_batch_id IS NULL AND EXISTS (
                 SELECT 1 FROM scoreledger_private.workflow_transitions t
                 WHERE t.machine = 'batch' AND t.from_status = OLD.status AND t.to_status = NEW.status AND NOT t.read_only))) THEN
    PERFORM scoreledger_private.fail('SL423', format('correction batch %s is %s; its record is immutable', OLD.batch_id, OLD.status));
  END IF;
  -- Who edited the corrections only grows, by the actor who edits them now
  -- (the corrections' guards add them; so does a change of the payload
  -- document itself): no edit loses its author before the approval.
  IF NEW.payload IS DISTINCT FROM OLD.payload THEN
    NEW.payload_editors := scoreledger_private.with_payload_editor(OLD.payload_editors);
  END IF;
  IF NEW.payload_editors IS DISTINCT FROM OLD.payload_editors
     AND NEW.payload_editors IS DISTINCT FROM scoreledger_private.with_payload_editor(OLD.payload_editors) THEN
    PERFORM scoreledger_private.fail('SL423', format(
      'correction batch %s: its payload editors are recorded by the engine, never rewritten', OLD.batch_id));
  END IF;
  RETURN NEW;
END
$$;

-- The workflow's state machine (sql/25_workflow.sql) and dual control,
-- enforced on the row itself: no path — function or the owner's direct
-- INSERT or UPDATE — skips a step. A row is inserted only in the machine's
-- initial status, with no outcome yet; nobody approves a batch they
-- created, last edited or whose corrections they changed; a compensating
-- batch is applied only as the other half of its original's revert. The
-- row still holds OLD here, so batch_transitions lists the moves out of
-- OLD.status under the tenant's policy.
CREATE OR REPLACE FUNCTION scoreledger_private.tg_correction_batches__workflow()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM scoreledger_private.workflow_statuses s
                   WHERE s.machine = 'batch' AND s.status = NEW.status AND s.initial)
       OR NEW.applied_at IS NOT NULL OR NEW.applied_by IS NOT NULL OR NEW.applied_seq IS NOT NULL
       OR NEW.apply_result IS NOT NULL OR NEW.reverted_by_batch_id IS NOT NULL
       OR NEW.updated_by IS NOT NULL OR NEW.payload_editors <> '{}' THEN
      PERFORM scoreledger_private.fail('SL423', format(
        'correction batch %s: a batch is inserted as a draft with no outcome; it moves on only along the workflow', NEW.batch_id));
    END IF;
    IF NEW.created_by IS DISTINCT FROM scoreledger.current_actor() THEN
      PERFORM scoreledger_private.fail('SL403', format(
        'correction batch %s: its creator must be the acting user', NEW.batch_id));
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT EXISTS (
       SELECT 1 FROM scoreledger_private.batch_transitions bt
       WHERE bt.tenant_id = OLD.tenant_id AND bt.batch_id = OLD.batch_id AND bt.status = OLD.status
         AND bt.to_status = NEW.status AND NOT bt.read_only AND bt.policy_allows AND bt.kind_allows) THEN
    PERFORM scoreledger_private.fail('SL409', format('batch %s cannot go from %s to %s', OLD.batch_id, OLD.status, NEW.status));
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status
     AND EXISTS (SELECT 1 FROM scoreledger_private.workflow_transitions t
                 WHERE t.machine = 'batch' AND t.from_status = OLD.status AND t.to_status = NEW.status AND t.dual_control)
     AND (scoreledger.current_actor() IS NULL
          OR scoreledger.current_actor() IN (OLD.created_by, coalesce(OLD.updated_by, OLD.created_by),
                                             NEW.created_by, coalesce(NEW.updated_by, NEW.created_by))
          OR scoreledger.current_actor() = ANY (OLD.payload_editors || NEW.payload_editors)) THEN
    PERFORM scoreledger_private.fail('SL403', format(
      'dual control: batch %s must be approved by someone other than its creator, its last editor and whoever changed its corrections',
      OLD.batch_id));
  END IF;
  -- A revert's two halves name each other: the original, reverted, points
  -- at its compensating batch (still a draft, rescored), which then
  -- compensates: neither move is made alone.
  IF NEW.status IS DISTINCT FROM OLD.status AND NEW.status = 'reverted' AND NEW.reverted_by_batch_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM scoreledger_private.correction_batches c
                     WHERE c.tenant_id = OLD.tenant_id AND c.batch_id = NEW.reverted_by_batch_id
                       AND c.reverts_batch_id = OLD.batch_id AND c.status = 'draft') THEN
    PERFORM scoreledger_private.fail('SL423', format(
      'batch %s is reverted only by its own compensating batch, created by revert_correction_batch', OLD.batch_id));
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND OLD.reverts_batch_id IS NOT NULL
     AND NOT EXISTS (SELECT 1 FROM scoreledger_private.correction_batches o
                     WHERE o.tenant_id = OLD.tenant_id AND o.batch_id = OLD.reverts_batch_id
                       AND o.reverted_by_batch_id = OLD.batch_id) THEN
    PERFORM scoreledger_private.fail('SL409', format(
      'compensating batch %s is applied only by revert_correction_batch of batch %s', OLD.batch_id, OLD.reverts_batch_id));
  END IF;
  RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER batch_workflow BEFORE INSERT OR UPDATE OF status ON scoreledger_private.correction_batches
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_correction_batches__workflow();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_batches', 'batch_workflow',
  'a batch is inserted as a draft and moves only along the state machine; dual control on approval');

CREATE OR REPLACE TRIGGER batch_record_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.correction_batches
  FOR EACH ROW EXECUTE FUNCTION scoreledger_private.tg_correction_batches__guard();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_batches', 'batch_record_immutable',
  'a batch''s identity and an applied batch''s record never change; batches are never deleted');
CREATE OR REPLACE TRIGGER batch_never_truncated BEFORE TRUNCATE ON scoreledger_private.correction_batches
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.correction_batches', 'batch_never_truncated',
  'batches are never truncated');

-- The corrections' own guards (editable batches only, editors recorded)
-- are in sql/48_corrections.sql, next to the rows they guard.

CREATE OR REPLACE TRIGGER batch_events_append_only BEFORE UPDATE OR DELETE ON scoreledger_private.batch_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.batch_events', 'batch_events_append_only',
  'batch events are append-only');
CREATE OR REPLACE TRIGGER batch_events_never_truncated BEFORE TRUNCATE ON scoreledger_private.batch_events
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg__append_only();
SELECT scoreledger_private.declare_guard('scoreledger_private.batch_events', 'batch_events_never_truncated',
  'batch events are never truncated');

-- ---------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger_private.record_batch_event(
  batch_id uuid, from_status text, to_status text, note text DEFAULT NULL)
RETURNS void
LANGUAGE sql VOLATILE
AS $$
  INSERT INTO scoreledger_private.batch_events (tenant_id, batch_id, from_status, to_status, actor_id, note)
  VALUES (scoreledger.current_tenant(), batch_id, from_status, to_status, scoreledger.current_actor(), note)
$$;

-- The batch row, locked: the row whose state decides every transition.
CREATE OR REPLACE FUNCTION scoreledger_private.lock_batch(batch_id uuid)
RETURNS scoreledger_private.correction_batches
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  tenant uuid;
  batch scoreledger_private.correction_batches;
BEGIN
  tenant := scoreledger_private.require_tenant();
  -- A later call in its transaction never waits for the row (no deadlock
  -- across calls: the rule of sql/30_scoring.sql's holds_locks).
  IF scoreledger_private.holds_locks() THEN
    PERFORM scoreledger_private.lock_batch_nowait(batch_id, 'this batch action');
  END IF;
  SELECT * INTO batch FROM scoreledger_private.correction_batches b
  WHERE b.tenant_id = tenant AND b.batch_id = lock_batch.batch_id
  FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    PERFORM scoreledger_private.fail('SL404', format('correction batch %s does not exist', batch_id));
  END IF;
  RETURN batch;
END
$$;

-- A later call (sql/30_scoring.sql) takes the batch row without waiting:
-- SL409 if another transaction holds it. lock_batch then finds it held.
CREATE OR REPLACE FUNCTION scoreledger_private.lock_batch_nowait(batch_id uuid, fn text)
RETURNS void
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  PERFORM 1 FROM scoreledger_private.correction_batches b
  WHERE b.tenant_id = scoreledger_private.require_tenant() AND b.batch_id = lock_batch_nowait.batch_id
  FOR NO KEY UPDATE NOWAIT;
EXCEPTION WHEN lock_not_available THEN
  PERFORM scoreledger_private.refuse_lock_wait(fn, format('correction batch %s', batch_id));
END
$$;

-- ---------------------------------------------------------------------
-- API
-- ---------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scoreledger.create_correction_batch(reason text, corrections jsonb)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  actor uuid := scoreledger_private.require_actor();
  new_batch uuid := gen_random_uuid();
  expanded jsonb;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.create_correction_batch');
  PERFORM scoreledger_private.require_capability('create_batch');
  IF reason IS NULL OR reason !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'reason: must not be empty (say why the scores change)');
  END IF;
  PERFORM scoreledger_private.require_text_within('reason', reason, scoreledger_private.input_limit('reason_chars'));
  -- The payload is the expansion: what apply, preview and revert read.
  expanded := scoreledger_private.expand_corrections(corrections);
  INSERT INTO scoreledger_private.correction_batches (tenant_id, batch_id, status, reason, payload, created_by)
  VALUES (scoreledger.current_tenant(), new_batch, scoreledger_private.initial_status('batch'),
          btrim(reason, E' \t\r\n'), expanded, actor);
  PERFORM scoreledger_private.store_corrections(new_batch, expanded);
  PERFORM scoreledger_private.store_preview_figures(new_batch);
  PERFORM scoreledger_private.record_batch_event(new_batch, NULL, scoreledger_private.initial_status('batch'));
  RETURN new_batch;
END
$$;
COMMENT ON FUNCTION scoreledger.create_correction_batch(text, jsonb) IS
  'Validates a corrections document (SL422 naming the entry), expands its shorthand entries (no evaluation_version_id: every version containing the question version; a tag: every item carrying it) and stores the concrete entries as a draft batch with reason and creator (the actor).';
GRANT EXECUTE ON FUNCTION scoreledger.create_correction_batch(text, jsonb) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.apply_correction_batch(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  actor uuid := scoreledger_private.require_actor();
  batch scoreledger_private.correction_batches;
  to_status text;
  counts record;
  result jsonb;
  late boolean;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.apply_correction_batch');
  late := scoreledger_private.holds_locks();
  IF late THEN
    PERFORM scoreledger_private.lock_batch_nowait(batch_id, 'scoreledger.apply_correction_batch');
  END IF;
  batch := scoreledger_private.lock_batch(batch_id);
  -- Idempotence, not a transition: applying an applied batch again
  -- returns what the first apply did.
  IF batch.status IN (SELECT t.to_status FROM scoreledger_private.workflow_transitions t
                      WHERE t.machine = 'batch' AND t.action = 'apply') THEN
    RETURN batch.apply_result || jsonb_build_object('already_applied', true);
  END IF;
  to_status := scoreledger_private.require_transition(batch, 'apply');

  SELECT * INTO counts FROM scoreledger_private.rescore_batch(batch.batch_id, false, batch.batch_id, late,
                                                               'scoreledger.apply_correction_batch');
  result := jsonb_build_object('batch_id', batch.batch_id, 'status', to_status,
    'submissions_rescored', counts.submissions_rescored, 'scores_changed', counts.scores_changed,
    'already_applied', false);
  UPDATE scoreledger_private.correction_batches b
     SET status = to_status, applied_at = clock_timestamp(), applied_by = actor,
         applied_seq = nextval('scoreledger_private.apply_seq'), apply_result = result,
         figures_submissions_affected = counts.submissions_rescored, figures_pass_to_fail = counts.pass_to_fail,
         figures_fail_to_pass = counts.fail_to_pass, figures_interventions_opened = counts.interventions_opened,
         figures_interventions_withdrawn = counts.interventions_withdrawn,
         figures_remedial_completed = counts.remedial_completed, figures_at = clock_timestamp()
   WHERE b.tenant_id = batch.tenant_id AND b.batch_id = batch.batch_id;
  PERFORM scoreledger_private.record_batch_event(batch.batch_id, batch.status, to_status,
    format('%s submissions rescored, %s scores changed', counts.submissions_rescored, counts.scores_changed));
  RETURN result;
END
$$;
COMMENT ON FUNCTION scoreledger.apply_correction_batch(uuid) IS
  'Applies a draft (or approved) batch: rescores every submission containing a targeted item, one history row each. Idempotent: re-applying returns the first result with already_applied true.';
GRANT EXECUTE ON FUNCTION scoreledger.apply_correction_batch(uuid) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.revert_correction_batch(batch_id uuid, reason text)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  actor uuid := scoreledger_private.require_actor();
  original scoreledger_private.correction_batches;
  compensation scoreledger_private.correction_batches;
  compensating uuid := gen_random_uuid();
  to_status text;
  compensate_to text;
  counts record;
  late boolean;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.revert_correction_batch');
  late := scoreledger_private.holds_locks();
  IF late THEN
    PERFORM scoreledger_private.lock_batch_nowait(batch_id, 'scoreledger.revert_correction_batch');
  END IF;
  original := scoreledger_private.lock_batch(batch_id);
  to_status := scoreledger_private.require_transition(original, 'revert');
  IF reason IS NULL OR reason !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', 'reason: must not be empty (say why the batch is reverted)');
  END IF;
  PERFORM scoreledger_private.require_text_within('reason', reason, scoreledger_private.input_limit('reason_chars'));

  -- The compensating batch carries the original's corrections for the
  -- record; active_batches never counts a compensating batch. It is
  -- inserted as a draft like any batch and reaches applied by the machine's
  -- `compensate`, once the original names it.
  INSERT INTO scoreledger_private.correction_batches
    (tenant_id, batch_id, status, reason, payload, created_by, reverts_batch_id)
  VALUES (original.tenant_id, compensating, scoreledger_private.initial_status('batch'), btrim(reason, E' \t\r\n'),
          original.payload, actor, original.batch_id);
  INSERT INTO scoreledger_private.corrections
    (tenant_id, batch_id, ordinal, correction_type, evaluation_version_id, question_version_id, correct, correct_mask, scoped)
  SELECT c.tenant_id, compensating, c.ordinal, c.correction_type, c.evaluation_version_id, c.question_version_id,
         c.correct, c.correct_mask, c.scoped
  FROM scoreledger_private.corrections c WHERE c.tenant_id = original.tenant_id AND c.batch_id = original.batch_id;
  INSERT INTO scoreledger_private.correction_submissions (tenant_id, batch_id, ordinal, submission_id)
  SELECT cs.tenant_id, compensating, cs.ordinal, cs.submission_id
  FROM scoreledger_private.correction_submissions cs WHERE cs.tenant_id = original.tenant_id AND cs.batch_id = original.batch_id;
  SELECT * INTO compensation FROM scoreledger_private.correction_batches b
  WHERE b.tenant_id = original.tenant_id AND b.batch_id = compensating;
  compensate_to := scoreledger_private.require_transition(compensation, 'compensate');

  SELECT * INTO counts FROM scoreledger_private.rescore_batch(original.batch_id, true, compensating, late,
                                                               'scoreledger.revert_correction_batch');

  UPDATE scoreledger_private.correction_batches b
     SET status = to_status, reverted_by_batch_id = compensating
   WHERE b.tenant_id = original.tenant_id AND b.batch_id = original.batch_id;
  UPDATE scoreledger_private.correction_batches b
     SET status = compensate_to, applied_at = clock_timestamp(), applied_by = actor,
         applied_seq = nextval('scoreledger_private.apply_seq'),
         apply_result = jsonb_build_object('batch_id', compensating, 'status', compensate_to,
           'submissions_rescored', counts.submissions_rescored, 'scores_changed', counts.scores_changed,
           'already_applied', false),
         figures_submissions_affected = counts.submissions_rescored, figures_pass_to_fail = counts.pass_to_fail,
         figures_fail_to_pass = counts.fail_to_pass, figures_interventions_opened = counts.interventions_opened,
         figures_interventions_withdrawn = counts.interventions_withdrawn,
         figures_remedial_completed = counts.remedial_completed, figures_at = clock_timestamp()
   WHERE b.tenant_id = original.tenant_id AND b.batch_id = compensating;
  -- One event for the compensating batch: its draft never outlives this
  -- transaction, so nobody ever sees it.
  PERFORM scoreledger_private.record_batch_event(compensating, NULL, compensate_to,
    format('reverts batch %s: %s submissions rescored, %s scores changed', original.batch_id,
           counts.submissions_rescored, counts.scores_changed));
  PERFORM scoreledger_private.record_batch_event(original.batch_id, original.status, to_status,
    format('reverted by batch %s: %s', compensating, btrim(reason, E' \t\r\n')));
  RETURN compensating;
END
$$;
COMMENT ON FUNCTION scoreledger.revert_correction_batch(uuid, text) IS
  'Reverts an applied batch by a compensating batch: rescores every submission the original reaches today without it, one history row each; nothing is deleted. Returns the compensating batch id.';
GRANT EXECUTE ON FUNCTION scoreledger.revert_correction_batch(uuid, text) TO scoreledger_app;

CREATE OR REPLACE VIEW scoreledger.correction_batches AS
  SELECT b.batch_id AS id, b.status, b.reason, b.created_by, b.created_at, b.applied_at,
         b.reverts_batch_id, b.reverted_by_batch_id,
         (SELECT array_agg(DISTINCT c.correction_type ORDER BY c.correction_type) FROM scoreledger_private.corrections c
           WHERE c.tenant_id = b.tenant_id AND c.batch_id = b.batch_id) AS correction_types,
         jsonb_array_length(b.payload) AS corrections,
         (b.apply_result->>'submissions_rescored')::integer AS submissions_affected
  FROM scoreledger_private.correction_batches b;
COMMENT ON VIEW scoreledger.correction_batches IS
  'Correction batches of the current tenant: who, when, why, status, and how many submissions they rescored.';
GRANT SELECT ON scoreledger.correction_batches TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.list_correction_batches(status text DEFAULT NULL)
RETURNS SETOF scoreledger.correction_batches
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM scoreledger_private.require_tenant();
  IF $1 IS NOT NULL AND $1 NOT IN (SELECT s.status FROM scoreledger_private.workflow_statuses s WHERE s.machine = 'batch') THEN
    -- The message lists the valid statuses so that a caller (the CLI's usage hint) needs no copy of them.
    PERFORM scoreledger_private.fail('SL422', format('status: unknown status %L (one of: %s)', $1,
      (SELECT string_agg(s.status, ', ' ORDER BY s.action_order)
       FROM scoreledger_private.workflow_statuses s WHERE s.machine = 'batch')));
  END IF;
  RETURN QUERY
  SELECT b.* FROM scoreledger.correction_batches b
  WHERE $1 IS NULL OR b.status = $1
  ORDER BY b.created_at DESC, b.id;
END
$$;
COMMENT ON FUNCTION scoreledger.list_correction_batches(text) IS
  'Correction batches, newest first, optionally of one status; submissions_affected is null until applied.';
GRANT EXECUTE ON FUNCTION scoreledger.list_correction_batches(text) TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger.get_correction_batch(batch_id uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  document jsonb;
BEGIN
  PERFORM scoreledger_private.require_tenant();
  SELECT to_jsonb(v) || jsonb_build_object(
           'corrections', b.payload,
           'corrections_count', v.corrections,
           'applied_by', b.applied_by,
           'apply_result', b.apply_result,
           'updated_by', b.updated_by,
           'updated_at', b.updated_at,
           'events', coalesce((
             SELECT jsonb_agg(jsonb_build_object('from', e.from_status, 'to', e.to_status, 'actor', e.actor_id,
                                                 'at', e.occurred_at, 'note', e.note) ORDER BY e.event_id)
             FROM scoreledger_private.batch_events e
             WHERE e.tenant_id = b.tenant_id AND e.batch_id = b.batch_id), '[]'))
    INTO document
  FROM scoreledger.correction_batches v
  JOIN scoreledger_private.correction_batches b ON b.batch_id = v.id
  WHERE v.id = get_correction_batch.batch_id;
  IF document IS NULL THEN
    PERFORM scoreledger_private.fail('SL404', format('correction batch %s does not exist', batch_id));
  END IF;
  RETURN document;
END
$$;
COMMENT ON FUNCTION scoreledger.get_correction_batch(uuid) IS
  'One batch: its list fields, the corrections payload, applied_by, and every status change (from, to, actor, at, note).';
GRANT EXECUTE ON FUNCTION scoreledger.get_correction_batch(uuid) TO scoreledger_app;
