-- A history id is issued by the identity's sequence and newer than every
-- earlier row of its submission (issue 12, item 8): a row the owner forges
-- with OVERRIDING SYSTEM VALUE and an id near the bigint maximum would stay
-- the latest row for ever, and every later apply touching the submission
-- would fail SL423. Refused as the owner, set-based in the history trigger.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(7);

SELECT scoreledger.create_tenant('history ids', tests.uuid_of('tenant', 2901));
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2901), tests.uuid_of('actor', 2901));
SELECT tests.make_evaluation(2901);
SELECT tests.submit(2901, 1, ARRAY['B'], ARRAY['A','B'], NULL, 29001);
SELECT tests.submit(2901, 2, ARRAY['C'], NULL, NULL, 29002);
SELECT tests.clear_context();

SELECT tests.act_as_owner(tests.uuid_of('tenant', 2901));
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, history_id, submission_id, score, max_score)
                                OVERRIDING SYSTEM VALUE
                                VALUES (tests.uuid_of('tenant', 2901), 9223372036854775000, tests.sub(29001), 3, 3)$$,
  'SL423', 'score history ids are issued by its sequence%', 'owner: a forged id near the bigint maximum is refused');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, history_id, submission_id, score, max_score)
                                OVERRIDING SYSTEM VALUE
                                SELECT tests.uuid_of('tenant', 2901), h.history_id, tests.sub(29002), 1, 1
                                FROM scoreledger_private.score_history h WHERE h.submission_id = tests.sub(29001)$$,
  'SL423', 'score history ids are issued by its sequence%', 'owner: an id older than the submission''s latest row is refused');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, history_id, submission_id, score, max_score)
                                OVERRIDING SYSTEM VALUE
                                SELECT tests.uuid_of('tenant', 2901), nextval(pg_get_serial_sequence('scoreledger_private.score_history', 'history_id')) + 1000,
                                       tests.sub(29002), 1, 1$$,
  'SL423', 'score history ids are issued by its sequence%', 'owner: an id the sequence has not issued yet is refused');
SELECT lives_ok($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                  VALUES (tests.uuid_of('tenant', 2901), tests.sub(29002), 0, 1),
                         (tests.uuid_of('tenant', 2901), tests.sub(29002), 0, 1)$$,
                'owner: rows with ids from the sequence are accepted (several per submission in one statement)');
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score)
                                VALUES (tests.uuid_of('tenant', 2901), tests.sub(29002), 0, 1)$$,
  '42501', '%', 'the application cannot write history at all') FROM (SELECT tests.authenticate_as(tests.uuid_of('tenant', 2901), tests.uuid_of('actor', 2901))) x;

-- And an apply still moves the submission the forgery tried to pin.
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2901), tests.uuid_of('actor', 2901));
SELECT ok((scoreledger.apply_correction_batch(scoreledger.create_correction_batch('q1 dropped',
             jsonb_build_array(tests.drop_item(2901, 1))))->>'submissions_rescored')::int = 2,
          'a later apply touching the submission succeeds');
SELECT is((SELECT score FROM scoreledger.submissions WHERE submission_id = tests.sub(29001)), 2::numeric,
          'and its score follows the rules (q1 dropped: 2 of 2)');
SELECT * FROM finish();
ROLLBACK;
