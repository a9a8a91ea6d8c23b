-- The error registry (contract section 2): one place lists every SQLSTATE
-- the API raises on purpose; scoreledger_private.fail refuses any other.
BEGIN;
SELECT plan(21);

SELECT set_eq($$SELECT sqlstate FROM scoreledger.error_codes$$,
              ARRAY['SL401', 'SL403', 'SL404', 'SL409', 'SL422', 'SL423'],
              'scoreledger.error_codes lists exactly SL401 SL403 SL404 SL409 SL422 SL423');
SELECT is((SELECT count(DISTINCT sqlstate) FROM scoreledger.error_codes), (SELECT count(*) FROM scoreledger.error_codes),
          'each code is listed once');
SELECT is_empty($$SELECT sqlstate FROM scoreledger.error_codes WHERE coalesce(btrim(meaning), '') = ''$$,
                'every code has a meaning');
SELECT is((SELECT meaning FROM scoreledger.error_codes WHERE sqlstate = 'SL423'),
          'an attempt to change immutable or append-only data', 'SL423 means what the contract says');

-- The registry is for callers: the application can read it, without a context.
SELECT tests.authenticate_without_context();
SELECT lives_ok($$SELECT * FROM scoreledger.error_codes$$, 'scoreledger_app can read scoreledger.error_codes');
SELECT tests.clear_context();

-- fail() raises registered codes as themselves ...
SELECT is_empty($$
  SELECT sqlstate || ' raised as ' || coalesce(tests.sqlstate_of(format('SELECT scoreledger_private.fail(%L, %L)', sqlstate, 'boom')), 'nothing')
  FROM scoreledger.error_codes
  WHERE tests.sqlstate_of(format('SELECT scoreledger_private.fail(%L, %L)', sqlstate, 'boom')) IS DISTINCT FROM sqlstate
$$, 'fail(code, message) raises exactly that SQLSTATE for every registered code');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('SL422', 'items[0].kind: must be single_choice or multiple_choice')$$,
                 'SL422', 'items[0].kind: must be single\_choice or multiple\_choice',
                 'fail() raises the caller''s message unchanged');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('SL409', 'wrong state', 'try later')$$,
                 'SL409', 'wrong state', 'fail() with a hint raises the code and message too');

-- ... and refuses any other code with a plain error.
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('SL999', 'not a registered code')$$,
                 'P0001', '%', 'fail() with an unregistered SL code raises a plain error (P0001), not SL999');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('SL999', 'not a registered code')$$,
                   'P0001', '%unregistered error code SL999%', 'the plain error names the unregistered code');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail('23505', 'pretend duplicate')$$,
                 'P0001', '%', 'fail() will not raise a standard SQLSTATE either');
SELECT tests.throws_code_like($$SELECT scoreledger_private.fail(NULL, 'no code')$$,
                 'P0001', '%', 'fail() with a null code raises a plain error');

-- Statically: every SL code written in any function body is registered, and
-- fail() is the only function that raises an error itself.
SELECT is_empty($$
  SELECT DISTINCT p.oid::regprocedure::text || ': ' || m[1]
  FROM pg_proc p CROSS JOIN LATERAL regexp_matches(p.prosrc, '''(SL[0-9A-Z]{3})''', 'g') AS m
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND m[1] NOT IN (SELECT sqlstate FROM scoreledger.error_codes)
$$, 'every SL code literal in a function body is a registered code');
SELECT is_empty($$
  SELECT DISTINCT p.oid::regprocedure::text || ': RAISE ' || m[1]
  FROM pg_proc p CROSS JOIN LATERAL regexp_matches(p.prosrc, '\mRAISE\s+(\S+)', 'gi') AS m
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND p.oid <> 'scoreledger_private.fail(text,text,text)'::regprocedure
    AND lower(m[1]) NOT IN ('notice', 'warning', 'info', 'log', 'debug')
$$, 'no function but scoreledger_private.fail raises an error itself (every deliberate error goes through the registry)');

-- Input bounds (the same file: both registries are read by name). Every
-- name a function asks input_limit() for is in the list (an unknown name
-- would give a null bound, which switches its check off), and the list is
-- well formed.
SELECT is_empty($$
  SELECT DISTINCT p.oid::regprocedure::text || ': ' || m[1]
  FROM pg_proc p CROSS JOIN LATERAL regexp_matches(p.prosrc, 'input_limit\(\s*''([^'']*)''', 'g') AS m
  WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
    AND m[1] NOT IN (SELECT name FROM scoreledger.input_limits)
$$, 'every input_limit() name in a function body is a listed bound');
SELECT is_empty($$
  SELECT l.name FROM scoreledger.input_limits l
  WHERE NOT EXISTS (SELECT 1 FROM pg_proc p
                    WHERE p.pronamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
                      AND p.prosrc LIKE '%input_limit(''' || l.name || ''')%')
$$, 'every listed bound is enforced somewhere (the list promises SL422 beyond it)');
SELECT is_empty($$SELECT name FROM scoreledger.input_limits WHERE max_value IS NULL OR max_value <= 0 OR applies_to !~ '\S'$$,
                'every listed bound is positive and says what it applies to');
SELECT is(scoreledger_private.input_limit('no such bound'), NULL::bigint,
          'sanity: an unknown name gives null (hence the static check above)');

-- is_uuid is the canonical 8-4-4-4-12 form of either case, no more: it
-- must accept and refuse exactly what the regular expression below does,
-- over every one-character change of valid uuids (each position set to a
-- hyphen, a non-hex letter, a space, a newline, a multibyte letter or a
-- hex digit, deleted or doubled) and the other shapes a client sends.
CREATE TEMP TABLE uuid_candidates AS
WITH seeds(value) AS (VALUES ('0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b64'), ('ABCDEF01-2345-6789-ABCD-EF0123456789'),
                             ('00000000-0000-0000-0000-000000000000'))
SELECT v.value FROM (
  SELECT value FROM seeds
  UNION ALL
  SELECT overlay(s.value PLACING c.ch FROM p FOR 1)
  FROM seeds s, generate_series(1, 36) p, unnest(ARRAY['-', 'g', 'G', ' ', E'\n', 'é', '0', 'f', 'F', '{']) c(ch)
  UNION ALL SELECT overlay(s.value PLACING '' FROM p FOR 1) FROM seeds s, generate_series(1, 36) p
  UNION ALL SELECT overlay(s.value PLACING substr(s.value, p, 1) || substr(s.value, p, 1) FROM p FOR 1)
            FROM seeds s, generate_series(1, 36) p
  UNION ALL SELECT unnest(ARRAY['', '-', '------------------------------------', '0d41e3b29c6f4a1e8b7d5f2c3a9e1b64',
                                '{0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b64}', '0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b64 ',
                                ' 0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b64', E'0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b64\n',
                                '0d41e3b2-9c6f-4a1e-8b7d-5f2c3a9e1b6-', '0d41e3b29-c6f-4a1e-8b7d-5f2c3a9e1b64',
                                '0d41e3b2--c6f-4a1e-8b7d-5f2c3a9e1b64', '0d41e3b2-9c6f-4a1e-8b7d5-f2c3a9e1b64'])
) v;
SELECT is((SELECT count(*) FROM uuid_candidates WHERE value ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
          BETWEEN 100 AND (SELECT count(*) - 100 FROM uuid_candidates), true,
          'sanity: the candidates hold more than a hundred uuids and more than a hundred non-uuids');
SELECT is_empty($$
  SELECT quote_literal(value) FROM uuid_candidates
  WHERE scoreledger_private.is_uuid(value)
        IS DISTINCT FROM (value ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')
$$, 'is_uuid accepts exactly the canonical 8-4-4-4-12 hex form, either case');
SELECT is(scoreledger_private.is_uuid(NULL), NULL, 'is_uuid of null is null');

SELECT * FROM finish();
ROLLBACK;
