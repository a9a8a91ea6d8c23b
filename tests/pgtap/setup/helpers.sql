-- Test helpers for the pgTAP suite, loaded once into the test database.
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS plpgsql_check;
CREATE SCHEMA IF NOT EXISTS tests;
GRANT USAGE ON SCHEMA tests TO PUBLIC;

-- Act as the application: scoreledger_app with a tenant and actor set for
-- the rest of the (test) transaction.
CREATE OR REPLACE FUNCTION tests.authenticate_as(tenant uuid, actor uuid DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'SET LOCAL ROLE scoreledger_app';
  PERFORM scoreledger.set_context(tenant, actor);
END $$;

-- Act as the table owner (subject to RLS, as forced).
CREATE OR REPLACE FUNCTION tests.act_as_owner(tenant uuid DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'RESET ROLE';
  EXECUTE 'SET LOCAL ROLE scoreledger_owner';
  PERFORM scoreledger_private.enter_context(tenant);
END $$;

CREATE OR REPLACE FUNCTION tests.clear_context()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'RESET ROLE';
  PERFORM set_config('scoreledger.tenant_id', '', true);
  PERFORM set_config('scoreledger.actor_id', '', true);
  PERFORM set_config('scoreledger.context', '', true);
END $$;

-- Deterministic uuids from a label and a number: readable tests.
CREATE OR REPLACE FUNCTION tests.uuid_of(label text, n int DEFAULT 0)
RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT md5(label || ':' || n)::uuid
$$;

-- Act as the application with NO tenant context: scoreledger_app, tenant
-- and actor cleared for the rest of the (test) transaction.
CREATE OR REPLACE FUNCTION tests.authenticate_without_context()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.clear_context();
  EXECUTE 'SET LOCAL ROLE scoreledger_app';
END $$;

-- The import document of a small evaluation: q1 single_choice (A,B,C,D;
-- key B; 1 point), q2 multiple_choice exact (A,B,C; key A,B; 2 points), q3
-- multiple_choice partial (A,B,C,D; key A,B,C; 3 points). Ids are derived
-- from `seed` so tests can build several.
CREATE OR REPLACE FUNCTION tests.evaluation_doc(seed int, pass_mark numeric DEFAULT 0.5)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'evaluation_id', tests.uuid_of('evaluation', seed),
    'evaluation_version_id', tests.uuid_of('version', seed),
    'evaluation_title', 'Evaluation ' || seed, 'version_no', 1, 'pass_mark', pass_mark,
    'items', jsonb_build_array(
      jsonb_build_object('question_id', tests.uuid_of('question1', seed), 'question_version_id', tests.uuid_of('q1', seed),
        'kind', 'single_choice', 'prompt', 'One?', 'options', '["A","B","C","D"]'::jsonb, 'correct', '["B"]'::jsonb, 'points', 1),
      jsonb_build_object('question_id', tests.uuid_of('question2', seed), 'question_version_id', tests.uuid_of('q2', seed),
        'kind', 'multiple_choice', 'prompt', 'Two?', 'options', '["A","B","C"]'::jsonb, 'correct', '["A","B"]'::jsonb, 'points', 2),
      jsonb_build_object('question_id', tests.uuid_of('question3', seed), 'question_version_id', tests.uuid_of('q3', seed),
        'kind', 'multiple_choice', 'prompt', 'Three?', 'options', '["A","B","C","D"]'::jsonb, 'correct', '["A","B","C"]'::jsonb,
        'points', 3, 'scoring', 'partial')))
$$;

-- Imports tests.evaluation_doc(seed, pass_mark). Returns the evaluation
-- version id.
CREATE OR REPLACE FUNCTION tests.make_evaluation(seed int, pass_mark numeric DEFAULT 0.5)
RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.import_evaluation_version(tests.evaluation_doc(seed, pass_mark))
$$;

-- The submission document of evaluation `seed` for user `user_no` with the
-- given selections for q1, q2, q3 (null: item not presented).
CREATE OR REPLACE FUNCTION tests.submission_doc(seed int, user_no int, q1 text[], q2 text[], q3 text[],
                                                submission_no int DEFAULT NULL, assignment uuid DEFAULT NULL,
                                                submitted_at text DEFAULT '2026-11-01T10:00:00Z')
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object(
    'submission_id', CASE WHEN submission_no IS NOT NULL THEN tests.uuid_of('submission', submission_no) END,
    'evaluation_version_id', tests.uuid_of('version', seed),
    'user_id', tests.uuid_of('user', user_no),
    'assignment_id', assignment,
    'submitted_at', submitted_at,
    'answers', (SELECT jsonb_agg(jsonb_build_object('question_version_id', tests.uuid_of(q, seed), 'selected', to_jsonb(sel))
                                 ORDER BY n)
                FROM (VALUES ('q1', q1, 1), ('q2', q2, 2), ('q3', q3, 3)) v(q, sel, n) WHERE sel IS NOT NULL)))
$$;

-- Records tests.submission_doc(...). Returns the submission id.
CREATE OR REPLACE FUNCTION tests.submit(seed int, user_no int, q1 text[], q2 text[], q3 text[],
                                        submission_no int DEFAULT NULL, assignment uuid DEFAULT NULL)
RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(tests.submission_doc(seed, user_no, q1, q2, q3, submission_no, assignment))
$$;

-- The one way this suite asserts an error: the SQLSTATE (or one of several)
-- and a LIKE pattern for the message ('%' for any message; escape a literal
-- _ or % with a backslash). pgTAP's throws_ok compares the whole message and
-- throws_like ignores the code; this checks both, so a test can require
-- that the message names the offending entry without spelling out ids.
CREATE OR REPLACE FUNCTION tests.throws_code_like(query text, errcodes text[], message_like text, description text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE query;
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = ANY (errcodes) AND SQLERRM LIKE message_like THEN
      RETURN ok(true, description);
    END IF;
    RETURN ok(false, description) || E'\n' || diag(format(
      E'    caught: %s: %s\n    wanted: %s: %s', SQLSTATE, SQLERRM, array_to_string(errcodes, ' or '), message_like));
  END;
  RETURN ok(false, description) || E'\n' || diag(format(
    E'    no exception raised\n    wanted: %s: %s', array_to_string(errcodes, ' or '), message_like));
END $$;

CREATE OR REPLACE FUNCTION tests.throws_code_like(query text, errcode text, message_like text, description text)
RETURNS text LANGUAGE sql AS $$
  SELECT tests.throws_code_like(query, ARRAY[errcode], message_like, description)
$$;

-- 'SQLSTATE: message' of the statement, or 'no error' (its effects are then
-- kept). Not an assertion: for comparing two failures ("fails exactly like
-- an unknown id"); to assert an error use tests.throws_code_like.
CREATE OR REPLACE FUNCTION tests.error_of(statement text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- The SQLSTATE `query` raises, or null when it succeeds (its effects are
-- then kept, as with pgTAP's lives_ok). Not an assertion: for set-based
-- checks over many calls, and for statements run only for their effects.
CREATE OR REPLACE FUNCTION tests.sqlstate_of(query text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE query;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE;
END $$;

-- Rows each view of `schema_name` (but those named in `except_views`)
-- shows to the current role and context.
CREATE OR REPLACE FUNCTION tests.view_row_counts(schema_name text DEFAULT 'scoreledger', except_views text[] DEFAULT '{}')
RETURNS TABLE (view_name text, row_count bigint) LANGUAGE plpgsql AS $$
DECLARE
  v regclass;
BEGIN
  FOR v IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = schema_name::regnamespace AND c.relkind = 'v'
             AND c.oid::regclass::text <> ALL (except_views)
           ORDER BY c.relname LOOP
    view_name := v::text;
    EXECUTE format('SELECT count(*) FROM %s', v) INTO row_count;
    RETURN NEXT;
  END LOOP;
END $$;

-- For each tenant-owned table of the private schema (every table with a
-- tenant_id column): the rows the current role sees, and how many of them
-- belong to a tenant other than `tenant`.
CREATE OR REPLACE FUNCTION tests.private_table_rows(tenant uuid)
RETURNS TABLE (table_name text, visible bigint, of_other_tenants bigint) LANGUAGE plpgsql AS $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
           WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
             AND c.relname <> 'tenants'
           ORDER BY c.relname LOOP
    table_name := t::text;
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE tenant_id IS DISTINCT FROM $1) FROM %s', t)
      INTO visible, of_other_tenants USING tenant;
    RETURN NEXT;
  END LOOP;
END $$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
