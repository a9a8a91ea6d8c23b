-- Ready to distribute by tenant (contract section 1): every tenant-owned
-- table carries tenant_id uuid not null, leading its primary key, every
-- unique constraint or index, and every foreign key on both sides.
BEGIN;
SELECT plan(12);

-- Every breach, one row each, over the tables of scoreledger_private but the
-- tenant registry and the loader's bookkeeping.
CREATE FUNCTION tests.citus_violations()
RETURNS TABLE (table_name text, problem text) LANGUAGE sql STABLE AS $$
  WITH tenant_tables AS (
    SELECT c.oid, c.relname::text AS relname,
           (SELECT a.attnum FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped) AS tenant_attnum
    FROM pg_class c
    WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
      AND c.relname NOT IN ('tenants', 'sql_definitions', 'guards', 'loaded_functions')
  )
  -- the column itself
  SELECT t.relname, 'no tenant_id column' FROM tenant_tables t WHERE t.tenant_attnum IS NULL
  UNION ALL
  SELECT t.relname, 'tenant_id is not uuid not null'
  FROM tenant_tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = t.tenant_attnum
  WHERE a.atttypid <> 'uuid'::regtype OR NOT a.attnotnull
  UNION ALL
  -- a primary key
  SELECT t.relname, 'no primary key' FROM tenant_tables t
  WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'p')
  UNION ALL
  -- primary key, unique and exclusion constraints lead with tenant_id
  SELECT t.relname, format('%s constraint %s does not lead with tenant_id', k.contype, k.conname)
  FROM tenant_tables t JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype IN ('p', 'u', 'x')
  WHERE t.tenant_attnum IS NULL OR k.conkey[1] IS DISTINCT FROM t.tenant_attnum
  UNION ALL
  -- so do unique indexes, constraint-backed or not
  SELECT t.relname, format('unique index %s does not lead with tenant_id', i.indexrelid::regclass)
  FROM tenant_tables t JOIN pg_index i ON i.indrelid = t.oid AND i.indisunique
  WHERE t.tenant_attnum IS NULL OR i.indkey[0] IS DISTINCT FROM t.tenant_attnum
  UNION ALL
  -- foreign keys from or to a tenant-owned table pair tenant_id with
  -- tenant_id, first on both sides
  SELECT coalesce(src.relname, k.conrelid::regclass::text),
         format('foreign key %s (%s -> %s) does not lead with tenant_id on both sides',
                k.conname, k.conrelid::regclass, k.confrelid::regclass)
  FROM pg_constraint k
  LEFT JOIN tenant_tables src ON src.oid = k.conrelid
  LEFT JOIN tenant_tables dst ON dst.oid = k.confrelid
  WHERE k.contype = 'f' AND (src.oid IS NOT NULL OR dst.oid IS NOT NULL)
    AND ((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.conrelid AND a.attnum = k.conkey[1])
           IS DISTINCT FROM 'tenant_id'
      OR (SELECT a.attname FROM pg_attribute a WHERE a.attrelid = k.confrelid AND a.attnum = k.confkey[1])
           IS DISTINCT FROM 'tenant_id')
$$;

SELECT ok((SELECT count(*) FROM pg_class c
           WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
             AND c.relname NOT IN ('tenants', 'sql_definitions', 'guards', 'loaded_functions')) >= 12,
          'the check covers the tenant-owned tables (sanity)');
SELECT ok((SELECT count(*) FROM pg_constraint k
           WHERE k.contype = 'f' AND k.connamespace = 'scoreledger_private'::regnamespace) >= 15,
          'the check covers the foreign keys (sanity)');

SELECT is_empty($$SELECT table_name || ': ' || problem FROM tests.citus_violations()$$,
                'every tenant-owned table: tenant_id uuid not null, leading its primary key, unique constraints, unique indexes and foreign keys (both sides)');

-- The check must catch a table that breaks the rule: plant some (rolled back).
CREATE TABLE scoreledger_private.citus_no_tenant (id uuid PRIMARY KEY);
CREATE TABLE scoreledger_private.citus_nullable_tenant (tenant_id uuid, id uuid NOT NULL, PRIMARY KEY (id));
CREATE TABLE scoreledger_private.citus_pk_order (tenant_id uuid NOT NULL, id uuid NOT NULL, PRIMARY KEY (id, tenant_id));
CREATE TABLE scoreledger_private.citus_unique (tenant_id uuid NOT NULL, id uuid NOT NULL, code text,
  PRIMARY KEY (tenant_id, id), UNIQUE (code, tenant_id));
CREATE TABLE scoreledger_private.citus_unique_index (tenant_id uuid NOT NULL, id uuid NOT NULL, code text,
  PRIMARY KEY (tenant_id, id));
CREATE UNIQUE INDEX citus_unique_index_code ON scoreledger_private.citus_unique_index (code);
CREATE TABLE scoreledger_private.citus_fk (tenant_id uuid NOT NULL, id uuid NOT NULL, other_id uuid NOT NULL,
  PRIMARY KEY (tenant_id, id),
  FOREIGN KEY (other_id, tenant_id) REFERENCES scoreledger_private.citus_pk_order (id, tenant_id));

SELECT set_eq($$SELECT DISTINCT table_name FROM tests.citus_violations()$$,
              ARRAY['citus_no_tenant', 'citus_nullable_tenant', 'citus_pk_order', 'citus_unique',
                    'citus_unique_index', 'citus_fk'],
              'self-test: the check reports every planted table that breaks the rule, and only those');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations() WHERE table_name = 'citus_no_tenant' AND problem = 'no tenant_id column'),
          'self-test: a table without tenant_id is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations()
                  WHERE table_name = 'citus_nullable_tenant' AND problem = 'tenant_id is not uuid not null'),
          'self-test: a nullable tenant_id is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations() WHERE table_name = 'citus_pk_order' AND problem LIKE 'p constraint%'),
          'self-test: a primary key not led by tenant_id is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations() WHERE table_name = 'citus_unique' AND problem LIKE 'u constraint%'),
          'self-test: a unique constraint not led by tenant_id is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations() WHERE table_name = 'citus_unique_index' AND problem LIKE 'unique index%'),
          'self-test: a bare unique index not led by tenant_id is reported');
SELECT ok(EXISTS (SELECT 1 FROM tests.citus_violations() WHERE table_name = 'citus_fk' AND problem LIKE 'foreign key%'),
          'self-test: a foreign key not led by tenant_id is reported');

-- A foreign key into a tenant-owned table from elsewhere is held to it too.
CREATE TABLE public.citus_outside (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, submission_id uuid NOT NULL,
  FOREIGN KEY (tenant_id, submission_id) REFERENCES scoreledger_private.submissions);
CREATE TABLE public.citus_outside_bad (id uuid PRIMARY KEY, tenant_id uuid NOT NULL, submission_id uuid NOT NULL,
  FOREIGN KEY (submission_id, tenant_id) REFERENCES scoreledger_private.submissions (submission_id, tenant_id));
SELECT is(ARRAY(SELECT DISTINCT table_name FROM tests.citus_violations() WHERE table_name LIKE '%citus_outside%'),
          ARRAY['citus_outside_bad'],
          'self-test: a foreign key into a tenant-owned table is checked on both sides');
DROP TABLE public.citus_outside, public.citus_outside_bad;
DROP TABLE scoreledger_private.citus_fk, scoreledger_private.citus_pk_order, scoreledger_private.citus_no_tenant,
  scoreledger_private.citus_nullable_tenant, scoreledger_private.citus_unique, scoreledger_private.citus_unique_index;
SELECT is_empty($$SELECT table_name || ': ' || problem FROM tests.citus_violations()$$,
                'with the planted tables gone the schema is clean again');

SELECT * FROM finish();
ROLLBACK;
