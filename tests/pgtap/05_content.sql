-- Content (contract section 3): importing immutable evaluation versions,
-- and assignments.
BEGIN;
SET LOCAL client_min_messages = warning;
SELECT plan(100);

SELECT scoreledger.create_tenant('content tenant', tests.uuid_of('tenant', 501));

-- The import document of evaluation 501, to change in each test below.
CREATE FUNCTION tests.doc() RETURNS jsonb LANGUAGE sql AS $$ SELECT tests.evaluation_doc(501) $$;

-- An assignment document of evaluation `seed`.
CREATE FUNCTION tests.assignment_doc(title text DEFAULT 'Final Safety Exam', policy text DEFAULT NULL, seed int DEFAULT 501)
RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('assignment_id', tests.uuid_of('assignment', 501), 'title', title,
    'evaluation_id', tests.uuid_of('evaluation', seed), 'programme', 'Onboarding', 'attempt_policy', policy))
$$;

SELECT tests.authenticate_as(tests.uuid_of('tenant', 501), tests.uuid_of('actor', 501));

-- ---------------------------------------------------------------------
-- Validation: SL422, the message naming the entry
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version('[]')$$,
  'SL422', 'document: must be a JSON object%', 'import: a non-object document');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(NULL)$$,
  'SL422', 'document%', 'import: a null document');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() || '{"colour": "red"}')$$,
  'SL422', 'colour: unknown field%', 'import: an unknown top-level field is named');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() - 'evaluation_id')$$,
  'SL422', 'evaluation_id: is required%', 'import: evaluation_id is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{evaluation_id}', '"nope"'))$$,
  'SL422', 'evaluation_id: must be a uuid%', 'import: evaluation_id must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() - 'evaluation_title')$$,
  'SL422', 'evaluation_title:%', 'import: evaluation_title is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{evaluation_title}', '"  "'))$$,
  'SL422', 'evaluation_title:%', 'import: evaluation_title must not be blank');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{evaluation_version_id}', '42'))$$,
  'SL422', 'evaluation_version_id: must be a uuid%', 'import: evaluation_version_id, when given, must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() - 'version_no')$$,
  'SL422', 'version_no:%', 'import: version_no is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{version_no}', '0'))$$,
  'SL422', 'version_no:%', 'import: version_no 0 is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{version_no}', '1.5'))$$,
  'SL422', 'version_no:%', 'import: a fractional version_no is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{version_no}', '"1"'))$$,
  'SL422', 'version_no:%', 'import: a version_no string is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() - 'pass_mark')$$,
  'SL422', 'pass_mark:%', 'import: pass_mark is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{pass_mark}', '1.5'))$$,
  'SL422', 'pass_mark:%', 'import: pass_mark above 1 is refused (it is a fraction)');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{pass_mark}', '-0.1'))$$,
  'SL422', 'pass_mark:%', 'import: a negative pass_mark is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{pass_mark}', '"0.7"'))$$,
  'SL422', 'pass_mark:%', 'import: a pass_mark string is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() - 'items')$$,
  'SL422', 'items:%', 'import: items is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items}', '[]'))$$,
  'SL422', 'items:%', 'import: items must not be empty');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items}', '{}'))$$,
  'SL422', 'items:%', 'import: items must be an array');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1}', '"q2"'))$$,
  'SL422', 'items[1]: must be a JSON object%', 'import: an item that is not an object is named');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,0,hint}', '"x"'))$$,
  'SL422', 'items[0].hint: unknown field%', 'import: an unknown item field is named');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,1,question_version_id}')$$,
  'SL422', 'items[1].question_version_id: is required%', 'import: items[i].question_version_id is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,question_version_id}', '"q2"'))$$,
  'SL422', 'items[1].question_version_id: must be a uuid%', 'import: items[i].question_version_id must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,2,question_version_id}', tests.doc() #> '{items,0,question_version_id}'))$$,
  'SL422', 'items[2].question_version_id:%', 'import: the same question version twice in one version');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,2,question_id}')$$,
  'SL422', 'items[2].question_id:%', 'import: items[i].question_id is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,2,question_id}', '"x"'))$$,
  'SL422', 'items[2].question_id:%', 'import: items[i].question_id must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,kind}', '"essay"'))$$,
  'SL422', 'items[1].kind:%', 'import: an unknown kind is named');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,1,kind}')$$,
  'SL422', 'items[1].kind:%', 'import: kind is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,scoring}', '"fuzzy"'))$$,
  'SL422', 'items[1].scoring:%', 'import: an unknown scoring is named');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,0,scoring}', '"partial"'))$$,
  'SL422', 'items[0].scoring:%', 'import: partial scoring on a single_choice item is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,1,options}')$$,
  'SL422', 'items[1].options:%', 'import: options are required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,options}', '[]'))$$,
  'SL422', 'items[1].options:%', 'import: options must not be empty');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,options}', '["A","B","A"]'))$$,
  'SL422', 'items[1].options:%', 'import: an option listed twice is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,options}', '["A","B",3]'))$$,
  'SL422', 'items[1].options:%', 'import: a non-string option is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,options}', '["A","B",""]'))$$,
  'SL422', 'items[1].options:%', 'import: an empty option is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,options}',
                                 (SELECT jsonb_agg('o' || n) FROM generate_series(1, 64) n) || '["A","B"]'))$$,
  'SL422', 'items[1].options:%', 'import: more than 63 options are refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,1,correct}')$$,
  'SL422', 'items[1].correct:%', 'import: correct is required');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,correct}', '[]'))$$,
  'SL422', 'items[1].correct:%', 'import: an empty key is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,correct}', '["A","Z"]'))$$,
  'SL422', 'items[1].correct:%', 'import: a key option that is not an option is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,correct}', '["A","A"]'))$$,
  'SL422', 'items[1].correct:%', 'import: a key option listed twice is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,2,points}', '0'))$$,
  'SL422', 'items[2].points:%', 'import: zero points are refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,2,points}', '-3'))$$,
  'SL422', 'items[2].points:%', 'import: negative points are refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,2,points}', '"3"'))$$,
  'SL422', 'items[2].points:%', 'import: points given as a string are refused');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,prompt}', '7'))$$,
  'SL422', 'items[1].prompt:%', 'import: a non-string prompt is refused');

SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions), 0::bigint, 'no refused import wrote a version');
SELECT is((SELECT count(*) FROM scoreledger.items), 0::bigint, 'no refused import wrote an item');

-- ---------------------------------------------------------------------
-- Importing, re-importing
-- ---------------------------------------------------------------------
SELECT is(tests.make_evaluation(501), tests.uuid_of('version', 501), 'import returns the given evaluation_version_id');
SELECT results_eq($$SELECT evaluation_id, title, version_no, pass_mark, item_count FROM scoreledger.evaluation_versions$$,
                  $$VALUES (tests.uuid_of('evaluation', 501), 'Evaluation 501', 1, 0.5, 3::bigint)$$,
                  'the version is published with its title, number, pass mark and items');
SELECT results_eq($$SELECT position, kind, options, correct, points, scoring FROM scoreledger.items ORDER BY position$$,
                  $$VALUES (1, 'single_choice', '{A,B,C,D}'::text[], '{B}'::text[], 1::numeric, 'exact'),
                           (2, 'multiple_choice', '{A,B,C}'::text[], '{A,B}'::text[], 2::numeric, 'exact'),
                           (3, 'multiple_choice', '{A,B,C,D}'::text[], '{A,B,C}'::text[], 3::numeric, 'partial')$$,
                  'its items are stored as given, scoring defaulting to exact');

SELECT is(tests.make_evaluation(501), tests.uuid_of('version', 501), 're-importing the same document returns the same id');
SELECT is(scoreledger.import_evaluation_version(tests.doc() #- '{items,0,points}'), tests.uuid_of('version', 501),
          're-importing with a default left out (points 1) is the same document: a no-op');
SELECT is(scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,0,scoring}', '"exact"')),
          tests.uuid_of('version', 501), 're-importing with an explicit default (scoring exact) is the same document');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions), 1::bigint, 're-imports created no version');
SELECT is((SELECT count(*) FROM scoreledger.items), 3::bigint, 're-imports created no item');

SELECT isnt(scoreledger.import_evaluation_version(tests.evaluation_doc(502) - 'evaluation_version_id'), NULL,
            'without evaluation_version_id an id is generated');
SELECT is(scoreledger.import_evaluation_version(tests.evaluation_doc(502) - 'evaluation_version_id'),
          (SELECT evaluation_version_id FROM scoreledger.evaluation_versions WHERE evaluation_id = tests.uuid_of('evaluation', 502)),
          'and re-importing it (found by evaluation_id and version_no) returns that id');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions WHERE evaluation_id = tests.uuid_of('evaluation', 502)), 1::bigint,
          'still one version of that evaluation');
SELECT is(scoreledger.import_evaluation_version(jsonb_set(jsonb_set(jsonb_set(tests.doc(), '{evaluation_version_id}', to_jsonb(tests.uuid_of('version', 5012))),
                                                   '{version_no}', '2'), '{evaluation_title}', '"Evaluation 501, revised"')),
          tests.uuid_of('version', 5012), 'a new version_no of the same evaluation is a new version');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions WHERE evaluation_id = tests.uuid_of('evaluation', 501)), 2::bigint,
          'the evaluation now has two versions, sharing their question versions');

-- Different content under an existing id: SL423, nothing written.
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{pass_mark}', '0.6'))$$,
                 'SL423', '%', 'import: another pass_mark under an existing version id raises SL423');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{evaluation_title}', '"Renamed"'))$$,
                 'SL423', '%', 'import: another title under an existing version id raises SL423');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{items,1,points}', '5'))$$,
                 'SL423', '%', 'import: other points under an existing version id raise SL423');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(tests.doc() #- '{items,2}')$$,
                 'SL423', '%', 'import: dropping an item under an existing version id raises SL423');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(tests.doc(), '{evaluation_version_id}', to_jsonb(tests.uuid_of('version', 5019))))$$,
                 'SL423', '%', 'import: the same evaluation and version_no under another version id raises SL423');
SELECT tests.throws_code_like($$SELECT scoreledger.import_evaluation_version(jsonb_set(jsonb_set(jsonb_set(tests.evaluation_doc(503),
                   '{items,0,question_version_id}', to_jsonb(tests.uuid_of('q1', 501))),
                   '{items,0,question_id}', to_jsonb(tests.uuid_of('question1', 501))), '{items,0,correct}', '["C"]'))$$,
                 'SL423', 'items[0].question_version_id:%',
                 'import: a question version reused with other content (another key) raises SL423 naming the item');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions), 3::bigint, 'no refused import wrote a version');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions WHERE evaluation_id = tests.uuid_of('evaluation', 503)), 0::bigint,
          'the refused evaluation left no version behind');
SELECT is((SELECT correct FROM scoreledger.items WHERE question_version_id = tests.uuid_of('q1', 501) LIMIT 1), '{B}'::text[],
          'the shared question version kept its key');
SELECT is(scoreledger.import_evaluation_version(jsonb_set(jsonb_set(tests.evaluation_doc(503),
            '{items,0}', tests.evaluation_doc(501) #> '{items,0}'), '{items,1}', tests.evaluation_doc(501) #> '{items,1}')),
          tests.uuid_of('version', 503), 'a question version reused with identical content is shared');

-- ---------------------------------------------------------------------
-- Published content is immutable, for the table owner too
-- ---------------------------------------------------------------------
SELECT tests.act_as_owner(tests.uuid_of('tenant', 501));
SELECT tests.throws_code_like($$UPDATE scoreledger_private.evaluation_versions SET pass_mark = 0.9$$, 'SL423', '%',
                 'owner: UPDATE of evaluation_versions raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.evaluation_versions$$, 'SL423', '%',
                 'owner: DELETE from evaluation_versions raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.evaluation_versions CASCADE$$, 'SL423', '%',
                 'owner: TRUNCATE of evaluation_versions raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.items SET position = position + 10$$, 'SL423', '%',
                 'owner: UPDATE of items raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.items$$, 'SL423', '%',
                 'owner: DELETE from items raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.items CASCADE$$, 'SL423', '%',
                 'owner: TRUNCATE of items raises SL423');
SELECT tests.throws_code_like($$UPDATE scoreledger_private.question_versions SET correct = '{A}', correct_mask = 1$$, 'SL423', '%',
                 'owner: UPDATE of question_versions raises SL423');
SELECT tests.throws_code_like($$DELETE FROM scoreledger_private.question_versions$$, 'SL423', '%',
                 'owner: DELETE from question_versions raises SL423');
SELECT tests.throws_code_like($$TRUNCATE scoreledger_private.question_versions CASCADE$$, 'SL423', '%',
                 'owner: TRUNCATE of question_versions raises SL423');
SELECT tests.clear_context();

SELECT tests.authenticate_as(tests.uuid_of('tenant', 501), tests.uuid_of('actor', 501));
SELECT results_eq($$SELECT pass_mark, item_count FROM scoreledger.evaluation_versions WHERE evaluation_version_id = tests.uuid_of('version', 501)$$,
                  $$VALUES (0.5, 3::bigint)$$, 'the published version is unchanged after all those attempts');
SELECT is((SELECT count(*) FROM scoreledger.items), 12::bigint, 'no item was added or removed');
SELECT tests.clear_context();

-- Adding an item changes a published version as surely as removing one.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 501));
SELECT tests.throws_code_like($$INSERT INTO scoreledger_private.items (tenant_id, evaluation_version_id, question_version_id, position)
                   VALUES (tests.uuid_of('tenant', 501), tests.uuid_of('version', 501), tests.uuid_of('q3', 503), 4)$$,
                 'SL423', '%', 'owner: adding an item to a published evaluation version raises SL423');
SELECT tests.clear_context();
SELECT tests.authenticate_as(tests.uuid_of('tenant', 501), tests.uuid_of('actor', 501));

-- ---------------------------------------------------------------------
-- Assignments
-- ---------------------------------------------------------------------
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment('"x"')$$,
  'SL422', 'document%', 'upsert_assignment: a non-object document');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc() || '{"due": "soon"}')$$,
  'SL422', 'due: unknown field%', 'upsert_assignment: an unknown field is named');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc() - 'assignment_id')$$,
  'SL422', 'assignment_id:%', 'upsert_assignment: assignment_id is required');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(jsonb_set(tests.assignment_doc(), '{assignment_id}', '"a1"'))$$,
  'SL422', 'assignment_id:%', 'upsert_assignment: assignment_id must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc() - 'title')$$,
  'SL422', 'title:%', 'upsert_assignment: title is required');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc(''))$$,
  'SL422', 'title:%', 'upsert_assignment: an empty title is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc() - 'evaluation_id')$$,
  'SL422', 'evaluation_id:%', 'upsert_assignment: evaluation_id is required');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(jsonb_set(tests.assignment_doc(), '{evaluation_id}', '1'))$$,
  'SL422', 'evaluation_id:%', 'upsert_assignment: evaluation_id must be a uuid');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc(policy => 'best'))$$,
  'SL422', 'attempt_policy:%', 'upsert_assignment: an unknown attempt_policy is named');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(jsonb_set(tests.assignment_doc(), '{programme}', '5'))$$,
  'SL422', 'programme:%', 'upsert_assignment: a non-string programme is refused');
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc(seed => 599))$$,
  'SL404', 'evaluation_id:%', 'upsert_assignment: an unknown evaluation raises SL404');
SELECT is((SELECT count(*) FROM scoreledger.assignments), 0::bigint, 'no refused upsert wrote an assignment');

SELECT is(scoreledger.upsert_assignment(tests.assignment_doc()), tests.uuid_of('assignment', 501),
          'upsert_assignment creates the assignment and returns its id');
SELECT results_eq($$SELECT title, evaluation_id, programme, attempt_policy FROM scoreledger.assignments$$,
                  $$VALUES ('Final Safety Exam', tests.uuid_of('evaluation', 501), 'Onboarding', 'highest')$$,
                  'the assignment is stored; attempt_policy defaults to highest');
SELECT is(scoreledger.upsert_assignment(tests.assignment_doc('Final Safety Exam (2026)', 'latest')), tests.uuid_of('assignment', 501),
          'upserting the same id again updates it');
SELECT results_eq($$SELECT title, attempt_policy FROM scoreledger.assignments$$,
                  $$VALUES ('Final Safety Exam (2026)', 'latest')$$, 'one assignment, with the new title and policy');
SELECT is(scoreledger.upsert_assignment(tests.assignment_doc('Final Safety Exam (2026)', 'first', 503)), tests.uuid_of('assignment', 501),
          'an assignment without submissions may move to another evaluation');
SELECT tests.submit(503, 1, NULL, NULL, ARRAY['A'], NULL, tests.uuid_of('assignment', 501));
SELECT tests.throws_code_like($$SELECT scoreledger.upsert_assignment(tests.assignment_doc('Final Safety Exam (2026)', 'first', 501))$$,
                 'SL409', '%', 'an assignment with submissions cannot move to another evaluation (SL409)');
SELECT results_eq($$SELECT evaluation_id, attempt_policy FROM scoreledger.assignments$$,
                  $$VALUES (tests.uuid_of('evaluation', 503), 'first')$$, 'the refused move changed nothing');

SELECT * FROM finish();
ROLLBACK;
