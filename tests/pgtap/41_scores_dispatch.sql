-- The type dispatch of contract section 8, key by key, through the live
-- writer (record_evaluation_result) and on its own (score_values /
-- score_warnings).
BEGIN;
SELECT plan(29);

SELECT tests.score_fixture('scores dispatch', 411);
SELECT scoreledger.register_evaluator('plain');
SELECT scoreledger.register_evaluator('typed', '{"verdict": {"type": "choice", "choices": ["0", "1"]},
                                                  "flag": {"type": "choice"}, "mood": {"type": "choice"},
                                                  "size": {"type": "number"}, "gone": {"type": "choice"}}');

-- One result carrying every JSON type, through an evaluator without a schema.
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111),
  '{"correct": true, "wrong": false, "score": 0.75, "big": 12345678901234567890.5, "zero": 0, "label": "polite",
    "digits": "0", "nothing": null, "list": [1, 2], "nested": {"a": 1}, "": 3, "   ": "blank"}',
  NULL, tests.uuid_of('result', 1));

CREATE TEMP VIEW s AS
  SELECT name, data_type, value_numeric, value_string, source FROM scoreledger.scores
  WHERE evaluation_result_id = tests.uuid_of('result', 1);
GRANT SELECT ON s TO PUBLIC;

SELECT results_eq($$SELECT data_type, value_numeric, value_string FROM s WHERE name = 'correct'$$,
                  $$VALUES ('BOOLEAN', 1::numeric, NULL::text)$$, 'JSON true -> BOOLEAN, value_numeric 1');
SELECT results_eq($$SELECT data_type, value_numeric, value_string FROM s WHERE name = 'wrong'$$,
                  $$VALUES ('BOOLEAN', 0::numeric, NULL::text)$$, 'JSON false -> BOOLEAN, value_numeric 0');
SELECT results_eq($$SELECT data_type, value_numeric, value_string FROM s WHERE name = 'score'$$,
                  $$VALUES ('NUMERIC', 0.75::numeric, NULL::text)$$, 'JSON number -> NUMERIC, value_numeric');
SELECT results_eq($$SELECT data_type, value_numeric FROM s WHERE name = 'big'$$,
                  $$VALUES ('NUMERIC', 12345678901234567890.5::numeric)$$, 'numbers keep their full precision (numeric, not float)');
SELECT results_eq($$SELECT data_type, value_numeric FROM s WHERE name = 'zero'$$,
                  $$VALUES ('NUMERIC', 0::numeric)$$, 'the number 0 is NUMERIC 0, not BOOLEAN');
SELECT results_eq($$SELECT data_type, value_numeric, value_string FROM s WHERE name = 'label'$$,
                  $$VALUES ('CATEGORICAL', NULL::numeric, 'polite')$$, 'JSON string -> CATEGORICAL, value_string');
SELECT results_eq($$SELECT data_type, value_string FROM s WHERE name = 'digits'$$,
                  $$VALUES ('CATEGORICAL', '0')$$, 'the string "0" stays CATEGORICAL "0" (never a number)');
SELECT is_empty($$SELECT name FROM s WHERE name IN ('nothing', 'list', 'nested', '', '   ')$$,
                'null, array and object values, and blank names, are not scores');
SELECT set_eq($$SELECT name, json_type FROM scoreledger.score_write_warnings WHERE source_id = tests.uuid_of('result', 1)$$,
              $$VALUES ('nothing', 'null'), ('list', 'array'), ('nested', 'object'), ('', 'number'), ('   ', 'string')$$,
              'each skipped key is recorded as a warning, with its JSON type');
SELECT ok((SELECT bool_and(warning LIKE 'skipped: %' AND source_kind = 'evaluation_result'
                           AND submission_id = tests.uuid_of('submission', 4111))
           FROM scoreledger.score_write_warnings WHERE source_id = tests.uuid_of('result', 1)),
          'warnings say why, and name the artefact and its submission');
SELECT is((SELECT count(*) FROM s), 7::bigint, 'exactly the seven scalar keys became scores');
SELECT ok((SELECT bool_and(source = 'automated') FROM s), 'scores of evaluation results are automated');

-- A schema declaration of type choice forces CATEGORICAL whatever the JSON type.
SELECT scoreledger.record_evaluation_result('typed', tests.uuid_of('submission', 4111),
  '{"verdict": 1, "flag": true, "mood": "calm", "size": 3, "gone": null, "other": 0.5}', NULL, tests.uuid_of('result', 2));
SELECT results_eq($$SELECT name, data_type, value_numeric, value_string FROM scoreledger.scores
                    WHERE evaluation_result_id = tests.uuid_of('result', 2) ORDER BY name$$,
                  $$VALUES ('flag', 'CATEGORICAL', NULL::numeric, 'true'),
                           ('mood', 'CATEGORICAL', NULL::numeric, 'calm'),
                           ('other', 'NUMERIC', 0.5, NULL::text),
                           ('size', 'NUMERIC', 3::numeric, NULL::text),
                           ('verdict', 'CATEGORICAL', NULL::numeric, '1')$$,
                  'choice: number 1 -> CATEGORICAL "1", true -> "true", a string stays itself; other declared types change nothing');
SELECT is((SELECT json_type FROM scoreledger.score_write_warnings WHERE source_id = tests.uuid_of('result', 2)), 'null',
          'a declared choice with a null value is still skipped, with a warning');

-- Artefacts without scores.
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111), '{"a": 1}', 'timeout', tests.uuid_of('result', 3));
SELECT scoreledger.record_evaluation_result('plain', NULL, '{"a": 1}', NULL, tests.uuid_of('result', 4));
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111), '[1, 2]', NULL, tests.uuid_of('result', 5));
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111), '"just text"', NULL, tests.uuid_of('result', 6));
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111), NULL, NULL, tests.uuid_of('result', 7));
SELECT scoreledger.record_evaluation_result('plain', tests.uuid_of('submission', 4111), '{}', NULL, tests.uuid_of('result', 8));
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 3)), 0::bigint,
          'a result with an error has no scores');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id = tests.uuid_of('result', 4)), 0::bigint,
          'a result without a session (submission) has no scores');
SELECT is((SELECT count(*) FROM scoreledger.scores WHERE evaluation_result_id IN (tests.uuid_of('result', 5), tests.uuid_of('result', 6), tests.uuid_of('result', 7))),
          0::bigint, 'results with an array, a string or no payload have no scores');
SELECT is((SELECT count(*) FROM scoreledger.score_write_warnings
           WHERE source_id IN (tests.uuid_of('result', 3), tests.uuid_of('result', 4), tests.uuid_of('result', 5),
                               tests.uuid_of('result', 6), tests.uuid_of('result', 7), tests.uuid_of('result', 8))), 0::bigint,
          'and no warnings: nothing of them was considered');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_results WHERE result_id IN (tests.uuid_of('result', 3),
             tests.uuid_of('result', 4), tests.uuid_of('result', 5), tests.uuid_of('result', 6), tests.uuid_of('result', 7))),
          5::bigint, 'the results themselves are recorded');
SELECT is((SELECT payload FROM scoreledger.evaluation_results WHERE result_id = tests.uuid_of('result', 7)), NULL::jsonb,
          'no payload is stored as null');

-- The dispatch functions on their own: one definition for both producers.
SELECT tests.clear_context();
SELECT results_eq($$SELECT name, data_type, value_numeric, value_string
                    FROM scoreledger_private.score_values('{"b": false, "n": -2.50, "s": "x", "c": 7, "z": null}',
                                                          '{"c": {"type": "choice"}}') ORDER BY name$$,
                  $$VALUES ('b', 'BOOLEAN', 0::numeric, NULL::text), ('c', 'CATEGORICAL', NULL, '7'),
                           ('n', 'NUMERIC', -2.50, NULL), ('s', 'CATEGORICAL', NULL, 'x')$$,
                  'score_values: the dispatch table');
SELECT results_eq($$SELECT name, json_type FROM scoreledger_private.score_warnings('{"b": false, "z": null, "o": {}}') ORDER BY name$$,
                  $$VALUES ('o', 'object'), ('z', 'null')$$, 'score_warnings: only the skipped keys');
SELECT is_empty($$SELECT * FROM scoreledger_private.score_values('[{"a": 1}]', '{}')$$,
                'score_values of a non-object document: nothing');
SELECT is_empty($$SELECT * FROM scoreledger_private.score_values(NULL, '{}')$$, 'score_values of null: nothing');
SELECT is((SELECT value_string FROM scoreledger_private.score_values('{"c": 1.50}', '{"c": {"type": "choice"}}')), '1.50',
          'a choice keeps the number''s JSON text as written');
SELECT is((SELECT count(*) FROM scoreledger_private.score_values(jsonb_build_object(repeat('n', 200), 1, repeat('l', 201), 2), '{}')),
          1::bigint, 'a score name has at most 200 characters ...');
SELECT is((SELECT warning FROM scoreledger_private.score_warnings(jsonb_build_object(repeat('n', 200), 1, repeat('l', 5000), 2))),
          'skipped: a score name has at most 200 characters', '... a longer one is skipped with a warning (never an index failure)');

-- Annotations use the same dispatch, with the queue's form schema.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 411), tests.uuid_of('actor', 411));
SELECT scoreledger.create_review_queue('typed queue', '{"tone": {"type": "choice", "choices": ["ok", "rude"]}, "pass": {"type": "choice"}}')
  AS queue \gset
SELECT scoreledger.add_review_item(:'queue', tests.uuid_of('submission', 4111)) AS item \gset
SELECT scoreledger.save_annotation(:'item', '{"tone": "rude", "pass": false, "stars": 4, "ok": true, "note": null}') AS annotation \gset
SELECT results_eq(format($$SELECT name, data_type, value_numeric, value_string, source FROM scoreledger.scores
                           WHERE annotation_id = %L ORDER BY name$$, :'annotation'),
                  $$VALUES ('ok', 'BOOLEAN', 1::numeric, NULL::text, 'human'),
                           ('pass', 'CATEGORICAL', NULL, 'false', 'human'),
                           ('stars', 'NUMERIC', 4, NULL, 'human'),
                           ('tone', 'CATEGORICAL', NULL, 'rude', 'human')$$,
                  'annotations: the same dispatch with the queue''s form schema; their scores are human');
SELECT is((SELECT name FROM scoreledger.score_write_warnings WHERE source_id = :'annotation'::uuid), 'note',
          'annotations: a null field is skipped with a warning');
SELECT tests.clear_context();

SELECT * FROM finish();
ROLLBACK;
