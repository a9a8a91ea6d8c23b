-- Contract v2 section 3: a submission document without submission_id gets
-- a UUID version 5 of (tenant, evaluation_version_id, user_id,
-- submitted_at) (sql/42_recording.sql, submission_key). uuid-ossp's
-- uuid_generate_v5, in the private schema so that no caller's search_path
-- can shadow it; the extension ships with PostgreSQL (contrib).
SET LOCAL lock_timeout = '10s';
SET LOCAL statement_timeout = '10min';

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA scoreledger_private;

-- Like every function of the private schemas: owned by scoreledger_owner,
-- executable by nobody else (tests/pgtap/01 checks both).
DO $$
DECLARE
  fn regprocedure;
BEGIN
  FOR fn IN SELECT d.objid::regprocedure FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid
            WHERE e.extname = 'uuid-ossp' AND d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e' LOOP
    EXECUTE format('ALTER FUNCTION %s OWNER TO scoreledger_owner', fn);
    EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
  END LOOP;
END
$$;
