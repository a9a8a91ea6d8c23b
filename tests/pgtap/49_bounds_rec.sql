-- Bounds of recording and the score layer (issue 12, items 11, 12 and 13):
-- per-call fan-out refused with SL422 before any lock, payload keys bounded
-- (a score write's work is bounded, so no statement timeout can cut it
-- short), and one id rule for result documents whatever the call's size.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(15);

SELECT tests.score_fixture('bounds rec', 4901);
SELECT scoreledger.register_evaluator('judge');

-- Item 11: one record_submissions call may name at most versions_per_call
-- distinct evaluation versions (each is an advisory lock: a slot of the
-- server's shared lock table), refused before any lock is taken.
SELECT tests.make_evaluation(49000 + n) FROM generate_series(1, 100) n;
CREATE TEMP TABLE locks_before AS
  SELECT count(*) AS n FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory';
GRANT SELECT ON locks_before TO PUBLIC;
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)',
         (SELECT jsonb_agg(tests.submission_doc(s, 1, ARRAY['B'], NULL, NULL)) FROM
            (SELECT 4901 AS s UNION ALL SELECT 49000 + n FROM generate_series(1, 100) n) x)),
       'SL422', 'submissions: at most 100 distinct evaluation versions per call, not 101',
       'record_submissions: 101 distinct evaluation versions in one call are refused');
SELECT is((SELECT count(*) FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory'),
          (SELECT n FROM locks_before), 'and no version lock was taken');
SELECT is(scoreledger.record_submissions(
            (SELECT jsonb_agg(tests.submission_doc(49000 + n, 1, ARRAY['B'], NULL, NULL)) FROM generate_series(1, 100) n)),
          100, '100 distinct versions in one call are accepted');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_submissions(%L)',
         (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 100001))),
       'SL422', 'submissions: at most 100000 documents per call', 'record_submissions: 100001 documents are refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
         (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 100001))),
       'SL422', 'docs: at most 100000 documents per call', 'record_evaluation_results: 100001 documents are refused');

-- Item 13: at most keys_per_payload top-level keys per payload or annotation.
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_result(%L, %L, %L)', 'judge',
         tests.uuid_of('submission', 49011), (SELECT jsonb_object_agg('k' || n, n) FROM generate_series(1, 1001) n)),
       'SL422', 'payload: at most 1000 top-level keys', 'a result payload of 1001 keys is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
         jsonb_build_array(jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 49011),
           'payload', (SELECT jsonb_object_agg('k' || n, n) FROM generate_series(1, 1001) n)))),
       'SL422', '[0].payload: at most 1000 top-level keys', 'in bulk too, naming the entry');
SELECT lives_ok(format('SELECT scoreledger.record_evaluation_result(%L, %L, %L)', 'judge',
         tests.uuid_of('submission', 49011), (SELECT jsonb_object_agg('k' || n, n) FROM generate_series(1, 1000) n)),
       'a payload of 1000 keys is accepted');
SELECT is((SELECT count(*) FROM scoreledger.scores s
           WHERE s.submission_id = tests.uuid_of('submission', 49011) AND s.source = 'automated'), 1000::bigint,
          'and its 1000 scores are written');
SELECT scoreledger.create_review_queue('bounds queue');
SELECT tests.throws_code_like(format('SELECT scoreledger.save_annotation(%L, %L)',
         scoreledger.add_review_item((SELECT queue_id FROM scoreledger.review_queues WHERE name = 'bounds queue'),
                                     tests.uuid_of('submission', 49011)),
         (SELECT jsonb_object_agg('k' || n, n) FROM generate_series(1, 1001) n)),
       'SL422', 'data: at most 1000 top-level keys', 'an annotation of 1001 keys is refused');

-- Item 11: literal bounds now read input_limit, messages unchanged.
SELECT tests.throws_code_like(format('SELECT scoreledger.register_evaluator(%L)', repeat('e', 201)),
       'SL422', 'name: must be a non-empty string of at most 200 characters', 'an evaluator name of 201 characters');

-- Item 12: one rule for result_id and submission_id whatever the call's
-- size (small calls and bulk calls once took different paths).
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
         (SELECT jsonb_agg(jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 49011),
                   'payload', '{}'::jsonb, 'result_id', CASE WHEN n = 3 THEN '{' || tests.uuid_of('r', n) || '}'
                                                              ELSE tests.uuid_of('r', n)::text END))
            FROM generate_series(1, sz) n)),
       'SL422', '[2].result_id: must be a uuid string or null', format('{uuid} result_id refused in a call of %s', sz))
FROM (VALUES (3), (12)) v(sz);
SELECT tests.throws_code_like(format('SELECT scoreledger.record_evaluation_results(%L)',
         (SELECT jsonb_agg(jsonb_build_object('evaluator', 'judge', 'payload', '{}'::jsonb,
                   'submission_id', CASE WHEN n = 2 THEN replace(tests.uuid_of('submission', 49011)::text, '-', '')
                                         ELSE tests.uuid_of('submission', 49011)::text END))
            FROM generate_series(1, 12) n)),
       'SL422', '[1].submission_id: must be a uuid string or null', 'an unhyphenated submission_id refused in a call of 12');

-- Recording's bulk statements run without JIT (as the score layer's bulk
-- entry points do): on a table of 20,000 submissions, compiling the parse of
-- a 5,000-document call took about 1 s of a 2.7 s call.
SELECT ok((SELECT bool_and('jit=off' = ANY (p.proconfig))
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'scoreledger_private' AND p.proname = 'record_documents_now'),
          'record_documents_now runs with jit = off');

SELECT * FROM finish();
ROLLBACK;
