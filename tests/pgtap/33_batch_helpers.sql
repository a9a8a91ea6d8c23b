-- Batch creation helpers (contract section 12, issue 15 part 1): items
-- carry optional tags, part of the immutable document and bounded by
-- scoreledger.input_limits; a correction entry without
-- evaluation_version_id targets every evaluation version of the tenant
-- containing its question version, and a drop_item or mark_correct with a
-- "tag" every item carrying it. Expansion happens at create and edit; the
-- stored payload is the concrete expansion; an entry matching nothing, or
-- two entries reaching one target with one type, is SL422 and writes
-- nothing; another tenant's items are never reached. Preview, apply,
-- revert, governance and history work on the expanded batch exactly as on
-- the same corrections written out by hand.
BEGIN;
SELECT plan(53);

-- ---------------------------------------------------------------------
-- Fixture: tenant 1 with evaluation versions 1 and 2 sharing question
-- version q1 of version 1 (tests.qv(1, 1)), tagged:
--   version 1: q1 [retired], q2 [retired, safety], q3 none
--   version 2: q1 (shared) [safety], q2 none, q3 [retired]
-- Submissions (key: q1 B, 1 pt; q2 A,B exact, 2 pts; q3 A,B,C partial, 3 pts):
--   1: version 1, q1 B, q2 A,B, q3 A          4/6
--   2: version 1, q1 A, q2 A, q3 A,B,C        3/6
--   3: version 2, q1 A, q2 A,B, q3 D          2/6
--   4: version 2, q1 B, q3 A,B (q2 absent)    3/4
-- Tenant 2 has its own evaluation, tagged retired too.
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.tagged_doc(seed int, tags jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_set(jsonb_set(jsonb_set(tests.evaluation_doc(seed), '{items,0,tags}', tags->0),
                             '{items,1,tags}', tags->1), '{items,2,tags}', tags->2)
$$;
CREATE FUNCTION pg_temp.version2() RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_set(pg_temp.tagged_doc(2, '[["safety"], null, ["retired"]]'), '{items,0}',
                   (tests.evaluation_doc(1)->'items'->0) || '{"tags": ["safety"]}')
$$;
CREATE FUNCTION pg_temp.submit(seed int, user_no int, q1 text[], q2 text[], q3 text[], submission_no int) RETURNS uuid
LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(CASE WHEN seed = 2
    THEN jsonb_set(tests.submission_doc(seed, user_no, q1, q2, q3, submission_no), '{answers,0,question_version_id}',
                   to_jsonb(tests.qv(1, 1)))
    ELSE tests.submission_doc(seed, user_no, q1, q2, q3, submission_no) END)
$$;
CREATE FUNCTION pg_temp.create_sql(corrections jsonb) RETURNS text LANGUAGE sql AS $$
  SELECT format('SELECT scoreledger.create_correction_batch(%L, %L::jsonb)', 'helpers', corrections)
$$;
-- The stored payload of a batch, one entry per row.
CREATE FUNCTION pg_temp.payload(batch uuid) RETURNS SETOF jsonb LANGUAGE sql AS $$
  SELECT jsonb_array_elements(scoreledger.get_correction_batch(batch)->'corrections')
$$;
CREATE FUNCTION pg_temp.entry(kind text, seed int, qv uuid) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('type', kind, 'evaluation_version_id', tests.ev(seed), 'question_version_id', qv)
$$;
CREATE FUNCTION pg_temp.written() RETURNS bigint LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM scoreledger.correction_batches)
       + (SELECT count(*) FROM scoreledger.score_history WHERE correction_batch_id IS NOT NULL)
$$;
-- A preview without its batch id: what two batches of the same effect share.
CREATE FUNCTION pg_temp.preview(batch uuid) RETURNS jsonb LANGUAGE sql AS $$
  SELECT scoreledger.preview_correction_batch(batch) - 'batch_id'
$$;

SELECT scoreledger.create_tenant('helpers', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('helpers other', tests.uuid_of('tenant', 2)) \gset
SELECT tests.act_as('maker', 2) \gset
SELECT scoreledger.import_evaluation_version(pg_temp.tagged_doc(3, '[["retired"], ["retired"], ["retired"]]')) \gset
SELECT tests.act_as('maker') \gset
SELECT scoreledger.import_evaluation_version(pg_temp.tagged_doc(1, '[["retired"], ["retired", "safety"], null]')) \gset
SELECT scoreledger.import_evaluation_version(pg_temp.version2()) \gset
SELECT pg_temp.submit(1, 1, '{B}', '{A,B}', '{A}', 1) \gset
SELECT pg_temp.submit(1, 2, '{A}', '{A}', '{A,B,C}', 2) \gset
SELECT pg_temp.submit(2, 3, '{A}', '{A,B}', '{D}', 3) \gset
SELECT pg_temp.submit(2, 4, '{B}', NULL, '{A,B}', 4) \gset

-- =====================================================================
-- 1. Tags on items
-- =====================================================================
SELECT results_eq($$SELECT evaluation_version_id, question_version_id, tags FROM scoreledger.items
                    ORDER BY evaluation_version_id = tests.ev(2), position$$,
                  $$VALUES (tests.ev(1), tests.qv(1, 1), '{retired}'::text[]), (tests.ev(1), tests.qv(1, 2), '{retired,safety}'),
                           (tests.ev(1), tests.qv(1, 3), '{}'), (tests.ev(2), tests.qv(1, 1), '{safety}'),
                           (tests.ev(2), tests.qv(2, 2), '{}'), (tests.ev(2), tests.qv(2, 3), '{retired}')$$,
                  'scoreledger.items shows each item''s tags (none: empty), a shared question version tagged per version');
SELECT is(scoreledger.import_evaluation_version(pg_temp.version2()), tests.ev(2), 're-importing a tagged document is a no-op');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(pg_temp.version2(), '{items,2,tags}', '["retired", "other"]')),
                              'SL423', 'evaluation version % already exists with different content%',
                              'tags are part of the immutable document: other tags under the same version are SL423');
SELECT is(scoreledger.import_evaluation_version(tests.evaluation_doc(4)), tests.uuid_of('version', 4),
          'a document without tags imports');
SELECT is(scoreledger.import_evaluation_version(jsonb_set(tests.evaluation_doc(4), '{items,0,tags}', '[]')),
          tests.uuid_of('version', 4), 'an empty tags list is the same document as none (a no-op re-import)');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}', '"retired"')),
                              'SL422', 'items[1].tags: must be an array of strings', 'tags must be an array');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}', '["a", 1]')),
                              'SL422', 'items[1].tags: must be an array of strings', 'tags must be strings');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}', '["a", "a"]')),
                              'SL422', 'items[1].tags: lists a tag twice', 'a tag listed twice is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}', '["a", " "]')),
                              'SL422', 'items[1].tags: tags must be non-empty strings of at most 200 characters',
                              'a blank tag is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}', jsonb_build_array(repeat('x', 201)))),
                              'SL422', 'items[1].tags: tags must be non-empty strings of at most 200 characters',
                              'a tag over the tag_chars bound (scoreledger.input_limits) is refused');
SELECT tests.throws_code_like(format('SELECT scoreledger.import_evaluation_version(%L)',
                                     jsonb_set(tests.evaluation_doc(5), '{items,1,tags}',
                                               (SELECT jsonb_agg('t' || n) FROM generate_series(1, 51) n))),
                              'SL422', 'items[1].tags: at most 50 tags per item',
                              'more tags than the tags_per_item bound (scoreledger.input_limits) is refused');
SELECT is((SELECT count(*) FROM scoreledger.evaluation_versions WHERE evaluation_version_id = tests.uuid_of('version', 5)),
          0::bigint, 'no refused document published anything');
-- As the owner: published tags never change.
SELECT tests.act_as_owner(tests.uuid_of('tenant', 1)) \gset
SELECT tests.throws_code_like($$UPDATE scoreledger_private.items SET tags = '{}' WHERE evaluation_version_id = tests.ev(1)$$,
                              'SL423', '%', 'an item''s tags cannot be changed, by the table owner either');
SELECT tests.act_as('maker') \gset

-- =====================================================================
-- 2. Expansion at create: the stored payload is concrete
-- =====================================================================
SELECT scoreledger.create_correction_batch('q1 is wrong everywhere',
         jsonb_build_array(jsonb_build_object('type', 'drop_item', 'question_version_id', tests.qv(1, 1)))) AS by_question \gset
SELECT set_eq(format('SELECT pg_temp.payload(%L)', :'by_question'),
              ARRAY[pg_temp.entry('drop_item', 1, tests.qv(1, 1)), pg_temp.entry('drop_item', 2, tests.qv(1, 1))],
              'an entry without evaluation_version_id is stored as one entry per version containing the question version');
SELECT is((SELECT corrections FROM scoreledger.correction_batches WHERE id = :'by_question'), 2,
          'the batch counts the concrete corrections');
SELECT is((SELECT correction_types FROM scoreledger.correction_batches WHERE id = :'by_question'), '{drop_item}'::text[],
          'the listed types are the entry''s');

SELECT scoreledger.create_correction_batch('retired topic',
         '[{"type": "mark_correct", "tag": "retired"}]') AS by_tag \gset
SELECT set_eq(format('SELECT pg_temp.payload(%L)', :'by_tag'),
              ARRAY[pg_temp.entry('mark_correct', 1, tests.qv(1, 1)), pg_temp.entry('mark_correct', 1, tests.qv(1, 2)),
                    pg_temp.entry('mark_correct', 2, tests.qv(2, 3))],
              'a tag is stored as one entry per item carrying it, and only this tenant''s');
SELECT results_eq(format('SELECT e->>''question_version_id'' FROM pg_temp.payload(%L) e WHERE e->>''evaluation_version_id'' = %L',
                         :'by_tag', tests.ev(1)),
                  ARRAY[tests.qv(1, 1)::text, tests.qv(1, 2)::text],
                  'within a version, the expansion follows item position');

SELECT scoreledger.create_correction_batch('key of q1 is A',
         jsonb_build_array(jsonb_build_object('type', 'replace_key', 'question_version_id', upper(tests.qv(1, 1)::text),
                                              'evaluation_version_id', NULL, 'correct', '["A"]'::jsonb),
                           '{"type": "drop_item", "tag": "safety"}'::jsonb)) AS mixed \gset
SELECT set_eq(format('SELECT pg_temp.payload(%L)', :'mixed'),
              ARRAY[pg_temp.entry('replace_key', 1, tests.qv(1, 1)) || '{"correct": ["A"]}',
                    pg_temp.entry('replace_key', 2, tests.qv(1, 1)) || '{"correct": ["A"]}',
                    pg_temp.entry('drop_item', 1, tests.qv(1, 2)), pg_temp.entry('drop_item', 2, tests.qv(1, 1))],
              'a replace_key with a null evaluation_version_id expands too; types may share a target');

-- =====================================================================
-- 3. Errors: SL422 naming the entry as written, nothing written
-- =====================================================================
SELECT pg_temp.written() AS before_errors \gset
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "drop_item", "tag": "nothing has this"}]'),
                              'SL422', 'corrections[0].tag: no item of an evaluation version carries tag "nothing has this"',
                              'a tag matching no item is SL422');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 3),
                                jsonb_build_object('type', 'mark_correct', 'question_version_id', tests.uuid_of('nowhere', 1)))),
                              'SL422', 'corrections[1].question\_version\_id: % is not an item of any evaluation version',
                              'a question version in no evaluation version is SL422 naming the entry');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'drop_item',
                                'question_version_id', tests.qv(3, 1)))),
                              'SL422', 'corrections[0].question\_version\_id: % is not an item of any evaluation version',
                              'another tenant''s question version matches nothing');
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "replace_key", "tag": "retired", "correct": ["A"]}]'),
                              'SL422', 'corrections[0].tag: only drop\_item and mark\_correct target a tag%',
                              'a replace_key cannot target a tag');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(tests.drop_item(1, 1) || '{"tag": "retired"}')),
                              'SL422', 'corrections[0]: give either a tag or evaluation\_version\_id and question\_version\_id, not both',
                              'a tag beside ids is refused');
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "drop_item", "tag": 5}]'),
                              'SL422', 'corrections[0].tag: must be a non-empty string', 'a tag must be a string');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'drop_item', 'tag', repeat('x', 201)))),
                              'SL422', 'corrections[0].tag: must be at most 200 characters', 'a tag over the tag_chars bound');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'mark_correct',
                                'question_version_id', tests.qv(1, 1), 'submission_ids', jsonb_build_array(tests.sub(1))))),
                              'SL422', 'corrections[0].submission\_ids: a scoped mark\_correct names its evaluation\_version\_id%',
                              'a scoped mark_correct without evaluation_version_id is refused');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'mark_correct', 'tag', 'retired',
                                'submission_ids', jsonb_build_array(tests.sub(1))))),
                              'SL422', 'corrections[0].submission\_ids: a scoped mark\_correct names its evaluation\_version\_id%',
                              'a scoped mark_correct cannot target a tag');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'drop_item', 'question_version_id', 'q1')))::text,
                              'SL422', 'corrections[0].question\_version\_id: must be a uuid string',
                              'a malformed question version without evaluation_version_id is named as before');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(pg_temp.entry('drop_item', 2, tests.qv(1, 1)),
                                jsonb_build_object('type', 'drop_item', 'question_version_id', tests.qv(1, 1)))),
                              'SL422', format('corrections[1]: a second drop\_item for the same item (question version %s in evaluation version %s)',
                                              tests.qv(1, 1), tests.ev(2)),
                              'an expansion reaching an explicit entry''s target with the same type is SL422 naming the later entry and the version');
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "drop_item", "tag": "retired"}, {"type": "drop_item", "tag": "safety"}]'),
                              'SL422', format('corrections[1]: a second drop\_item for the same item (question version %s in evaluation version %s)',
                                              tests.qv(1, 2), tests.ev(1)),
                              'two tags sharing an item, with the same type, are SL422');
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "drop_item", "tag": "retired", "extra": 1}]'),
                              'SL422', 'corrections[0].extra: unknown field%', 'an unknown field beside a tag is named');
SELECT tests.throws_code_like(pg_temp.create_sql(jsonb_build_array(jsonb_build_object('type', 'replace_key',
                                'question_version_id', tests.qv(1, 1), 'correct', '["Z"]'::jsonb))),
                              'SL422', 'corrections[0].correct: "Z" is not an option of question version %',
                              'an expanded replace_key is checked like the entries it stands for');
SELECT is(pg_temp.written(), :'before_errors'::bigint, 'no refused document wrote a batch or a history row');

-- The bound applies to the expansion: a tag on 1,001 items is refused.
SELECT count(scoreledger.import_evaluation_version(jsonb_build_object('evaluation_id', tests.uuid_of('bulk evaluation', n),
         'evaluation_title', 'bulk', 'version_no', 1, 'pass_mark', 0.5,
         'items', (SELECT jsonb_agg(jsonb_build_object('question_id', tests.uuid_of('bulk question', n * 1000 + k),
                                      'question_version_id', tests.uuid_of('bulk qv', n * 1000 + k), 'kind', 'single_choice',
                                      'options', '["A","B"]'::jsonb, 'correct', '["A"]'::jsonb, 'tags', '["bulk"]'::jsonb))
                   FROM generate_series(1, CASE n WHEN 1 THEN 1000 ELSE 1 END) k))))
FROM generate_series(1, 2) n \gset
SELECT tests.throws_code_like(pg_temp.create_sql('[{"type": "drop_item", "tag": "bulk"}]'),
                              'SL422', 'corrections: the entries expand to more than 1000 corrections%',
                              'an expansion over the corrections_per_batch bound is refused whole');

-- =====================================================================
-- 4. Preview, apply, revert and history on an expanded batch equal the
--    same corrections written out by hand
-- =====================================================================
SELECT scoreledger.create_correction_batch('by hand', jsonb_build_array(pg_temp.entry('drop_item', 1, tests.qv(1, 1)),
                                                                        pg_temp.entry('drop_item', 2, tests.qv(1, 1)))) AS by_hand \gset
SELECT is(pg_temp.preview(:'by_question'), pg_temp.preview(:'by_hand'),
          'the expanded batch previews exactly like the hand-written one');
SELECT is(pg_temp.preview(:'by_question')->>'submissionsAffected', '4', 'both versions'' submissions are reached');
SELECT scoreledger.discard_correction_batch(:'by_hand') \gset
SELECT is(tests.scores(ARRAY[1, 2, 3, 4]), '4/6 3/6 2/6 3/4', 'scores before');
SELECT is(scoreledger.apply_correction_batch(:'by_question') - 'batch_id',
          '{"status": "applied", "submissions_rescored": 4, "scores_changed": 4, "already_applied": false}'::jsonb,
          'apply rescores every submission of every version containing the question version');
SELECT is(tests.scores(ARRAY[1, 2, 3, 4]), '3/5 3/5 2/5 2/3', 'q1 is dropped in both versions');
SELECT is(tests.rescored(:'by_question', ARRAY[1, 2, 3, 4]), ARRAY[1, 2, 3, 4], 'one history row per rescored submission');
SELECT scoreledger.revert_correction_batch(:'by_question', 'it was right') AS compensating \gset
SELECT is(tests.scores(ARRAY[1, 2, 3, 4]), '4/6 3/6 2/6 3/4', 'revert restores every score');
SELECT is((SELECT array_agg(score::text || '/' || max_score::text ORDER BY history_id)
           FROM scoreledger.submission_score_history(tests.sub(3))),
          ARRAY['2/6', '2/5', '2/6'], 'history: recorded, applied, reverted');
SELECT set_eq(format('SELECT pg_temp.payload(%L)', :'compensating'), format('SELECT pg_temp.payload(%L)', :'by_question'),
              'the compensating batch carries the concrete payload');

-- =====================================================================
-- 5. Edit and governance
-- =====================================================================
SELECT scoreledger.update_correction_batch(:'by_tag', NULL, '[{"type": "mark_correct", "tag": "safety"}]') \gset
SELECT set_eq(format('SELECT pg_temp.payload(%L)', :'by_tag'),
              ARRAY[pg_temp.entry('mark_correct', 1, tests.qv(1, 2)), pg_temp.entry('mark_correct', 2, tests.qv(1, 1))],
              'an edit expands its corrections as creation does');
SELECT tests.throws_code_like(format('SELECT scoreledger.update_correction_batch(%L, NULL, %L)', :'by_tag',
                                     '[{"type": "mark_correct", "tag": "nothing"}]'),
                              'SL422', 'corrections[0].tag: no item %', 'an edit matching nothing is refused');
SELECT is((SELECT corrections FROM scoreledger.correction_batches WHERE id = :'by_tag'), 2, 'and keeps the batch as it was');
SELECT scoreledger.update_correction_batch(:'by_tag', NULL, '[{"type": "mark_correct", "tag": "retired"}]') \gset

SELECT tests.act_as('admin') \gset
SELECT scoreledger.set_tenant_policy(true, NULL) \gset
SELECT tests.act_as('maker') \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.apply_correction_batch(%L)', :'by_tag'), 'SL409', '%',
                              'under require_approval the expanded draft is not applied');
SELECT scoreledger.submit_correction_batch(:'by_tag') \gset
SELECT tests.act_as('checker') \gset
SELECT is(scoreledger.approve_correction_batch(:'by_tag', 'every retired item')->>'status', 'approved',
          'another user approves the expanded batch');
SELECT tests.act_as('applier') \gset
SELECT is((scoreledger.apply_correction_batch(:'by_tag'))->>'submissions_rescored', '4', 'the approved expansion applies');
SELECT is(tests.scores(ARRAY[1, 2, 3, 4]), '4/6 6/6 5/6 4/4', 'every item tagged retired gives full points');
SELECT tests.throws_code_like(format('SELECT scoreledger.update_correction_batch(%L, NULL, %L)', :'by_tag',
                                     '[{"type": "drop_item", "tag": "retired"}]'),
                              'SL409', '%', 'an applied expanded batch cannot be edited');
SELECT tests.act_as_owner() \gset
SELECT is_empty('SELECT * FROM scoreledger.check_invariants() WHERE breaches > 0', 'check finds every invariant holding');

SELECT * FROM finish();
ROLLBACK;
