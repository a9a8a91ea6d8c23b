-- Score history and the invariants the database enforces (contract sections
-- 3 and 5): raw answers and submission facts are immutable, history is
-- append-only for the owner too, a score moves only by writing history, and
-- check_invariants() notices when the data disagrees with the rules.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(76);

SELECT scoreledger.create_tenant('history tenant', tests.uuid_of('tenant', 701));
SELECT scoreledger.create_tenant('history neighbour', tests.uuid_of('tenant', 702));

-- {score, max_score} of a submission as the application sees it.
CREATE FUNCTION tests.score_of(submission uuid) RETURNS numeric[] LANGUAGE sql AS $$
  SELECT ARRAY[s.score, s.max_score] FROM scoreledger_private.submissions s WHERE s.submission_id = submission
$$;
-- {score, max_score} of a submission's latest (highest id) history row.
CREATE FUNCTION tests.latest_history_of(submission uuid) RETURNS numeric[] LANGUAGE sql AS $$
  SELECT ARRAY[h.score, h.max_score] FROM scoreledger_private.score_history h
  WHERE h.submission_id = submission ORDER BY h.history_id DESC LIMIT 1
$$;
-- check_invariants() breaches of one invariant in one scope.
CREATE FUNCTION tests.breaches(scope_name text, invariant_like text) RETURNS bigint LANGUAGE sql AS $$
  SELECT sum(c.breaches)::bigint FROM scoreledger.check_invariants() c
  WHERE c.scope = scope_name AND c.invariant LIKE invariant_like
$$;
CREATE FUNCTION tests.breach_sample(scope_name text, invariant_like text) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(c.sample, ', ') FROM scoreledger.check_invariants() c
  WHERE c.scope = scope_name AND c.invariant LIKE invariant_like
$$;

SELECT tests.authenticate_as(tests.uuid_of('tenant', 702), tests.uuid_of('actor', 702));
SELECT tests.make_evaluation(702);
SELECT tests.submit(702, 1, ARRAY['B'], NULL, NULL, 7020);
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 701), tests.uuid_of('actor', 701));
SELECT tests.make_evaluation(701);
SELECT tests.make_evaluation(703);
SELECT tests.submit(701, 1, ARRAY['B'], ARRAY['A','B'], ARRAY['A','B','D'], 7001);
SELECT tests.submit(701, 2, ARRAY['B'], NULL, NULL, 7002);
SELECT tests.submit(703, 3, ARRAY['C'], ARRAY['A','B'], NULL, 7003);

-- ---------------------------------------------------------------------
-- The first history row is the initial scoring
-- ---------------------------------------------------------------------
SELECT results_eq($$SELECT correction_batch_id, score, max_score FROM scoreledger.submission_score_history(tests.uuid_of('submission', 7001))$$,
                  $$VALUES (NULL::uuid, 4::numeric, 6::numeric)$$,
                  'a recorded submission has one history row: no batch, its score (4 of 6)');
SELECT results_eq($$SELECT score, max_score FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                  $$VALUES (4::numeric, 6::numeric)$$, 'and the submission''s score equals it');
SELECT is_empty($$
  SELECT h.submission_id FROM scoreledger.score_history h
  WHERE h.id = (SELECT min(x.id) FROM scoreledger.score_history x WHERE x.submission_id = h.submission_id)
    AND h.correction_batch_id IS NOT NULL
$$, 'every submission''s first history row has a null correction_batch_id');
SELECT is_empty($$
  SELECT s.submission_id FROM scoreledger.submissions s
  JOIN LATERAL (SELECT h.score, h.max_score FROM scoreledger.score_history h WHERE h.submission_id = s.submission_id
                ORDER BY h.id DESC LIMIT 1) latest ON true
  WHERE (s.score, s.max_score) IS DISTINCT FROM (latest.score, latest.max_score)
$$, 'every submission''s score equals its latest history row');

-- Applying a batch appends a row and moves the score with it.
SELECT scoreledger.apply_correction_batch(scoreledger.create_correction_batch('key was C', jsonb_build_array(jsonb_build_object(
  'type', 'replace_key', 'evaluation_version_id', tests.uuid_of('version', 703), 'question_version_id', tests.uuid_of('q1', 703),
  'correct', jsonb_build_array('C')))));
SELECT results_eq($$SELECT correction_batch_id IS NULL, score, max_score FROM scoreledger.submission_score_history(tests.uuid_of('submission', 7003))$$,
                  $$VALUES (true, 2::numeric, 3::numeric), (false, 3::numeric, 3::numeric)$$,
                  'an applied batch appends a history row; the first row stays as it was');
SELECT results_eq($$SELECT score, max_score FROM scoreledger.submissions WHERE submission_id = tests.uuid_of('submission', 7003)$$,
                  $$VALUES (3::numeric, 3::numeric)$$, 'and the score follows the latest row');

-- ---------------------------------------------------------------------
-- The application cannot touch history at all (no privilege)
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like($$UPDATE scoreledger_private.score_history SET score = 6$$, '42501', '%',
                 'app: UPDATE of score_history is refused (42501)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.score_history$$, '42501', '%',
                 'app: DELETE from score_history is refused (42501)');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.score_history$$, '42501', '%',
                 'app: TRUNCATE of score_history is refused (42501)');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (scoreledger.current_tenant(), tests.uuid_of('submission', 7001), 6, 6)$$, '42501', '%',
                 'app: INSERT into score_history is refused (42501)');
SELECT tests.throws_code_like($$UPDATE scoreledger.score_history SET score = 6$$, '42501', '%',
                 'app: UPDATE through view scoreledger.score_history is refused (42501)');
SELECT tests.throws_code_like($$DELETE FROM scoreledger.score_history$$, '42501', '%',
                 'app: DELETE through view scoreledger.score_history is refused (42501)');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- The owner: history is append-only, scores move only through history,
-- facts and raw answers are immutable (SL423)
-- ---------------------------------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
SELECT tests.throws_code_like($$UPDATE scoreledger_private.score_history SET score = 6$$, 'SL423', '%',
                 'owner: UPDATE of score_history raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.score_history WHERE submission_id = tests.uuid_of('submission', 7001)$$, 'SL423', '%',
                 'owner: DELETE from score_history raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.score_history$$, 'SL423', '%',
                 'owner: TRUNCATE of score_history raises SL423');

SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET score = 6 WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                 'SL423', '%', 'owner: setting a submission''s score directly raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET score = 6, max_score = 6 WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                 'SL423', '%', 'owner: setting score and max_score directly raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET max_score = 5 WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                 'SL423', '%', 'owner: setting max_score directly raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET score = NULL, max_score = NULL$$,
                 'SL423', '%', 'owner: clearing scores directly raises SL423');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.submissions
                     (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count, score, max_score)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7009), tests.uuid_of('version', 701),
                           tests.uuid_of('evaluation', 701), tests.uuid_of('user', 9), 1, now(), 3, 6, 6)$$,
                 'SL423', '%', 'owner: inserting a submission that carries a score raises SL423');
-- Recording writes a scored submission and its first history row in one
-- statement; the score must still be the history row's, whoever writes.
SELECT tests.throws_code_like($$WITH s AS (
                     INSERT INTO scoreledger_private.submissions
                       (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count, score, max_score)
                     VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7009), tests.uuid_of('version', 701),
                             tests.uuid_of('evaluation', 701), tests.uuid_of('user', 9), 1, now(), 3, 6, 6)
                     RETURNING submission_id)
                   INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   SELECT tests.uuid_of('tenant', 701), s.submission_id, 2, 6 FROM s$$,
                 'SL423', '%', 'owner: a submission inserted with a score its history row (same statement) disagrees with raises SL423');
SELECT tests.throws_code_like($$WITH s AS (
                     INSERT INTO scoreledger_private.submissions
                       (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count, score, max_score)
                     VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7009), tests.uuid_of('version', 701),
                             tests.uuid_of('evaluation', 701), tests.uuid_of('user', 9), 1, now(), 3, 6, 6)
                     RETURNING submission_id)
                   INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   SELECT tests.uuid_of('tenant', 701), s.submission_id, 6, 6 FROM s
                   UNION ALL
                   SELECT tests.uuid_of('tenant', 701), s.submission_id, 1, 6 FROM s$$,
                 'SL423', '%', 'owner: ... or that only an earlier of its history rows agrees with raises SL423');

SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET user_id = tests.uuid_of('user', 99) WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                 'SL423', '%', 'owner: changing a submission''s user_id raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET submitted_at = submitted_at + interval '1 day'$$,
                 'SL423', '%', 'owner: changing submitted_at raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET attempt_no = attempt_no + 10$$,
                 'SL423', '%', 'owner: changing attempt_no raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET evaluation_version_id = tests.uuid_of('version', 703),
                   evaluation_id = tests.uuid_of('evaluation', 703) WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                 'SL423', '%', 'owner: moving a submission to another evaluation version raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET recorded_at = now() - interval '1 year'$$,
                 'SL423', '%', 'owner: changing recorded_at raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET submission_id = gen_random_uuid() WHERE submission_id = tests.uuid_of('submission', 7002)$$,
                 'SL423', '%', 'owner: changing a submission''s id raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.submissions WHERE submission_id = tests.uuid_of('submission', 7002)$$,
                 'SL423', '%', 'owner: deleting a submission raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.submissions CASCADE$$,
                 'SL423', '%', 'owner: truncating submissions raises SL423');

SELECT tests.throws_code_like($$UPDATE scoreledger_private.answers SET selected = '{A}', selected_mask = 1
                   WHERE submission_id = tests.uuid_of('submission', 7002)$$,
                 'SL423', '%', 'owner: changing a raw answer raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.answers WHERE submission_id = tests.uuid_of('submission', 7002)$$,
                 'SL423', '%', 'owner: deleting a raw answer raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.answers$$,
                 'SL423', '%', 'owner: truncating answers raises SL423');

-- References are checked per statement, not by foreign keys: as strictly.
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.submissions
                     (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7010), tests.uuid_of('version', 799),
                           tests.uuid_of('evaluation', 701), tests.uuid_of('user', 10), 1, now(), 3)$$,
                 'SL404', '%', 'owner: a submission of an evaluation version that does not exist raises SL404');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.submissions
                     (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7010), tests.uuid_of('version', 701),
                           tests.uuid_of('evaluation', 799), tests.uuid_of('user', 10), 1, now(), 3)$$,
                 'SL404', '%', 'owner: a submission naming another evaluation than its version''s raises SL404');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.submissions
                     (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, assignment_id, attempt_no, submitted_at, answer_count)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7010), tests.uuid_of('version', 701),
                           tests.uuid_of('evaluation', 701), tests.uuid_of('user', 10), tests.uuid_of('assignment', 799), 1, now(), 3)$$,
                 'SL404', '%', 'owner: a submission of an assignment that does not exist raises SL404');
SELECT lives_ok($$SELECT scoreledger.upsert_assignment(jsonb_build_object(
                    'assignment_id', tests.uuid_of('assignment', 701), 'title', 'History homework',
                    'evaluation_id', tests.uuid_of('evaluation', 701), 'attempt_policy', 'highest'))$$,
                'owner: an assignment of the evaluation');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.assignments$$,
                 'SL423', '%', 'owner: deleting an assignment raises SL423 (submissions may name it)');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.assignments CASCADE$$,
                 'SL423', '%', 'owner: truncating assignments raises SL423');

SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), ARRAY[4, 6]::numeric[],
          'after every refused attempt the submission still scores 4 of 6');
SELECT is((SELECT count(*) FROM scoreledger_private.score_history WHERE submission_id = tests.uuid_of('submission', 7001)), 1::bigint,
          'and still has exactly one history row');
SELECT results_eq($$SELECT user_id, attempt_no FROM scoreledger_private.submissions WHERE submission_id = tests.uuid_of('submission', 7001)$$,
                  $$VALUES (tests.uuid_of('user', 1), 1)$$, 'and the same facts');
SELECT is((SELECT array_agg(selected ORDER BY question_version_id) FROM scoreledger_private.answers
            WHERE submission_id = tests.uuid_of('submission', 7002)), ARRAY[ARRAY['B']],
          'and the same raw answers');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- check_invariants on valid data
-- ---------------------------------------------------------------------
SELECT is_empty($$SELECT scope || ': ' || invariant || ' (' || breaches || ')' FROM scoreledger.check_invariants() WHERE breaches <> 0$$,
                'check_invariants() reports no breach on valid data');
SELECT is((SELECT count(*) FROM scoreledger.check_invariants() WHERE scope = 'tenant history tenant'), 12::bigint,
          'check_invariants() checks the data invariants of each tenant');
SELECT ok((SELECT count(*) FROM scoreledger.check_invariants() WHERE scope = 'database') >= 3,
          'check_invariants() checks the catalog invariants too');

SELECT scoreledger_private.enter_context(tests.uuid_of('tenant', 702));
SELECT lives_ok($$SELECT * FROM scoreledger.check_invariants()$$, 'check_invariants() runs with a context set');
SELECT is(scoreledger.current_tenant(), tests.uuid_of('tenant', 702), 'and leaves the caller''s context as it was');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 701), tests.uuid_of('actor', 701));
SELECT tests.throws_code_like($$SELECT * FROM scoreledger.check_invariants()$$, '42501', '%',
                 'check_invariants() reads across tenants: the application may not call it');
SELECT tests.clear_context();

-- ---------------------------------------------------------------------
-- Writing history is the legitimate path: it moves the score
-- ---------------------------------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
SELECT lives_ok($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                  VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 5, 6)$$,
                'owner: inserting a history row is allowed');
SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), ARRAY[5, 6]::numeric[], 'and it moves the submission''s score');
SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), tests.latest_history_of(tests.uuid_of('submission', 7001)),
          'the latest history row equals the score');
SELECT lives_ok($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                  VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 3, 6),
                         (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7002), 0, 1),
                         (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 2, 6)$$,
                'owner: several history rows in one statement');
SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), ARRAY[2, 6]::numeric[],
          'the newest of several rows written together becomes the score');
SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), tests.latest_history_of(tests.uuid_of('submission', 7001)),
          'the latest history row still equals the score');
SELECT is(tests.score_of(tests.uuid_of('submission', 7002)), ARRAY[0, 1]::numeric[],
          'each submission written in that statement follows its own latest row');
-- A row slipped in under an older id is not the latest: it must not become the score.
SELECT tests.sqlstate_of($$INSERT INTO scoreledger_private.score_history (tenant_id, history_id, submission_id, score, max_score)
                           OVERRIDING SYSTEM VALUE
                           VALUES (tests.uuid_of('tenant', 701), 0, tests.uuid_of('submission', 7001), 6, 6)$$);
SELECT is(tests.score_of(tests.uuid_of('submission', 7001)), tests.latest_history_of(tests.uuid_of('submission', 7001)),
          'a history row inserted under an older id (OVERRIDING SYSTEM VALUE) does not break score = latest row');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (tests.uuid_of('tenant', 702), tests.uuid_of('submission', 7020), 0, 1)$$,
                 '42501', '%', 'owner acting in one tenant cannot write history into another');
-- The reference check, once per statement: one row naming no submission
-- fails the whole statement, even beside rows that name real ones.
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7999), 0, 1)$$,
                 'SL404', '%', 'owner: a history row naming a submission that does not exist raises SL404');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 1, 6),
                          (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7999), 0, 1)$$,
                 'SL404', '%', 'owner: ... beside a row naming a recorded submission, the statement still raises SL404');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7020), 0, 1)$$,
                 'SL404', '%', 'owner: a history row of this tenant naming another tenant''s submission raises SL404');
-- A statement of over 10,000 rows is checked by a join instead of probes:
-- the same rule. (The second statement passes the check, then raises on
-- purpose, so its rows are not kept.)
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   SELECT tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 6, 6 FROM generate_series(1, 10000)
                   UNION ALL
                   SELECT tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7999), 0, 1$$,
                 'SL404', '%', 'owner: a statement of 10,001 history rows, one naming no submission, raises SL404');
SELECT tests.throws_code_like($q$DO $do$ BEGIN
                     INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                     SELECT tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7001), 6, 6 FROM generate_series(1, 10001);
                     RAISE EXCEPTION 'the 10,001 rows passed' USING ERRCODE = 'P0001';
                   END $do$$q$,
                 'P0001', 'the 10,001 rows passed', 'owner: ... and one of 10,001 rows naming recorded submissions passes it');
SELECT tests.clear_context();
-- A superuser is not filtered by row-level security: the tenant is part of
-- the reference, not only of the policy.
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                   VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7020), 0, 1)$$,
                 'SL404', '%', 'superuser: a history row of one tenant naming another tenant''s submission raises SL404');

-- check_invariants now sees scores that disagree with the rules.
SELECT is(tests.breaches('tenant history tenant', 'stored score = scoring rules%'), 2::bigint,
          'check_invariants() reports the two submissions whose score disagrees with the scoring rules');
SELECT is(tests.breach_sample('tenant history tenant', 'stored score = scoring rules%'),
          (SELECT string_agg(x::text, ', ' ORDER BY x::text)
             FROM unnest(ARRAY[tests.uuid_of('submission', 7001), tests.uuid_of('submission', 7002)]) x),
          'and names them');
SELECT is(tests.breaches('tenant history tenant', 'latest history row%'), 0::bigint,
          'while the latest-row invariant still holds (the trigger kept scores in step)');
SELECT is(tests.breaches('tenant history neighbour', '%'), 0::bigint, 'and the other tenant is clean');

-- With its guard disabled (which the owner can do, and check reports),
-- a submission of a version that does not exist is reported too.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
SAVEPOINT unguarded;
ALTER TABLE scoreledger_private.submissions DISABLE TRIGGER submission_references_exist;
INSERT INTO scoreledger_private.submissions
  (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count)
VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7011), tests.uuid_of('version', 799),
        tests.uuid_of('evaluation', 701), tests.uuid_of('user', 11), 1, now(), 3);
SELECT tests.clear_context();
SELECT is(tests.breaches('tenant history tenant', 'submissions reference%'), 1::bigint,
          'check_invariants() reports a submission whose evaluation version does not exist');
SELECT is(tests.breaches('database', 'every registered guard%'), 1::bigint,
          'and the disabled guard');
ROLLBACK TO SAVEPOINT unguarded;
-- A submission inserted by hand under another's recording-order number.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
SAVEPOINT unguarded;
INSERT INTO scoreledger_private.submissions
  (tenant_id, submission_id, submission_no, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count)
OVERRIDING SYSTEM VALUE
SELECT s.tenant_id, tests.uuid_of('submission', 7012), s.submission_no, s.evaluation_version_id, s.evaluation_id,
       tests.uuid_of('user', 12), 1, now(), 3
FROM scoreledger_private.submissions s WHERE s.submission_id = tests.uuid_of('submission', 7001);
SELECT tests.clear_context();
SELECT is(tests.breaches('tenant history tenant', 'each submission has its own recording-order number'), 2::bigint,
          'check_invariants() reports two submissions sharing a recording-order number');
ROLLBACK TO SAVEPOINT unguarded;

-- A submission slipped in without any history is caught too.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
INSERT INTO scoreledger_private.submissions
  (tenant_id, submission_id, evaluation_version_id, evaluation_id, user_id, attempt_no, submitted_at, answer_count)
VALUES (tests.uuid_of('tenant', 701), tests.uuid_of('submission', 7008), tests.uuid_of('version', 701),
        tests.uuid_of('evaluation', 701), tests.uuid_of('user', 8), 1, now(), 3);
SELECT tests.clear_context();
SELECT is(tests.breaches('tenant history tenant', 'latest history row%'), 1::bigint,
          'check_invariants() reports a submission without any history row');
SELECT is(tests.breach_sample('tenant history tenant', 'latest history row%'), tests.uuid_of('submission', 7008)::text,
          'and names it');

-- ---------------------------------------------------------------------
-- Raw answers cannot grow either (last: a success here would change scores)
-- ---------------------------------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 701));
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.answers
                     (tenant_id, submission_id, submission_no, question_version_id, selected, selected_mask)
                   SELECT s.tenant_id, s.submission_id, s.submission_no, tests.uuid_of('q3', 701), '{A,B,C}', 7
                   FROM scoreledger_private.submissions s WHERE s.submission_id = tests.uuid_of('submission', 7002)$$,
                 'SL423', '%', 'owner: adding an answer to a recorded submission raises SL423 (raw answers are immutable)');
-- Stored under another submission's number, an answer would count for it.
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.answers
                     (tenant_id, submission_id, submission_no, question_version_id, selected, selected_mask)
                   SELECT s.tenant_id, s.submission_id, other.submission_no, tests.uuid_of('q-unanswered', 701), '{A,B,C}', 7
                   FROM scoreledger_private.submissions s, scoreledger_private.submissions other
                   WHERE s.submission_id = tests.uuid_of('submission', 7002) AND other.submission_id <> s.submission_id
                   LIMIT 1$$,
                 'SL423', '%', 'owner: an answer whose number names another submission than its id raises SL423');
-- (An identity: only DEFAULT gets past PostgreSQL itself, and then the guard.)
SELECT tests.throws_code_like($$UPDATE scoreledger_private.submissions SET submission_no = DEFAULT$$,
                 'SL423', '%', 'owner: changing a submission''s recording-order number raises SL423');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
