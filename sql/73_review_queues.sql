-- =====================================================================
-- Score layer, part 4: the human producer -- review queues, their items and
-- annotations. Every save of an annotation rewrites its scores in the same
-- call, isolated from it (sql/71_score_writers.sql).
-- =====================================================================

-- Row-level security of this part's tables (the helper: sql/10_tenancy.sql).
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.review_queues');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.review_items');
SELECT scoreledger_private.enable_tenant_rls('scoreledger_private.annotations');

-- A queue's form schema decides how the scores already written were typed:
-- it is fixed once the queue exists (guard: sql/70_scores.sql).
CREATE OR REPLACE TRIGGER review_queue_immutable BEFORE UPDATE OR DELETE ON scoreledger_private.review_queues
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.review_queues', 'review_queue_immutable',
  'a review queue (and its form schema) never changes');
CREATE OR REPLACE TRIGGER review_queue_never_truncated BEFORE TRUNCATE ON scoreledger_private.review_queues
  FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_producers__immutable();
SELECT scoreledger_private.declare_guard('scoreledger_private.review_queues', 'review_queue_never_truncated',
  'review queues are never truncated');

CREATE OR REPLACE FUNCTION scoreledger.create_review_queue(name text, form_schema jsonb DEFAULT '{}')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tenant uuid := scoreledger_private.require_tenant();
  existing scoreledger_private.review_queues;
  clean_name text;
BEGIN
  PERFORM scoreledger_private.begin_writing_call('scoreledger.create_review_queue');
  clean_name := scoreledger_private.producer_name(create_review_queue.name);
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.add_review_item');
  IF queue_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'queue_id: is required');
  END IF;
  IF submission_id IS NULL AND message_ref IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'submission_id: a review item is about a submission or a message (message_ref); give one');
  END IF;
  IF message_ref IS NOT NULL AND (message_ref !~ '\S' OR length(message_ref) > scoreledger_private.input_limit('reference_chars')) THEN
    PERFORM scoreledger_private.fail('SL422', format('message_ref: must be a non-empty string of at most %s characters',
                                                     scoreledger_private.input_limit('reference_chars')));
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
  PERFORM scoreledger_private.begin_writing_call('scoreledger.save_annotation');
  IF review_item_id IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'review_item_id: is required');
  END IF;
  IF data IS NULL THEN
    PERFORM scoreledger_private.fail('SL422', 'data: is required (a JSON object of form fields)');
  END IF;
  -- Bounded: its scores are written in this call (see keys_per_payload).
  IF jsonb_typeof(data) = 'object'
     AND (SELECT count(*) FROM jsonb_object_keys(data)) > scoreledger_private.input_limit('keys_per_payload') THEN
    PERFORM scoreledger_private.fail('SL422', format('data: at most %s top-level keys',
                                                     scoreledger_private.input_limit('keys_per_payload')));
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
