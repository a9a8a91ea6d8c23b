-- Shared helpers of the score-layer files (41-48). Loaded after helpers.sql.

-- The fixture each score file starts from: tenant n (named `name`), acted in
-- as actor n, with evaluation n and one submission of user 1 numbered
-- n * 10 + 1 (q1 B, q2 A,B, q3 A). Returns that submission's id.
CREATE OR REPLACE FUNCTION tests.score_fixture(name text, n int) RETURNS uuid LANGUAGE plpgsql AS $$
BEGIN
  PERFORM scoreledger.create_tenant(name, tests.uuid_of('tenant', n));
  PERFORM tests.authenticate_as(tests.uuid_of('tenant', n), tests.uuid_of('actor', n));
  PERFORM tests.make_evaluation(n);
  RETURN tests.submit(n, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], n * 10 + 1);
END $$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
