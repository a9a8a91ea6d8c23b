-- The read side (contract section 8, ADR-0014): scores, the authoritative
-- filter, and the concordance of automated and authoritative human values.
BEGIN;
SELECT plan(16);

SELECT tests.score_fixture('scores read side', 441);
SELECT tests.submit(441, 2, ARRAY['B'], ARRAY['A','B'], ARRAY['A'], 4412);
SELECT scoreledger.register_evaluator('judge', '{"tone": {"type": "choice"}}');
SELECT scoreledger.create_review_queue('review', '{"tone": {"type": "choice"}}') AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4411)) AS item1 \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4412)) AS item2 \gset

-- Submission 1: automated says correct/polite/0.8; an authoritative
-- reviewer agrees on correct, disagrees on tone; a non-authoritative
-- reviewer says something else entirely.
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4411),
  '{"correct": true, "tone": "polite", "score": 0.80}', NULL, tests.uuid_of('result', 1));
SELECT scoreledger.save_annotation(:'item1', '{"correct": true, "tone": "rude", "score": 0.8, "comment_len": 12}',
                                   'submitted', true, tests.uuid_of('annotation', 1));
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 441), tests.uuid_of('actor', 442));
SELECT scoreledger.save_annotation(:'item1', '{"correct": false, "tone": "polite"}', 'submitted', false, tests.uuid_of('annotation', 2));
-- Submission 2: only a draft authoritative annotation.
SELECT scoreledger.save_annotation(:'item2', '{"correct": false}', 'draft', true, tests.uuid_of('annotation', 3));
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 4412), '{"correct": false}', NULL, tests.uuid_of('result', 2));

SELECT is((SELECT count(*) FROM scoreledger.scores WHERE submission_id = tests.uuid_of('submission', 4411)), 9::bigint,
          'scores shows every score of submission 1: 3 automated, 4 + 2 human (authoritative or not)');
SELECT results_eq($$SELECT source, count(*) FROM scoreledger.scores WHERE submission_id = tests.uuid_of('submission', 4411)
                    GROUP BY source ORDER BY source$$,
                  $$VALUES ('automated', 3::bigint), ('human', 6::bigint)$$, 'by source');
SELECT ok((SELECT bool_and(reviewer_id IS NULL AND is_authoritative IS NULL) FROM scoreledger.scores WHERE source = 'automated'),
          'automated scores have no reviewer and no authoritative flag');
SELECT set_eq($$SELECT DISTINCT reviewer_id, is_authoritative FROM scoreledger.scores WHERE source = 'human'$$,
              $$VALUES (tests.uuid_of('actor', 441), true), (tests.uuid_of('actor', 442), false)$$,
              'human scores carry their reviewer and the annotation''s authoritative flag');

SELECT is((SELECT count(*) FROM scoreledger.authoritative_scores WHERE submission_id = tests.uuid_of('submission', 4411)), 7::bigint,
          'authoritative_scores: the automated scores plus the authoritative annotation''s only');
SELECT is_empty($$SELECT 1 FROM scoreledger.authoritative_scores WHERE annotation_id = tests.uuid_of('annotation', 2)$$,
                'a non-authoritative annotation''s scores are filtered out on the read side (but stored)');
SELECT is((SELECT count(*) FROM scoreledger.authoritative_scores WHERE submission_id = tests.uuid_of('submission', 4412)), 1::bigint,
          'a draft has no scores to show, authoritative or not');

SELECT results_eq($$SELECT name, automated_value, human_value, agree FROM scoreledger.score_concordance
                    WHERE submission_id = tests.uuid_of('submission', 4411) ORDER BY name$$,
                  $$VALUES ('comment_len', NULL, '12', NULL::boolean),
                           ('correct', '1', '1', true),
                           ('score', '0.8', '0.8', true),
                           ('tone', 'polite', 'rude', false)$$,
                  'concordance: automated beside authoritative human per name; 0.80 and 0.8 agree; a missing side is null');
SELECT results_eq($$SELECT name, automated_value, human_value, agree FROM scoreledger.score_concordance
                    WHERE submission_id = tests.uuid_of('submission', 4412)$$,
                  $$VALUES ('correct', '0', NULL::text, NULL::boolean)$$,
                  'a submission with only a draft review has no human side');
SELECT is((SELECT annotation_id FROM scoreledger.score_concordance WHERE submission_id = tests.uuid_of('submission', 4411) AND name = 'tone'),
          tests.uuid_of('annotation', 1), 'the human side is the authoritative annotation, never the other reviewer''s');
SELECT is((SELECT evaluation_result_id FROM scoreledger.score_concordance WHERE submission_id = tests.uuid_of('submission', 4411) AND name = 'tone'),
          tests.uuid_of('result', 1), 'the automated side names its result');

-- The authoritative reviewer changes their mind: the concordance follows.
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 441), tests.uuid_of('actor', 441));
SELECT scoreledger.save_annotation(:'item1', '{"correct": true, "tone": "polite", "score": 0.8}', 'submitted', true, tests.uuid_of('annotation', 1));
SELECT is((SELECT agree FROM scoreledger.score_concordance WHERE submission_id = tests.uuid_of('submission', 4411) AND name = 'tone'),
          true, 'an edit of the authoritative annotation is reflected at once (every submitted save writes)');
SELECT is_empty($$SELECT 1 FROM scoreledger.score_concordance WHERE submission_id = tests.uuid_of('submission', 4411) AND name = 'comment_len'$$,
                'a name no side has any more disappears');

-- Two evaluators on one name: the latest result is the automated side.
SELECT scoreledger.register_evaluator('second judge', '{"tone": {"type": "choice"}}');
SELECT scoreledger.record_evaluation_result('second judge', tests.uuid_of('submission', 4411), '{"tone": "rude"}', NULL, tests.uuid_of('result', 3));
SELECT results_eq($$SELECT automated_value, evaluation_result_id, agree FROM scoreledger.score_concordance
                    WHERE submission_id = tests.uuid_of('submission', 4411) AND name = 'tone'$$,
                  $$VALUES ('rude', tests.uuid_of('result', 3), false)$$,
                  'with several automated values for one name, the most recently written one is compared');

-- Made non-authoritative: its scores stay, the read side drops them.
SELECT scoreledger.save_annotation(:'item1', '{"correct": true}', 'submitted', false, tests.uuid_of('annotation', 1));
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE annotation_id = tests.uuid_of('annotation', 1)), 1::bigint,
          'an annotation saved as non-authoritative keeps its (rewritten) scores');
SELECT is((SELECT count(*) FROM scoreledger.score_concordance WHERE submission_id = tests.uuid_of('submission', 4411)
           AND annotation_id IS NOT NULL), 0::bigint, 'but leaves the concordance''s human side');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
