-- Each validation rule lives once (issue 11): every rule of a document kind
-- is one scoreledger_private.problem(...) call in its rule functions, and
-- every call path -- one document, a bulk call, the diagnosis, a bulk of
-- results above and below the ten-document threshold -- reports a broken
-- rule with the same SQLSTATE and message.
--
-- Driven from the rule functions themselves: the examples below must break
-- each rule exactly once, and the count of problem(...) calls in each rule
-- function's source must equal its examples, so a rule added without an
-- example fails this file.
BEGIN;
SELECT plan(9);


SELECT scoreledger.create_tenant('rules once', tests.uuid_of('tenant', 241));
-- The scratch tables of this file, made before acting as the application
-- and open to it and to the owner (the diagnosis runs as the owner).
CREATE TEMP TABLE valid_doc (doc jsonb);
CREATE TEMP TABLE submission_examples (fn text, doc jsonb, sqlstate text, message_like text);
CREATE TEMP TABLE submission_runs (fn text, doc jsonb, sqlstate text, message_like text, calldocs jsonb,
  one_state text, one_message text, bulk_state text, bulk_message text, diag_state text, diag_message text);
CREATE TEMP TABLE valid_result (doc jsonb);
CREATE TEMP TABLE result_examples (doc jsonb, sqlstate text, message_like text);
CREATE TEMP TABLE result_runs (doc jsonb, sqlstate text, message_like text,
  few_state text, few_message text, many_state text, many_message text);
GRANT ALL ON valid_doc, submission_examples, submission_runs, valid_result, result_examples, result_runs TO PUBLIC;

-- The SQLSTATE and message a query raises ('' when it succeeds); its
-- effects are rolled back either way.
CREATE FUNCTION pg_temp.outcome(query text, OUT state text, OUT msg text) LANGUAGE plpgsql AS $$
DECLARE
  succeeded boolean := false;
BEGIN
  BEGIN
    EXECUTE query;
    succeeded := true;
    RAISE EXCEPTION 'roll back';
  EXCEPTION WHEN OTHERS THEN
    IF succeeded THEN
      state := '';
      msg := '';
    ELSE
      state := SQLSTATE;
      msg := SQLERRM;
    END IF;
  END;
END $$;

SELECT scoreledger.create_tenant('rules once', tests.uuid_of('tenant', 241));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 241), tests.uuid_of('actor', 241));
SELECT tests.make_evaluation(241);
SELECT tests.make_evaluation(242);
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', tests.uuid_of('assignment', 242),
  'title', 'other', 'evaluation_id', tests.uuid_of('evaluation', 242)));
SELECT tests.submit(241, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 2411);
SELECT scoreledger.register_evaluator('judge');

-- ---------------------------------------------------------------------
-- Submission documents
-- ---------------------------------------------------------------------

INSERT INTO valid_doc SELECT tests.submission_doc(241, 2, ARRAY['B'], ARRAY['A'], ARRAY['A','C']);

-- One example per rule: (rule function, the document breaking it, the
-- SQLSTATE and message of the rule as a lone document reports it).
INSERT INTO submission_examples
SELECT fn, doc, s, m FROM (VALUES
  ('submission_documents', '[1]'::jsonb, 'SL422', 'document: must be a JSON object'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"zzz": 1}', 'SL422', 'zzz: unknown field'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"submission_id": 7}', 'SL422', 'submission_id: must be a uuid string'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"evaluation_version_id": "x"}', 'SL422',
   'evaluation_version_id: must be a uuid string'),
  ('submission_documents', (SELECT doc FROM valid_doc) || jsonb_build_object('evaluation_version_id', tests.uuid_of('nothing', 1)),
   'SL404', 'evaluation_version_id: evaluation version % does not exist'),
  ('submission_documents', (SELECT doc FROM valid_doc) - 'user_id', 'SL422', 'user_id: must be a uuid string'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"assignment_id": "{x}"}', 'SL422', 'assignment_id: must be a uuid string'),
  ('submission_documents', (SELECT doc FROM valid_doc) || jsonb_build_object('assignment_id', tests.uuid_of('nothing', 2)),
   'SL404', 'assignment_id: assignment % does not exist'),
  ('submission_documents', (SELECT doc FROM valid_doc) || jsonb_build_object('assignment_id', tests.uuid_of('assignment', 242)),
   'SL422', 'assignment_id: assignment % is for another evaluation'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"submitted_at": "2026-02-30T10:00:00Z"}', 'SL422',
   'submitted_at: must be an ISO 8601 timestamp%'),
  ('submission_documents', (SELECT doc FROM valid_doc) || '{"answers": []}', 'SL422', 'answers: must be a non-empty array'),
  ('submission_documents', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', (SELECT jsonb_agg('{}'::jsonb) FROM generate_series(1, 1001))),
   'SL422', 'answers: at most 1000 answers'),
  -- Only a call of several documents can name an id twice: its example is
  -- checked in bulk only (and named by the second document).
  ('submission_documents', (SELECT doc FROM valid_doc) || jsonb_build_object('submission_id', tests.uuid_of('submission', 2412)),
   'SL422', 'submission_id: % appears twice in this call'),
  ('submission_answer_problem', (SELECT doc FROM valid_doc) || '{"answers": [5]}', 'SL422', 'answers[0]: must be a JSON object'),
  ('submission_answer_problem', (SELECT doc FROM valid_doc) || '{"answers": [{"why": 1}]}', 'SL422', 'answers[0].why: unknown field'),
  ('submission_answer_problem', (SELECT doc FROM valid_doc) || '{"answers": [{"question_version_id": 3, "selected": []}]}', 'SL422',
   'answers[0].question_version_id: must be a uuid string'),
  ('submission_answer_problem', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 242),
                                                                           'selected', '[]'::jsonb))),
   'SL422', 'answers[0].question_version_id: % is not an item of evaluation version %'),
  ('submission_answer_problem', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 241),
                                                                           'selected', '"B"'::jsonb))),
   'SL422', 'answers[0].selected: must be an array of option strings'),
  ('selection_problem', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 241),
                                                                           'selected', '["B", 2]'::jsonb))),
   'SL422', 'answers[0].selected: must be an array of option strings'),
  ('selection_problem', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 241),
                                                                           'selected', '["B", "Z"]'::jsonb))),
   'SL422', 'answers[0].selected: "Z" is not an option of question version %'),
  ('selection_problem', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(jsonb_build_object('question_version_id', tests.uuid_of('q1', 241),
                                                                           'selected', '["B", "B"]'::jsonb))),
   'SL422', 'answers[0].selected: lists an option twice'),
  ('mark_repeated_answers', (SELECT doc FROM valid_doc)
     || jsonb_build_object('answers', jsonb_build_array(
          jsonb_build_object('question_version_id', tests.uuid_of('q1', 241), 'selected', '["B"]'::jsonb),
          jsonb_build_object('question_version_id', tests.uuid_of('q1', 241), 'selected', '["A"]'::jsonb))),
   'SL422', 'answers[1].question_version_id: % is answered twice')
) x(fn, doc, s, m);

SELECT is_empty($$
  SELECT p.proname, regexp_count(pg_get_functiondef(p.oid), 'scoreledger_private\.problem\(') AS rules,
         (SELECT count(*) FROM submission_examples e WHERE e.fn = p.proname) AS examples
  FROM pg_proc p
  WHERE p.pronamespace = 'scoreledger_private'::regnamespace
    AND p.proname IN ('submission_documents', 'submission_answer_problem', 'selection_problem', 'mark_repeated_answers')
    AND regexp_count(pg_get_functiondef(p.oid), 'scoreledger_private\.problem\(')
        <> (SELECT count(*) FROM submission_examples e WHERE e.fn = p.proname)
$$, 'every rule of a submission document has an example below (a new rule needs one)');

-- Each example run as a lone document, in bulk (third of three, after two
-- valid documents, or after its twin for the duplicate id), and through
-- the diagnosis the bulk path shares.
INSERT INTO submission_runs (fn, doc, sqlstate, message_like, calldocs, one_state, one_message, bulk_state, bulk_message)
SELECT e.*, call.docs, one.state, one.msg, bulk.state, bulk.msg
FROM submission_examples e
CROSS JOIN LATERAL (SELECT CASE WHEN e.message_like LIKE '%appears twice%'
                                THEN jsonb_build_array((SELECT doc FROM valid_doc), e.doc, e.doc)
                                ELSE jsonb_build_array((SELECT doc FROM valid_doc), (SELECT doc FROM valid_doc), e.doc) END
                           AS docs) call
CROSS JOIN LATERAL pg_temp.outcome(format('SELECT scoreledger.record_submission(%L)', e.doc)) one
CROSS JOIN LATERAL pg_temp.outcome(format('SELECT scoreledger.record_submissions(%L)', call.docs)) bulk;

-- The diagnosis is private: the owner's.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 241));
UPDATE submission_runs r SET diag_state = coalesce(d.sqlstate, a.sqlstate), diag_message = coalesce(d.message, a.message)
FROM submission_runs r2
LEFT JOIN LATERAL scoreledger_private.submission_document_errors(r2.calldocs, 'submissions') d ON true
LEFT JOIN LATERAL scoreledger_private.submission_answer_errors(r2.calldocs, 'submissions') a ON true
WHERE r2.ctid = r.ctid;
SELECT tests.authenticate_as(tests.uuid_of('tenant', 241), tests.uuid_of('actor', 241));

SELECT is(count(*), 22::bigint, 'every submission example ran') FROM submission_runs;

SELECT is_empty($$
  SELECT fn, message_like, bulk_state, bulk_message FROM submission_runs
  WHERE bulk_state IS DISTINCT FROM sqlstate
     OR bulk_message NOT LIKE 'submissions[2]' || CASE WHEN message_like LIKE 'document:%'
                                                        THEN substr(message_like, 9) ELSE '.' || message_like END
$$, 'in bulk, each rule raises its own SQLSTATE and message, naming the entry');

SELECT is_empty($$
  SELECT fn, message_like, one_state, one_message, bulk_message FROM submission_runs
  WHERE message_like NOT LIKE '%appears twice%'
    AND (one_state IS DISTINCT FROM bulk_state
         OR 'submissions[2]' || CASE WHEN one_message LIKE 'document:%' THEN substr(one_message, 9)
                                     ELSE '.' || one_message END IS DISTINCT FROM bulk_message)
$$, 'a lone document and a bulk call report each rule identically (but for the entry''s name)');

SELECT is_empty($$
  SELECT fn, message_like, bulk_state, bulk_message, diag_state, diag_message FROM submission_runs
  WHERE (diag_state, diag_message) IS DISTINCT FROM (bulk_state, bulk_message)
$$, 'the diagnosis names exactly what recording raises');

SELECT is((SELECT count(*) FROM scoreledger.submissions), 1::bigint, 'no example recorded anything');

-- ---------------------------------------------------------------------
-- Result documents: one answer whatever the call's size
-- ---------------------------------------------------------------------

INSERT INTO valid_result
SELECT jsonb_build_object('evaluator', 'judge', 'submission_id', tests.uuid_of('submission', 2411), 'payload', '{"a": 1}'::jsonb);

INSERT INTO result_examples
SELECT (SELECT doc FROM valid_result) || x.overrides, x.s, x.m FROM (VALUES
  ('{}'::jsonb, NULL::text, NULL::text),  -- replaced below by a non-object
  ('{"zzz": 1}', 'SL422', 'zzz: unknown field (expected evaluator, submission_id, payload, error, result_id)'),
  ('{"evaluator": " "}', 'SL422', 'evaluator: must be the name of a registered evaluator'),
  ('{"evaluator": "nobody"}', 'SL404', 'evaluator: no evaluator named ''nobody'' in this tenant%'),
  ('{"submission_id": "x"}', 'SL422', 'submission_id: must be a uuid string or null'),
  (jsonb_build_object('submission_id', tests.uuid_of('nothing', 3)), 'SL404', 'submission_id: submission % does not exist'),
  ('{"error": 5}', 'SL422', 'error: must be a non-empty string or null'),
  (jsonb_build_object('payload', (SELECT jsonb_object_agg('k' || n, n) FROM generate_series(1, 1001) n)),
   'SL422', 'payload: at most 1000 top-level keys'),
  -- The bulk path used to cast ids ({...}, unhyphenated) that one document
  -- refused: now one rule refuses them at every size.
  ('{"result_id": "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"}', 'SL422', 'result_id: must be a uuid string or null'),
  (jsonb_build_object('result_id', tests.uuid_of('result', 1)), 'SL422', 'result_id: % appears twice in this call')
) x(overrides, s, m);
UPDATE result_examples SET doc = '"a string"', sqlstate = 'SL422', message_like = ': must be a JSON object' WHERE sqlstate IS NULL;

SELECT is((SELECT regexp_count(pg_get_functiondef(p.oid), 'scoreledger_private\.problem\(')::bigint
           FROM pg_proc p WHERE p.pronamespace = 'scoreledger_private'::regnamespace AND p.proname = 'result_documents'),
          (SELECT count(*) FROM result_examples),
          'every rule of a result document has an example here (a new rule needs one)');

-- Each example last in a call of three documents (the few-documents path)
-- and of twelve (the bulk path); the duplicate id after its twin.
INSERT INTO result_runs
SELECT e.*, few.state, few.msg, many.state, many.msg
FROM result_examples e
CROSS JOIN LATERAL (SELECT CASE WHEN e.message_like LIKE '%appears twice%' THEN e.doc ELSE (SELECT doc FROM valid_result) END
                           AS before) b
CROSS JOIN LATERAL pg_temp.outcome(format('SELECT scoreledger.record_evaluation_results(%L)',
  jsonb_build_array((SELECT doc FROM valid_result), b.before, e.doc))) few
CROSS JOIN LATERAL pg_temp.outcome(format('SELECT scoreledger.record_evaluation_results(%L)',
  (SELECT jsonb_agg((SELECT doc FROM valid_result)) FROM generate_series(1, 10)) || jsonb_build_array(b.before, e.doc))) many;

SELECT is_empty($$
  SELECT message_like, few_state, few_message, many_state, many_message FROM result_runs
  WHERE few_state IS DISTINCT FROM sqlstate
     OR few_message NOT LIKE '[2]' || CASE WHEN message_like LIKE ':%' THEN message_like ELSE '.' || message_like END
     OR many_state IS DISTINCT FROM few_state
     OR regexp_replace(many_message, '^\[11\]', '[2]') IS DISTINCT FROM few_message
$$, 'a call of three and a call of twelve results report each rule identically, with the rule''s own SQLSTATE');

SELECT is((SELECT count(*) FROM scoreledger.evaluation_results), 0::bigint, 'no result example recorded anything');

SELECT * FROM finish();
ROLLBACK;
