-- =====================================================================
-- check: every invariant over the whole database, all tenants. For
-- operators (the owner or a superuser): it reads across tenants, so it is
-- not granted to scoreledger_app.
-- =====================================================================

-- Breaches for the current tenant context. One row per invariant.
CREATE OR REPLACE FUNCTION scoreledger_private.tenant_breaches()
RETURNS TABLE (invariant text, breaches bigint, sample text)
LANGUAGE sql STABLE
AS $$
  WITH latest AS (
    SELECT s.submission_id, s.score, s.max_score, h.score AS h_score, h.max_score AS h_max, h.history_id
    FROM scoreledger_private.submissions s
    LEFT JOIN LATERAL (
      SELECT x.score, x.max_score, x.history_id FROM scoreledger_private.score_history x
      WHERE x.tenant_id = s.tenant_id AND x.submission_id = s.submission_id
      ORDER BY x.history_id DESC LIMIT 1) h ON true
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
  ), bad_latest AS (
    SELECT submission_id FROM latest
    WHERE history_id IS NULL OR (score, max_score) IS DISTINCT FROM (h_score, h_max)
  ), bad_first AS (
    SELECT DISTINCT ON (h.submission_id) h.submission_id, h.correction_batch_id
    FROM scoreledger_private.score_history h
    WHERE h.tenant_id = (SELECT scoreledger.current_tenant())
    ORDER BY h.submission_id, h.history_id
  ), bad_references AS (
    SELECT s.submission_id
    FROM scoreledger_private.submissions s
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
      AND (NOT EXISTS (SELECT 1 FROM scoreledger_private.evaluation_versions v
                       WHERE v.tenant_id = s.tenant_id AND v.evaluation_version_id = s.evaluation_version_id
                         AND v.evaluation_id = s.evaluation_id)
           OR (s.assignment_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM scoreledger_private.assignments a
                               WHERE a.tenant_id = s.tenant_id AND a.assignment_id = s.assignment_id
                                 AND a.evaluation_id = s.evaluation_id)))
  ), bad_numbers AS (
    -- The recording-order number raw answers are stored under: one per
    -- submission (an identity, but the owner can insert one by hand).
    SELECT s.submission_id
    FROM scoreledger_private.submissions s
    JOIN (SELECT o.submission_no FROM scoreledger_private.submissions o
          WHERE o.tenant_id = (SELECT scoreledger.current_tenant())
          GROUP BY o.submission_no HAVING count(*) > 1) shared ON shared.submission_no = s.submission_no
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
  ), bad_rules AS (
    SELECT s.submission_id
    FROM scoreledger_private.submissions s
    LEFT JOIN scoreledger_private.recomputed_scores() r ON r.submission_id = s.submission_id
    WHERE s.tenant_id = (SELECT scoreledger.current_tenant())
      AND (s.score, s.max_score) IS DISTINCT FROM (r.score, r.max_score)
  )
  SELECT 'latest history row = submission score', (SELECT count(*) FROM bad_latest),
         (SELECT string_agg(submission_id::text, ', ') FROM (SELECT submission_id FROM bad_latest ORDER BY 1 LIMIT 5) x)
  UNION ALL
  SELECT 'first history row is the initial scoring (no batch)',
         (SELECT count(*) FROM bad_first WHERE correction_batch_id IS NOT NULL),
         (SELECT string_agg(submission_id::text, ', ')
            FROM (SELECT submission_id FROM bad_first WHERE correction_batch_id IS NOT NULL ORDER BY 1 LIMIT 5) x)
  UNION ALL
  SELECT 'submissions reference their evaluation version and assignment', (SELECT count(*) FROM bad_references),
         (SELECT string_agg(submission_id::text, ', ') FROM (SELECT submission_id FROM bad_references ORDER BY 1 LIMIT 5) x)
  UNION ALL
  SELECT 'each submission has its own recording-order number', (SELECT count(*) FROM bad_numbers),
         (SELECT string_agg(submission_id::text, ', ') FROM (SELECT submission_id FROM bad_numbers ORDER BY 1 LIMIT 5) x)
  UNION ALL
  SELECT 'stored score = scoring rules under active corrections', (SELECT count(*) FROM bad_rules),
         (SELECT string_agg(submission_id::text, ', ') FROM (SELECT submission_id FROM bad_rules ORDER BY 1 LIMIT 5) x)
$$;

CREATE OR REPLACE FUNCTION scoreledger.check_invariants()
RETURNS TABLE (scope text, invariant text, breaches bigint, sample text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
  caller_tenant uuid := scoreledger.current_tenant();
  caller_actor uuid := scoreledger.current_actor();
  tenant record;
BEGIN
  -- Catalog invariants, database-wide.
  RETURN QUERY
  SELECT 'database', 'row level security enabled and forced on every table',
         count(*), string_agg(c.relname, ', ')
  FROM pg_catalog.pg_class c
  WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
    AND NOT (c.relrowsecurity AND c.relforcerowsecurity);
  RETURN QUERY
  SELECT 'database', 'scoreledger_app holds no write privilege on any table',
         count(*), string_agg(c.relname, ', ')
  FROM pg_catalog.pg_class c
  WHERE c.relnamespace IN ('scoreledger_private'::regnamespace, 'scoreledger'::regnamespace)
    AND c.relkind IN ('r', 'p', 'v')
    AND pg_catalog.has_table_privilege('scoreledger_app', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE');
  -- Every guard of the registry (sql/05_guards.sql): installed, enabled,
  -- calling the function it was declared with, whose definition is still
  -- the one loaded.
  RETURN QUERY
  SELECT 'database', 'every registered guard installed, enabled and unchanged',
         count(*), string_agg(format('%s.%s: %s', p.table_name, p.trigger_name, p.problem), '; ')
  FROM scoreledger_private.guard_problems() p;
  -- Every function as the latest load left it: a helper the guards call
  -- (fail(), say) is part of them.
  RETURN QUERY
  SELECT 'database', 'every function unchanged since the latest load',
         count(*), string_agg(format('%s (%s)', f.function_name, f.problem), '; ' ORDER BY f.function_name)
  FROM scoreledger_private.changed_functions() f;

  -- Data invariants, tenant by tenant (RLS shows one tenant at a time).
  FOR tenant IN SELECT t.tenant_id, t.name FROM scoreledger_private.tenants t ORDER BY t.name LOOP
    PERFORM scoreledger_private.enter_context(tenant.tenant_id);
    RETURN QUERY SELECT 'tenant ' || tenant.name, b.invariant, b.breaches, b.sample
                 FROM scoreledger_private.tenant_breaches() b;
    RETURN QUERY SELECT 'tenant ' || tenant.name, b.invariant, b.breaches, b.sample
                 FROM scoreledger_private.score_breaches() b;
    RETURN QUERY SELECT 'tenant ' || tenant.name, b.invariant, b.breaches, b.sample
                 FROM scoreledger_private.learner_breaches() b;
  END LOOP;
  PERFORM scoreledger_private.enter_context(caller_tenant, caller_actor);
END
$$;
COMMENT ON FUNCTION scoreledger.check_invariants() IS
  'Verifies every invariant over the whole database (all tenants); one row per invariant and scope, breaches = 0 when it holds. For operators: not granted to scoreledger_app.';
