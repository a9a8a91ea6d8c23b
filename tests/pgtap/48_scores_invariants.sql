-- scoreledger_private.score_breaches(): what `scoreledger check` verifies of
-- the score layer, and proof that it notices tampering.
BEGIN;
SELECT plan(10);

SELECT tests.score_fixture('scores invariants', 481);
SELECT tests.submit(481, 2, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 4812);
SELECT scoreledger.register_evaluator('judge', '{"tone": {"type": "choice"}}');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4811), '{"ok": true, "tone": 1, "n": 2.5}',
                                            NULL, tests.uuid_of('result', 1));
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4812), '{"ok": false}', 'crashed',
                                            tests.uuid_of('result', 2));
SELECT scoreledger.create_review_queue('review') AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4811)) AS item \gset
SELECT scoreledger.save_annotation(:'item', '{"ok": true}', 'submitted', true, tests.uuid_of('annotation', 1));
SELECT scoreledger.save_annotation(:'item', '{"ok": true}', 'draft', true, tests.uuid_of('annotation', 2));
SELECT tests.clear_context();

SELECT tests.act_as_owner(tests.uuid_of('tenant', 481));
SELECT is_empty($$SELECT invariant FROM scoreledger_private.score_breaches() WHERE breaches <> 0$$,
                'written through the API, the score layer holds every invariant');
SELECT is((SELECT count(*) FROM scoreledger_private.score_breaches()), 2::bigint, 'two invariants are checked');

-- Tampering inside savepoints; what check reports is kept in psql
-- variables and asserted after each rollback (pgTAP's own record of a
-- test would be rolled back with the savepoint).
SAVEPOINT tamper;
UPDATE scoreledger_private.scores SET value_numeric = 3 WHERE name = 'n';
SELECT breaches AS changed_breaches, sample AS changed_sample
FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores = the type dispatch%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT results_eq(format('VALUES (%s::bigint, %L)', :'changed_breaches', :'changed_sample'),
                  format('VALUES (1::bigint, %L)', tests.uuid_of('result', 1)),
                  'a score changed behind the writers is reported, with its artefact');

INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, evaluation_result_id)
VALUES (tests.uuid_of('tenant', 481), tests.uuid_of('submission', 4812), 'ghost', 'NUMERIC', 1, tests.uuid_of('result', 1));
SELECT breaches AS misplaced FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores target%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT is(:'misplaced'::bigint, 1::bigint, 'a score on another submission than its artefact''s is reported');

INSERT INTO scoreledger_private.scores (tenant_id, submission_id, name, data_type, value_numeric, annotation_id)
VALUES (tests.uuid_of('tenant', 481), tests.uuid_of('submission', 4811), 'ok', 'BOOLEAN', 1, tests.uuid_of('annotation', 2));
SELECT breaches AS draft_scored FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores = the type dispatch%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT is(:'draft_scored'::bigint, 1::bigint, 'a score of a draft annotation is reported');

INSERT INTO scoreledger_private.score_write_failures (tenant_id, source_kind, source_id, error)
VALUES (tests.uuid_of('tenant', 481), 'evaluation_result', tests.uuid_of('result', 1), 'failed');
UPDATE scoreledger_private.scores SET value_numeric = 3 WHERE name = 'n';
SELECT breaches AS known_stale FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores = the type dispatch%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT is(:'known_stale'::bigint, 0::bigint,
          'stale scores of an artefact with an open write failure are known, not a breach');

-- An artefact that predates the score layer (written behind the writers,
-- as in 47_scores_backfill) awaits the backfill: pending, not a breach. One
-- that lost only some of its scores is a breach.
INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
SELECT tests.uuid_of('tenant', 481), tests.uuid_of('result', 3), e.evaluator_id, tests.uuid_of('submission', 4812), '{"n": 1}'
FROM scoreledger_private.evaluators e WHERE e.tenant_id = tests.uuid_of('tenant', 481);
SELECT breaches AS unwritten FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores = the type dispatch%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT is(:'unwritten'::bigint, 0::bigint, 'an artefact awaiting the backfill (no scores, no warnings) is pending work, not a breach');

DELETE FROM scoreledger_private.scores WHERE evaluation_result_id = tests.uuid_of('result', 1) AND name = 'n';
SELECT breaches AS partly_lost FROM scoreledger_private.score_breaches() WHERE invariant LIKE 'scores = the type dispatch%' \gset
ROLLBACK TO SAVEPOINT tamper;
SELECT is(:'partly_lost'::bigint, 1::bigint, 'an artefact missing some of its scores is reported');
SELECT tests.clear_context();

-- check_invariants includes the score layer's invariants, tenant by tenant.
SELECT is((SELECT count(*) FROM scoreledger.check_invariants()
           WHERE scope = 'tenant scores invariants' AND invariant LIKE 'scores %'), 2::bigint,
          'check_invariants() reports the score layer''s two invariants per tenant');
SELECT is_empty($$SELECT invariant FROM scoreledger.check_invariants() WHERE breaches <> 0$$,
                'and finds no breach in data written through the API');

SELECT * FROM finish();
ROLLBACK;
