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
  PERFORM set_config('scoreledger.tenant_id', coalesce(tenant::text, ''), true);
END $$;

CREATE OR REPLACE FUNCTION tests.clear_context()
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'RESET ROLE';
  PERFORM set_config('scoreledger.tenant_id', '', true);
  PERFORM set_config('scoreledger.actor_id', '', true);
END $$;

-- A small evaluation: q1 single_choice (A,B,C,D; key B; 1 point), q2
-- multiple_choice exact (A,B,C; key A,B; 2 points), q3 multiple_choice
-- partial (A,B,C,D; key A,B,C; 3 points). Ids are derived from `seed` so
-- tests can build several. Returns the evaluation version id.
CREATE OR REPLACE FUNCTION tests.make_evaluation(seed int, pass_mark numeric DEFAULT 0.5)
RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.import_evaluation_version(jsonb_build_object(
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
        'points', 3, 'scoring', 'partial'))))
$$;

-- Deterministic uuids from a label and a number: readable tests.
CREATE OR REPLACE FUNCTION tests.uuid_of(label text, n int DEFAULT 0)
RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT md5(label || ':' || n)::uuid
$$;

-- Records a submission of evaluation `seed` for user `user_no` with the
-- given selections for q1, q2, q3 (null: item not presented).
CREATE OR REPLACE FUNCTION tests.submit(seed int, user_no int, q1 text[], q2 text[], q3 text[],
                                        submission_no int DEFAULT NULL, assignment uuid DEFAULT NULL)
RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(jsonb_strip_nulls(jsonb_build_object(
    'submission_id', CASE WHEN submission_no IS NOT NULL THEN tests.uuid_of('submission', submission_no) END,
    'evaluation_version_id', tests.uuid_of('version', seed),
    'user_id', tests.uuid_of('user', user_no),
    'assignment_id', assignment,
    'submitted_at', '2026-11-01T10:00:00Z',
    'answers', (SELECT jsonb_agg(jsonb_build_object('question_version_id', tests.uuid_of(q, seed), 'selected', to_jsonb(sel)))
                FROM (VALUES ('q1', q1, 1), ('q2', q2, 2), ('q3', q3, 3)) v(q, sel, n) WHERE sel IS NOT NULL))))
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
