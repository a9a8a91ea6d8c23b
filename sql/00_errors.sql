-- =====================================================================
-- Errors: the one registry of SQLSTATEs the API raises on purpose.
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

CREATE OR REPLACE FUNCTION scoreledger_private.is_uuid(value text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT value ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_path(prefix text, field text)
RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT CASE WHEN coalesce(prefix, '') = '' THEN field ELSE prefix || '.' || field END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_require_object(doc jsonb, path text, allowed_keys text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  unknown_key text;
BEGIN
  IF doc IS NULL OR jsonb_typeof(doc) <> 'object' THEN
    PERFORM scoreledger_private.fail('SL422', coalesce(nullif(path, ''), 'document') || ': must be a JSON object');
  END IF;
  SELECT k INTO unknown_key FROM jsonb_object_keys(doc) AS k WHERE k <> ALL (allowed_keys) ORDER BY k LIMIT 1;
  IF unknown_key IS NOT NULL THEN
    PERFORM scoreledger_private.fail('SL422',
      scoreledger_private.doc_path(path, unknown_key) || ': unknown field (expected one of ' || array_to_string(allowed_keys, ', ') || ')');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_uuid(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS uuid
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  value jsonb := doc -> field;
BEGIN
  IF value IS NULL OR value = 'null'::jsonb THEN
    IF required THEN
      PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': is required');
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(value) <> 'string' OR NOT scoreledger_private.is_uuid(value #>> '{}') THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': must be a uuid string');
  END IF;
  RETURN (value #>> '{}')::uuid;
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_text(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  value jsonb := doc -> field;
BEGIN
  IF value IS NULL OR value = 'null'::jsonb THEN
    IF required THEN
      PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': is required');
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(value) <> 'string' OR (value #>> '{}') !~ '\S' THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': must be a non-empty string');
  END IF;
  IF length(value #>> '{}') > 10000 THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': must be at most 10000 characters');
  END IF;
  RETURN value #>> '{}';
END
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.doc_number(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS numeric
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  value jsonb := doc -> field;
BEGIN
  IF value IS NULL OR value = 'null'::jsonb THEN
    IF required THEN
      PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': is required');
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(value) <> 'number' THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': must be a number');
  END IF;
  RETURN value::numeric;
END
$$;

-- A JSON array of distinct non-empty strings.
CREATE OR REPLACE FUNCTION scoreledger_private.doc_string_set(doc jsonb, field text, path text, required boolean DEFAULT true)
RETURNS text[]
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  value jsonb := doc -> field;
  result text[];
BEGIN
  IF value IS NULL OR value = 'null'::jsonb THEN
    IF required THEN
      PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': is required');
    END IF;
    RETURN NULL;
  END IF;
  IF jsonb_typeof(value) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(value) e WHERE jsonb_typeof(e) <> 'string') THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': must be an array of strings');
  END IF;
  SELECT coalesce(array_agg(e ORDER BY n), '{}') INTO result FROM jsonb_array_elements_text(value) WITH ORDINALITY AS x(e, n);
  IF cardinality(result) <> (SELECT count(DISTINCT e) FROM unnest(result) e) THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': lists an option twice');
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(result) e WHERE e !~ '\S' OR length(e) > 1000) THEN
    PERFORM scoreledger_private.fail('SL422', scoreledger_private.doc_path(path, field) || ': options must be non-empty strings of at most 1000 characters');
  END IF;
  RETURN result;
END
$$;
