-- Agreement between raters (contract section 13): Krippendorff's alpha at
-- the four levels on his published example, Cohen's kappa per pair on a
-- hand-checked example, the rating rules, undefined figures as null, and
-- every refusal.
BEGIN;
SELECT plan(50);

SELECT tests.score_fixture('agreement', 521);
SELECT scoreledger.create_review_queue('reliability') AS queue \gset
SELECT scoreledger.create_review_queue('second opinion') AS other_queue \gset

-- Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the
-- example with missing values: 4 coders x 12 units ('.' = no value).
CREATE TEMP TABLE kripp (coder int, unit int, v int);
INSERT INTO kripp
SELECT c.coder, u.unit, nullif(u.v, '.')::int
FROM (VALUES (1, '1 2 3 3 2 1 4 1 2 . . .'), (2, '1 2 3 3 2 2 4 1 2 5 . 3'),
             (3, '. 3 3 3 2 3 4 2 2 5 1 .'), (4, '1 2 3 3 2 4 4 1 2 5 1 .')) c(coder, line)
CROSS JOIN LATERAL unnest(string_to_array(c.line, ' ')) WITH ORDINALITY u(v, unit);
DELETE FROM kripp WHERE v IS NULL;
GRANT SELECT ON kripp TO scoreledger_app;

-- One submission and one review item per unit.
SELECT tests.submit(521, 100 + u, ARRAY['B'], NULL, NULL, 52100 + u) FROM generate_series(1, 12) u;
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 52100 + u)) FROM generate_series(1, 12) u;
CREATE TEMP VIEW unit_items AS
  SELECT i.item_id, k.unit FROM scoreledger.review_items i
  JOIN generate_series(1, 12) k(unit) ON i.submission_id = tests.uuid_of('submission', 52100 + k.unit)
  WHERE i.queue_id = (SELECT queue_id FROM scoreledger.review_queues WHERE name = 'reliability');
GRANT SELECT ON unit_items TO scoreledger_app;

-- Each coder annotates their units: "v" a number (NUMERIC), "c" the same
-- value as a string (CATEGORICAL), "same" always "ok".
CREATE FUNCTION pg_temp.annotate_as(coder int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM tests.clear_context();
  PERFORM tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('coder', coder));
  PERFORM scoreledger.save_annotation(i.item_id, jsonb_build_object('v', k.v, 'c', k.v::text, 'same', 'ok'))
  FROM kripp k JOIN unit_items i ON i.unit = k.unit WHERE k.coder = annotate_as.coder;
END $$;
SELECT pg_temp.annotate_as(coder) FROM generate_series(1, 4) coder;

SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('actor', 521));
CREATE TEMP TABLE published (level text, alpha numeric);
INSERT INTO published VALUES ('nominal', 113 / 152::numeric), ('ordinal', 108577 / 133160::numeric),
                             ('interval', 951 / 1120::numeric), ('ratio', 18222619 / 22852465::numeric);
GRANT SELECT ON published TO scoreledger_app;

-- ---------------------------------------------------------------------
-- Krippendorff's alpha on the published example
-- ---------------------------------------------------------------------
SELECT is(round((scoreledger.score_agreement('v', 'nominal') ->> 'alpha')::numeric, 3), 0.743,
          'nominal alpha of Krippendorff''s example: 0.743 as published');
SELECT is(round((scoreledger.score_agreement('v', 'interval') ->> 'alpha')::numeric, 3), 0.849,
          'interval alpha: 0.849 as published');
SELECT is(round((scoreledger.score_agreement('v', 'ordinal') ->> 'alpha')::numeric, 3), 0.815,
          'ordinal alpha: 0.815 (published value)');
SELECT is(round((scoreledger.score_agreement('v', 'ratio') ->> 'alpha')::numeric, 3), 0.797,
          'ratio alpha: 0.797 (published value)');
-- Exactly, not just to three places: the fractions an exact computation
-- with the coincidence matrix gives (113/152, 108577/133160, 951/1120,
-- 18222619/22852465), to 15 places.
SELECT is(ARRAY(SELECT p.level FROM published p
                WHERE round((scoreledger.score_agreement('v', p.level) ->> 'alpha')::numeric, 15) <> round(p.alpha, 15)),
          '{}'::text[], 'all four levels equal the exact fractions to 15 places (figures are not rounded)');
SELECT ok((scoreledger.score_agreement('v', 'nominal') ->> 'alpha') ~ '^0\.743421052631578947\d*$',
          'alpha is returned unrounded');
SELECT is(scoreledger.score_agreement('v') ->> 'level', 'interval', 'NUMERIC scores default to the interval level');
SELECT is(scoreledger.score_agreement('v') -> 'alpha', scoreledger.score_agreement('v', 'interval') -> 'alpha',
          'the default level gives the interval figure');
SELECT is(scoreledger.score_agreement('c') ->> 'level', 'nominal', 'CATEGORICAL scores default to the nominal level');
SELECT is(scoreledger.score_agreement('c') -> 'alpha', scoreledger.score_agreement('v', 'nominal') -> 'alpha',
          'string values compare like the numbers at nominal level');
SELECT is(scoreledger.score_agreement('c', 'ordinal') -> 'alpha', scoreledger.score_agreement('v', 'ordinal') -> 'alpha',
          'strings that are numbers (choices "1".."5") are usable at the numeric levels');
-- Two raters who never use a common value: chance agreement 0, kappa 0
-- (not a missing join row), alpha below 0 (systematic disagreement).
SELECT scoreledger.save_annotation(i.item_id, '{"split": "x"}') FROM unit_items i WHERE i.unit IN (2, 3);
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('coder', 2));
SELECT scoreledger.save_annotation(i.item_id, '{"split": "y"}') FROM unit_items i WHERE i.unit IN (2, 3);
SELECT results_eq($$SELECT (d ->> 'alpha')::numeric AS alpha, (d -> 'pairs' -> 0 ->> 'kappa')::numeric AS kappa,
                           (d -> 'pairs' -> 0 ->> 'agreement')::numeric AS agreement
                    FROM scoreledger.score_agreement('split') d$$,
                  $$VALUES (-0.5, 0::numeric, 0::numeric)$$,
                  'raters with no value in common: kappa 0, agreement 0, alpha -0.5 (1 - 3 * 4 / 8)');
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('coder', 1));
SELECT results_eq($$SELECT d ->> 'units' AS units, d ->> 'pairable_units' AS pu, d ->> 'raters' AS raters,
                           d ->> 'pairable_values' AS pv, (d ->> 'observed_agreement')::numeric AS observed
                    FROM scoreledger.score_agreement('v', 'nominal') d$$,
                  $$VALUES ('12', '11', '4', '40', 0.8)$$,
                  '12 units, 11 pairable (unit 12 has one value), 4 raters, 40 pairable values, 80% of pairs equal');
SELECT is(scoreledger.score_agreement('v', 'nominal') ->> 'observed_agreement',
          scoreledger.score_agreement('v', 'interval') ->> 'observed_agreement',
          'observed_agreement counts equal values whatever the level');

-- ---------------------------------------------------------------------
-- Cohen's kappa per pair, checked by hand
-- ---------------------------------------------------------------------
-- Coders 1 and 2 both rated units 1-9 and differ on unit 6 only: raw
-- agreement 8/9. Their values over those units: coder 1 three 1s, three 2s,
-- two 3s, one 4; coder 2 two 1s, four 2s, two 3s, one 4; chance agreement
-- (3*2 + 3*4 + 2*2 + 1*1) / 81 = 23/81; kappa (8/9 - 23/81) / (1 - 23/81)
-- = 49/58.
CREATE TEMP VIEW pair_12 AS
  SELECT p FROM jsonb_array_elements(scoreledger.score_agreement('v') -> 'pairs') p
  WHERE (p ->> 'rater_a', p ->> 'rater_b') IN ((tests.uuid_of('coder', 1)::text, tests.uuid_of('coder', 2)::text),
                                              (tests.uuid_of('coder', 2)::text, tests.uuid_of('coder', 1)::text));
GRANT SELECT ON pair_12 TO scoreledger_app;
SELECT is((SELECT (p ->> 'units')::int FROM pair_12), 9, 'a pair counts the units both rated');
SELECT is((SELECT round((p ->> 'agreement')::numeric, 15) FROM pair_12), round(8 / 9::numeric, 15), 'raw agreement 8/9');
SELECT is((SELECT round((p ->> 'kappa')::numeric, 15) FROM pair_12), round(49 / 58::numeric, 15), 'Cohen''s kappa 49/58');
SELECT is(jsonb_array_length(scoreledger.score_agreement('v') -> 'pairs'), 6, 'every pair of the 4 raters that share a unit');
SELECT ok((SELECT bool_and(p ->> 'rater_a' < p ->> 'rater_b')
           FROM jsonb_array_elements(scoreledger.score_agreement('v') -> 'pairs') p),
          'each pair is listed once');
SELECT set_eq($$SELECT r ->> 'rater' AS rater, r ->> 'source' AS source, (r ->> 'units')::int AS units
                FROM jsonb_array_elements(scoreledger.score_agreement('v') -> 'rater_list') r$$,
              $$VALUES (tests.uuid_of('coder', 1)::text, 'human', 9), (tests.uuid_of('coder', 2)::text, 'human', 11),
                       (tests.uuid_of('coder', 3)::text, 'human', 10), (tests.uuid_of('coder', 4)::text, 'human', 11)$$,
              'rater_list: each rater with how many units they rated');

-- ---------------------------------------------------------------------
-- Undefined figures are null, never a division error
-- ---------------------------------------------------------------------
SELECT results_eq($$SELECT d -> 'alpha' AS alpha, (d ->> 'observed_agreement')::numeric AS observed FROM scoreledger.score_agreement('same') d$$,
                  $$VALUES ('null'::jsonb, 1::numeric)$$,
                  'no variation at all: alpha undefined (null), every pair agrees');
SELECT is((SELECT bool_and(p -> 'kappa' = 'null' AND (p ->> 'agreement')::numeric = 1)
           FROM jsonb_array_elements(scoreledger.score_agreement('same') -> 'pairs') p), true,
          'kappa of two raters who only ever gave one and the same value: null (chance agreement is 1); agreement 1');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('same', 'ordinal')$$, 'SL422',
                              'level: ordinal needs numbers; a value of ''same'' is ''ok''%',
                              'ordinal on values that are not numbers: SL422 naming the value');

-- A name only one rater has: nothing pairable.
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('coder', 1));
SELECT scoreledger.save_annotation(i.item_id, '{"solo": 1}') FROM unit_items i WHERE i.unit = 1;
SELECT results_eq($$SELECT d ->> 'units' AS units, d ->> 'pairable_units' AS pu, d ->> 'pairable_values' AS pv, d -> 'alpha' AS alpha,
                           d -> 'observed_agreement' AS observed, d -> 'pairs' AS pairs
                    FROM scoreledger.score_agreement('solo') d$$,
                  $$VALUES ('1', '0', '0', 'null'::jsonb, 'null'::jsonb, '[]'::jsonb)$$,
                  'one rater: no pairable values, alpha and observed_agreement null, no pairs');

-- ---------------------------------------------------------------------
-- Whose value counts
-- ---------------------------------------------------------------------
-- Coder 1 changes their mind on unit 6 (1 -> 2) in a second queue: their
-- latest submitted annotation counts, so coders 1 and 2 now agree fully.
SELECT scoreledger.add_review_item(:'other_queue', tests.uuid_of('submission', 52106)) AS item6b \gset
SELECT scoreledger.save_annotation(:'item6b', '{"v": 2}', 'submitted', true, tests.uuid_of('annotation', 5261));
SELECT is((SELECT (p ->> 'agreement')::numeric FROM pair_12), 1::numeric,
          'a rater''s value is from their latest submitted annotation on the unit (authoritative or not)');
SELECT is((SELECT (p ->> 'agreement')::numeric
           FROM jsonb_array_elements(scoreledger.score_agreement('v', NULL, :'queue') -> 'pairs') p
           WHERE p ->> 'rater_a' IN (tests.uuid_of('coder', 1)::text, tests.uuid_of('coder', 2)::text)
             AND p ->> 'rater_b' IN (tests.uuid_of('coder', 1)::text, tests.uuid_of('coder', 2)::text)),
          round(8 / 9::numeric, 20), 'with queue_id, only that queue''s annotations count');
SELECT is(round((scoreledger.score_agreement('v', 'interval', :'queue') ->> 'alpha')::numeric, 15), round(951 / 1120::numeric, 15),
          'the example''s queue alone still gives the published interval alpha');
-- A later draft (no scores) does not replace the submitted value.
SELECT scoreledger.save_annotation(:'item6b', '{"v": 4}', 'draft', true, tests.uuid_of('annotation', 5262));
SELECT is((SELECT (p ->> 'agreement')::numeric FROM pair_12), 1::numeric, 'drafts are not ratings');
-- Back to the published data for what follows.
SELECT scoreledger.save_annotation(:'item6b', '{"v": 1}', 'submitted', true, tests.uuid_of('annotation', 5261));
SELECT is(round((scoreledger.score_agreement('v', 'nominal') ->> 'alpha')::numeric, 15), round(113 / 152::numeric, 15),
          'an edit of the latest annotation is followed at once');

-- Evaluators are raters only with include_automated: the judge agrees with
-- coder 4 everywhere, then is overwritten on unit 1.
SELECT scoreledger.register_evaluator('judge');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 52100 + k.unit), jsonb_build_object('v', k.v))
FROM kripp k WHERE k.coder = 4;
SELECT is(scoreledger.score_agreement('v') ->> 'raters', '4', 'evaluators are not raters by default');
SELECT is(scoreledger.score_agreement('v', NULL, NULL, true) ->> 'raters', '5', 'include_automated: each evaluator is a rater');
SELECT set_eq($$SELECT r ->> 'source' AS source, r ->> 'evaluator' AS evaluator, r ->> 'units' AS units
                FROM jsonb_array_elements(scoreledger.score_agreement('v', NULL, NULL, true) -> 'rater_list') r
                WHERE r ->> 'source' = 'automated'$$,
              $$VALUES ('automated', 'judge', '11')$$, 'the evaluator is listed by name with its units');
SELECT is((SELECT (p ->> 'kappa')::numeric
           FROM jsonb_array_elements(scoreledger.score_agreement('v', NULL, NULL, true) -> 'pairs') p
           WHERE tests.uuid_of('coder', 4)::text IN (p ->> 'rater_a', p ->> 'rater_b')
             AND (SELECT evaluator_id::text FROM scoreledger.evaluators WHERE name = 'judge') IN (p ->> 'rater_a', p ->> 'rater_b')),
          1::numeric, 'the judge and coder 4 agree perfectly: kappa 1');
SELECT scoreledger.record_evaluation_result('judge', tests.uuid_of('submission', 52101), '{"v": 5}');
SELECT is((SELECT (p ->> 'agreement')::numeric
           FROM jsonb_array_elements(scoreledger.score_agreement('v', NULL, NULL, true) -> 'pairs') p
           WHERE tests.uuid_of('coder', 4)::text IN (p ->> 'rater_a', p ->> 'rater_b')
             AND (SELECT evaluator_id::text FROM scoreledger.evaluators WHERE name = 'judge') IN (p ->> 'rater_a', p ->> 'rater_b')),
          round(10 / 11::numeric, 20), 'an evaluator''s value is from its latest result on the unit');
-- A queue limits the evaluators to the queue's submissions.
SELECT is(scoreledger.score_agreement('v', NULL, :'other_queue', true) ->> 'units', '1',
          'with queue_id, evaluators count only on submissions that are items of the queue');
SELECT is(scoreledger.score_agreement('v', NULL, NULL, false) -> 'alpha', scoreledger.score_agreement('v') -> 'alpha',
          'without include_automated the judge changes nothing');

-- ---------------------------------------------------------------------
-- Refusals
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('v', 'cardinal')$$, 'SL422',
                              'level: must be one of nominal, ordinal, interval, ratio%', 'an unknown level: SL422 naming the levels');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('nothing by this name')$$, 'SL404',
                              'name: no score named ''nothing by this name''%', 'a name no score has: SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('v', NULL, tests.uuid_of('queue', 999))$$, 'SL404',
                              'queue\_id: review queue % does not exist', 'an unknown queue: SL404');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement(' ')$$, 'SL422', 'name: must be a non-empty string',
                              'a blank name: SL422');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement(NULL)$$, 'SL422', 'name: must be a non-empty string',
                              'no name: SL422');
SELECT tests.throws_code_like(format('SELECT scoreledger.score_agreement(%L)', repeat('n', 201)), 'SL422',
                              'name: must be at most 200 characters%', 'a name beyond the name_chars bound: SL422');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('v', NULL, NULL, NULL)$$, 'SL422',
                              'include\_automated: must be true or false', 'include_automated null: SL422');
-- Ratio needs values of at least 0.
SELECT scoreledger.save_annotation(i.item_id, '{"delta": -1}') FROM unit_items i WHERE i.unit = 1;
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 521), tests.uuid_of('coder', 2));
SELECT scoreledger.save_annotation(i.item_id, '{"delta": 1}') FROM unit_items i WHERE i.unit = 1;
SELECT is((scoreledger.score_agreement('delta', 'interval') ->> 'pairable_values'), '2', 'negative numbers are fine at interval level');
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('delta', 'ratio')$$, 'SL422',
                              'level: ratio needs numbers of at least 0; a value of ''delta'' is ''-1''%',
                              'a negative value at ratio level: SL422, not a division by zero');

-- ---------------------------------------------------------------------
-- Tenancy
-- ---------------------------------------------------------------------
SELECT tests.clear_context();
SELECT tests.authenticate_without_context();
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('v')$$, 'SL401', 'no tenant context%',
                              'without a tenant context: SL401');
SELECT tests.clear_context();
SELECT tests.score_fixture('agreement elsewhere', 522);
SELECT tests.throws_code_like($$SELECT scoreledger.score_agreement('v')$$, 'SL404', '%no score named%',
                              'another tenant''s scores do not exist here');
SELECT scoreledger.create_review_queue('theirs') AS their_queue \gset
SELECT scoreledger.add_review_item(:'their_queue', tests.uuid_of('submission', 5221)) AS their_item \gset
SELECT scoreledger.save_annotation(:'their_item', '{"v": 3}');
SELECT results_eq($$SELECT d ->> 'units' AS units, d ->> 'raters' AS raters FROM scoreledger.score_agreement('v') d$$,
                  $$VALUES ('1', '1')$$, 'a tenant sees only its own ratings of a shared name');
SELECT tests.throws_code_like(format('SELECT scoreledger.score_agreement(%L, NULL, %L)', 'v', :'queue'), 'SL404',
                              'queue\_id: review queue % does not exist', 'another tenant''s queue does not exist here');
SELECT tests.act_as_owner(tests.uuid_of('tenant', 522));
SELECT is(scoreledger.score_agreement('v') ->> 'raters', '1', 'as the owner too (forced row-level security)');

SELECT * FROM finish();
ROLLBACK;
