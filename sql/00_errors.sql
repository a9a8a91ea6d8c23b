-- =====================================================================
-- Errors and input: the one registry of SQLSTATEs the API raises on purpose,
-- the input bounds, and the field rules every document reader uses.
-- Every deliberate error goes through scoreledger_private.fail(), which
-- refuses codes that are not listed here.
-- =====================================================================

CREATE OR REPLACE FUNCTION scoreledger_private.error_registry()
RETURNS TABLE (sqlstate text, meaning text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  VALUES
    ('SL401', 'no tenant context (or no actor where one is needed)'),
    ('SL403', 'not allowed: missing capability, or dual control'),
    ('SL404', 'a referenced object does not exist in this tenant'),
    ('SL409', 'the object is in the wrong state for this operation'),
    ('SL422', 'an invalid input document; the message names the entry'),
    ('SL423', 'an attempt to change immutable or append-only data')
$$;

CREATE OR REPLACE VIEW scoreledger.error_codes AS
  SELECT sqlstate, meaning FROM scoreledger_private.error_registry();
COMMENT ON VIEW scoreledger.error_codes IS
  'Every SQLSTATE the scoreledger API raises on purpose, with its meaning.';
GRANT SELECT ON scoreledger.error_codes TO scoreledger_app;
-- Functions inside a view are checked against the caller, not the owner.
GRANT EXECUTE ON FUNCTION scoreledger_private.error_registry() TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Input bounds: the one list of upper limits on free text, lists and
-- per-call fan-out. Beyond a bound the API refuses with SL422 naming the
-- field; within it, no input can exhaust a server resource (the lock
-- table, a statement's memory) or run for minutes. Checks name a bound
-- through input_limit(), which an IMMUTABLE call with a constant folds
-- into the plan. An unknown name would give a null that switches its
-- check off: tests/pgtap/04_errors_registry.sql finds every name the
-- functions use and requires it in the list.
-- ---------------------------------------------------------------------
CREATE OR REPLACE FUNCTION scoreledger_private.input_limits()
RETURNS TABLE (name text, max_value bigint, applies_to text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  VALUES
    ('name_chars', 200::bigint, 'a tenant, evaluator, review queue or score name'),
    ('text_chars', 10000, 'a title, prompt or other free text of a document'),
    ('reason_chars', 2000, 'a batch reason, an approval, rejection or resolution note'),
    ('option_chars', 1000, 'one option or selected value'),
    ('tag_chars', 200, 'one item tag, in an evaluation document or a correction entry'),
    ('tags_per_item', 50, 'tags of one item of an evaluation version'),
    ('reference_chars', 1000, 'a review item''s message_ref'),
    ('items_per_version', 1000, 'items of one evaluation version'),
    ('answers_per_submission', 1000, 'answers of one submission'),
    ('corrections_per_batch', 1000, 'entries of one corrections document'),
    ('ids_per_correction', 100000, 'submission_ids of one mark_correct entry'),
    ('documents_per_call', 100000, 'documents of one record_submissions or record_evaluation_results call'),
    ('versions_per_call', 100, 'distinct evaluation versions of one record_submissions call'),
    ('keys_per_payload', 1000, 'top-level keys of one evaluation result payload or annotation')
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.input_limit(limit_name text)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT l.max_value FROM scoreledger_private.input_limits() l WHERE l.name = limit_name
$$;

CREATE OR REPLACE VIEW scoreledger.input_limits AS
  SELECT name, max_value, applies_to FROM scoreledger_private.input_limits();
COMMENT ON VIEW scoreledger.input_limits IS
  'The upper bound of every free-text field, list and per-call fan-out the API accepts; beyond it, SL422 naming the field.';
GRANT SELECT ON scoreledger.input_limits TO scoreledger_app;
GRANT EXECUTE ON FUNCTION scoreledger_private.input_limits() TO scoreledger_app;

CREATE OR REPLACE FUNCTION scoreledger_private.fail(code text, message text, hint text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM scoreledger_private.error_registry() r WHERE r.sqlstate = code) THEN
    RAISE EXCEPTION 'scoreledger: unregistered error code % (%)', code, message;
  END IF;
  IF hint IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
  END IF;
  RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, HINT = hint;
END
$$;

-- ---------------------------------------------------------------------
-- Document helpers: read one field of a JSON document, or raise SL422
-- naming the entry (paths are 0-based: items[0].correct).
-- ---------------------------------------------------------------------

-- A uuid in its canonical text form: 8-4-4-4-12 hex digits, either case.
-- The shape (36 characters, hyphens at 9, 14, 19 and 24), hex digits or
-- hyphens only, and exactly four hyphens: the same strings as the regular
-- expression ^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-...-[0-9a-fA-F]{12}$, in a
-- fifth of its time (its bounded repetitions cost about 2.5 us a string;
-- recording checks two per document).
CREATE OR REPLACE FUNCTION scoreledger_private.is_uuid(value text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT value LIKE '________-____-____-____-____________'
     AND value ~ '^[-0-9a-fA-F]+$'
     AND length(replace(value, '-', '')) = 32
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_path(prefix text, field text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN coalesce(prefix, '') = '' THEN field ELSE prefix || '.' || field END
$$;

-- ---------------------------------------------------------------------
-- Field rules, written once: the problem with one field, or null, without
-- raising, so a whole document is checked in one set-based pass and the
-- first problem in document order is raised. The raising readers below
-- (doc_uuid, doc_text, doc_number, doc_string_set, doc_require_object),
-- which read single header fields, raise exactly these problems.
-- ---------------------------------------------------------------------

-- PL/pgSQL, not SQL: these are called per entry and field, and a SQL
-- function with sub-selects is never inlined (each call would pay the SQL
-- function executor's set-up: 1,000 items took 1.6 s).
CREATE OR REPLACE FUNCTION scoreledger_private.field_problem(value jsonb, kind text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  IF value IS NULL OR value = 'null'::jsonb THEN
    RETURN CASE WHEN required THEN 'is required' END;
  END IF;
  CASE kind
    WHEN 'uuid' THEN
      IF jsonb_typeof(value) <> 'string' OR NOT scoreledger_private.is_uuid(value #>> '{}') THEN
        RETURN 'must be a uuid string';
      END IF;
    WHEN 'text' THEN
      IF jsonb_typeof(value) <> 'string' OR (value #>> '{}') !~ '\S' THEN
        RETURN 'must be a non-empty string';
      ELSIF length(value #>> '{}') > scoreledger_private.input_limit('text_chars') THEN
        RETURN format('must be at most %s characters', scoreledger_private.input_limit('text_chars'));
      END IF;
    WHEN 'number' THEN
      IF jsonb_typeof(value) <> 'number' THEN
        RETURN 'must be a number';
      END IF;
    WHEN 'string_set' THEN
      IF jsonb_typeof(value) <> 'array' OR jsonb_path_exists(value, '$[*] ? (@.type() != "string")') THEN
        RETURN 'must be an array of strings';
      ELSIF jsonb_array_length(value) <> (SELECT count(DISTINCT e) FROM jsonb_array_elements_text(value) e) THEN
        RETURN 'lists an option twice';
      ELSIF EXISTS (SELECT 1 FROM jsonb_array_elements_text(value) e
                    WHERE e !~ '\S' OR length(e) > scoreledger_private.input_limit('option_chars')) THEN
        RETURN format('options must be non-empty strings of at most %s characters',
                      scoreledger_private.input_limit('option_chars'));
      END IF;
    WHEN 'tag' THEN
      IF jsonb_typeof(value) <> 'string' OR (value #>> '{}') !~ '\S' THEN
        RETURN 'must be a non-empty string';
      ELSIF length(value #>> '{}') > scoreledger_private.input_limit('tag_chars') THEN
        RETURN format('must be at most %s characters', scoreledger_private.input_limit('tag_chars'));
      END IF;
    WHEN 'tag_set' THEN
      IF jsonb_typeof(value) <> 'array' OR jsonb_path_exists(value, '$[*] ? (@.type() != "string")') THEN
        RETURN 'must be an array of strings';
      ELSIF jsonb_array_length(value) > scoreledger_private.input_limit('tags_per_item') THEN
        RETURN format('at most %s tags per item', scoreledger_private.input_limit('tags_per_item'));
      ELSIF jsonb_array_length(value) <> (SELECT count(DISTINCT e) FROM jsonb_array_elements_text(value) e) THEN
        RETURN 'lists a tag twice';
      ELSIF EXISTS (SELECT 1 FROM jsonb_array_elements_text(value) e
                    WHERE e !~ '\S' OR length(e) > scoreledger_private.input_limit('tag_chars')) THEN
        RETURN format('tags must be non-empty strings of at most %s characters',
                      scoreledger_private.input_limit('tag_chars'));
      END IF;
    ELSE
      -- A rule naming a kind this function does not know is a bug: say so
      -- rather than let the field pass.
      RETURN format('cannot be checked (no field rule of kind %s)', kind);
  END CASE;
  RETURN NULL;
END
$$;

-- The first field of `doc` (alphabetically) that is not allowed, as the
-- problem doc_require_object raises; null when every field is known.
CREATE OR REPLACE FUNCTION scoreledger_private.unknown_field_problem(doc jsonb, path text, allowed_keys text[])
RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  RETURN (SELECT scoreledger_private.doc_path(path, k) || ': unknown field (expected one of '
                 || array_to_string(allowed_keys, ', ') || ')'
          FROM jsonb_object_keys(doc) k WHERE k <> ALL (allowed_keys) ORDER BY k LIMIT 1);
END
$$;

-- A JSON array of strings as text[], in order (for values field_problem
-- accepted as a string_set).
CREATE OR REPLACE FUNCTION scoreledger_private.text_array(value jsonb)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
  RETURN ARRAY(SELECT x.e FROM jsonb_array_elements_text(value) WITH ORDINALITY x(e, n) ORDER BY x.n);
END
$$;

-- The raising readers: one header field of a document, checked by its
-- field rule and returned typed, or SL422 naming the field.
CREATE OR REPLACE FUNCTION scoreledger_private.doc_require_object(doc jsonb, path text, allowed_keys text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  problem text;
BEGIN
  IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(nullif(path, ''), 'document') || ': must be a JSON object');
  END IF;
  problem := scoreledger_private.unknown_field_problem(doc, path, allowed_keys);
  IF problem IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422', problem);
  END IF;
END
$$;

-- The value of doc->field once its rule of `kind` holds; null when absent.
CREATE OR REPLACE FUNCTION scoreledger_private.doc_field(doc jsonb, field text, path text, kind text, required boolean)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  problem text := scoreledger_private.field_problem(doc -> field, kind, required);
BEGIN
  IF problem IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': ' || problem);
  END IF;
  RETURN nullif(doc -> field, 'null'::jsonb);
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_uuid(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS uuid
LANGUAGE sql IMMUTABLE
AS $$
  SELECT (scoreledger_private.doc_field(doc, field, path, 'uuid', required) #>> '{}')::uuid
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_text(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT scoreledger_private.doc_field(doc, field, path, 'text', required) #>> '{}'
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_number(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS numeric
LANGUAGE sql IMMUTABLE
AS $$
  SELECT scoreledger_private.doc_field(doc, field, path, 'number', required)::numeric
$$;

-- A JSON array of distinct non-empty strings, in order.
CREATE OR REPLACE FUNCTION scoreledger_private.doc_string_set(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS text[]
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN v IS NOT NULL THEN scoreledger_private.text_array(v) END
  FROM scoreledger_private.doc_field(doc, field, path, 'string_set', required) v
$$;
