-- =====================================================================
-- Score layer, part 1: what every producer shares (contract section 8).
-- Typed scores per session (submission), dual-written by two producers:
--   * automated: evaluation results of registered evaluators
--     (sql/72_score_producers.sql);
--   * human: annotations of review items in review queues
--     (sql/73_review_queues.sql).
-- Both declare the types of their fields (an evaluator's output schema, a
-- queue's form schema), checked here; both have their documents typed by
-- one dispatch, here; both are written by the writers of
-- sql/71_score_writers.sql, with failure isolation. Backfill:
-- sql/74_score_backfill.sql; views and invariants: sql/75_score_read_side.sql.
-- The decisions behind the layer are summed up in docs/scores.md.
--
-- API functions are SECURITY DEFINER with search_path pg_catalog, pg_temp:
-- pg_temp listed last, so that a caller's temporary objects never shadow
-- a built-in name in their bodies (an empty search_path would search the
-- temporary schema first).
-- =====================================================================

-- ---------------------------------------------------------------------
-- Declarations: output schemas of evaluators, form schemas of queues
-- ---------------------------------------------------------------------

-- A producer's name (an evaluator's, a review queue's), trimmed: both are
-- found by name, so the rule is one.
CREATE OR REPLACE FUNCTION scoreledger_private.producer_name(name text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
AS $$
DECLARE
  clean_name text := btrim(name, E' \t\r\n');
BEGIN
  IF clean_name IS NULL OR clean_name !~ '\S' OR length(clean_name) > scoreledger_private.input_limit('name_chars') THEN
    PERFORM scoreledger_private.fail('SL422', format('name: must be a non-empty string of at most %s characters',
                                                       scoreledger_private.input_limit('name_chars')));
  END IF;
  RETURN clean_name;
END
$$;

-- Which artefacts have scores (contract section 8): a result without an
-- error, on a submission, with an object payload; a submitted annotation
-- with object data (its item's submission is checked where the item is
-- joined). One expression each, inlined into the writers' and backfill's
-- statements.
CREATE OR REPLACE FUNCTION scoreledger_private.result_yields_scores(error text, submission_id uuid, payload jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT error IS NULL AND submission_id IS NOT NULL AND jsonb_typeof(payload) = 'object'
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.annotation_yields_scores(status text, data jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT status = 'submitted' AND jsonb_typeof(data) = 'object'
$$;

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
    AND length(e.key) <= scoreledger_private.input_limit('name_chars')
$$;

CREATE OR REPLACE FUNCTION scoreledger_private.score_warnings(data jsonb)
RETURNS TABLE (name text, json_type text, warning text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT e.key, jsonb_typeof(e.value),
         CASE WHEN btrim(e.key, E' \t\r\n') = '' THEN 'skipped: a score needs a non-blank name'
              WHEN length(e.key) > scoreledger_private.input_limit('name_chars')
                THEN format('skipped: a score name has at most %s characters', scoreledger_private.input_limit('name_chars'))
              ELSE format('skipped: a JSON %s is not a score value', jsonb_typeof(e.value)) END
  FROM jsonb_each(CASE WHEN jsonb_typeof(data) = 'object' THEN data END) AS e
  WHERE jsonb_typeof(e.value) IN ('null', 'array', 'object') OR btrim(e.key, E' \t\r\n') = ''
     OR length(e.key) > scoreledger_private.input_limit('name_chars')
$$;

-- ---------------------------------------------------------------------
-- A guard both producers share
-- ---------------------------------------------------------------------

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
