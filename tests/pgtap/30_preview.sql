-- Impact preview (contract section 6): preview_correction_batch,
-- preview_correction_batch_changes and preview_revert.
--
-- * the exact document and change rows of a hand-built batch over three
--   assignments with the three attempt policies and several attempts per
--   learner: learners going pass -> fail and fail -> pass at assignment
--   level, learners whose submission flips while another attempt decides
--   their outcome, attempts not touched by the batch (another evaluation
--   version, an item not presented) that still decide, ties (highest:
--   lowest attempt_no; first: lowest attempt_no) and submitted_at order that
--   differs from attempt_no order (latest, first);
-- * scoreUp/scoreDown compare score/max_score (drop_item, max_score 0);
-- * the numbers equal what apply and revert then do; preview_revert after
--   apply mirrors the preview;
-- * a preview writes nothing anywhere (every row of every private table,
--   with its ctid and xmin, and every private sequence, before and after);
-- * previewable: draft, pending_review (the approver's view) and approved
--   batches; preview_revert: applied, non-compensating batches; else SL409;
--   SL404 (unknown, other tenant), SL401 (no context);
-- * highest compares score/max_score exactly (a rounded quotient may tie
--   where the fractions differ).
--
-- tests.make_evaluation(seed, pass_mark), max 6 points:
--   q1 single_choice A-D, key B, 1 pt
--   q2 multiple_choice exact A-C, key A,B, 2 pts
--   q3 multiple_choice partial A-D, key A,B,C, 3 pts
-- Scores are written 'score/max_score'.
BEGIN;
SELECT plan(70);

-- ---------------------------------------------------------------------
-- Local helpers
-- ---------------------------------------------------------------------
-- (The ones the correction-batch files share are in setup/corrections.sql.)
CREATE FUNCTION pg_temp.usr(n int) RETURNS uuid LANGUAGE sql AS $$ SELECT tests.uuid_of('user', n) $$;
CREATE FUNCTION pg_temp.asg(n int) RETURNS uuid LANGUAGE sql AS $$ SELECT tests.uuid_of('assignment', n) $$;
-- The number behind a test uuid (submission / user), for readable rows.
CREATE FUNCTION pg_temp.no_of(label text, id uuid) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce((SELECT n::text FROM generate_series(0, 300) n WHERE tests.uuid_of(label, n) = id), '?' || id)
$$;
-- Records a submission of evaluation 1 (version `version` of it) at a
-- given time, optionally for an assignment.
CREATE FUNCTION pg_temp.rec(user_no int, q1 text[], q2 text[], q3 text[], sub_no int, assignment_no int,
                            at text, version int DEFAULT 1) RETURNS uuid LANGUAGE sql AS $$
  SELECT scoreledger.record_submission(
    tests.submission_doc(1, user_no, q1, q2, q3, sub_no,
                         CASE WHEN assignment_no IS NOT NULL THEN pg_temp.asg(assignment_no) END,
                         '2026-11-01T' || at || ':00Z')
    || jsonb_build_object('evaluation_version_id', tests.ev(version)))
$$;
-- Sorted json array of users (by uuid, as the document lists them).
CREATE FUNCTION pg_temp.users(nos int[]) RETURNS jsonb LANGUAGE sql AS $$
  SELECT coalesce(jsonb_agg(u ORDER BY u), '[]') FROM (SELECT pg_temp.usr(n) AS u FROM unnest(nos) n) x
$$;
CREATE FUNCTION pg_temp.assignment_entry(n int, title text, programme text, policy text,
                                         pass_to_fail int[], fail_to_pass int[], unchanged int) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('assignment_id', pg_temp.asg(n), 'title', title, 'programme', programme,
                            'attempt_policy', policy, 'passToFail', pg_temp.users(pass_to_fail),
                            'failToPass', pg_temp.users(fail_to_pass), 'unchanged', unchanged,
                            -- No assignment here has attempt rules (contract section 11).
                            'interventionsOpened', '[]'::jsonb, 'interventionsWithdrawn', '[]'::jsonb)
$$;
-- The preview rows of a batch as readable lines, by submission number:
-- 'sN uN assignment old->new old_passed->new_passed'.
CREATE FUNCTION pg_temp.change_lines(batch uuid) RETURNS text[] LANGUAGE sql AS $$
  SELECT array_agg(format('s%s u%s %s %s/%s->%s/%s %s->%s', pg_temp.no_of('submission', c.submission_id),
                          pg_temp.no_of('user', c.user_id), coalesce(a.title, '-'),
                          trim_scale(c.old_score), trim_scale(c.old_max_score),
                          trim_scale(c.new_score), trim_scale(c.new_max_score),
                          CASE WHEN c.old_passed THEN 't' ELSE 'f' END, CASE WHEN c.new_passed THEN 't' ELSE 'f' END)
                   ORDER BY pg_temp.no_of('submission', c.submission_id)::int)
  FROM scoreledger.preview_correction_batch_changes(batch) c
  LEFT JOIN scoreledger.assignments a ON a.assignment_id = c.assignment_id
$$;
-- The number of preview rows whose (score, max_score) changes.
CREATE FUNCTION pg_temp.changed_rows(batch uuid) RETURNS int LANGUAGE sql AS $$
  SELECT count(*)::int FROM scoreledger.preview_correction_batch_changes(batch) c
  WHERE (c.old_score, c.old_max_score) IS DISTINCT FROM (c.new_score, c.new_max_score)
$$;
-- A preview document seen from the other side: up <-> down, pass->fail
-- <-> fail->pass, per assignment too.
CREATE FUNCTION pg_temp.mirror(doc jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT doc || jsonb_build_object(
    'scoreUp', doc->'scoreDown', 'scoreDown', doc->'scoreUp',
    'passToFail', doc->'failToPass', 'failToPass', doc->'passToFail',
    'assignments', (SELECT coalesce(jsonb_agg(a || jsonb_build_object('passToFail', a->'failToPass', 'failToPass', a->'passToFail')
                                              ORDER BY x.n), '[]')
                    FROM jsonb_array_elements(doc->'assignments') WITH ORDINALITY x(a, n)))
$$;
-- Everything stored in the private schema, as the superuser sees it (no
-- RLS): per table its row count and an md5 of every row's text together
-- with its ctid and xmin (so even an update to the same values shows),
-- and every sequence's last_value and is_called.
CREATE FUNCTION pg_temp.fingerprint() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  rel regclass;
  line text;
  result text := '';
BEGIN
  FOR rel IN SELECT c.oid::regclass FROM pg_class c
             WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
             ORDER BY c.relname LOOP
    EXECUTE format($q$SELECT %L || ' rows=' || count(*) || ' md5=' ||
                            coalesce(md5(string_agg(x.ctid::text || ' ' || x.xmin::text || ' ' || x::text, E'\n'
                                                    ORDER BY x.ctid)), '-')
                      FROM %s x$q$, rel::text, rel) INTO line;
    result := result || line || E'\n';
  END LOOP;
  FOR rel IN SELECT c.oid::regclass FROM pg_class c
             WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind = 'S'
             ORDER BY c.relname LOOP
    EXECUTE format($q$SELECT %L || ' last_value=' || last_value || ' is_called=' || is_called FROM %s$q$, rel::text, rel)
      INTO line;
    result := result || line || E'\n';
  END LOOP;
  RETURN result;
END $$;

-- ---------------------------------------------------------------------
-- Fixture
-- ---------------------------------------------------------------------
SELECT scoreledger.create_tenant('preview tenant 1', tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.create_tenant('preview tenant 2', tests.uuid_of('tenant', 2)) \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT tests.make_evaluation(3) \gset
SELECT scoreledger.create_correction_batch('tenant 2 draft', jsonb_build_array(tests.drop_item(3, 1))) AS other_draft \gset

SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
-- Evaluation 1, version 1 (pass mark 0.5) and version 2 (pass mark 0.9,
-- the same three question versions).
SELECT tests.make_evaluation(1, 0.5) \gset
SELECT scoreledger.import_evaluation_version(tests.evaluation_doc(1, 0.9)
         || jsonb_build_object('evaluation_version_id', tests.ev(101), 'version_no', 2)) \gset
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', pg_temp.asg(1), 'title', 'Alpha',
         'evaluation_id', tests.uuid_of('evaluation', 1), 'programme', 'Programme 1', 'attempt_policy', 'highest')) \gset
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', pg_temp.asg(2), 'title', 'Beta',
         'evaluation_id', tests.uuid_of('evaluation', 1), 'programme', 'Programme 2', 'attempt_policy', 'latest')) \gset
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', pg_temp.asg(3), 'title', 'Gamma',
         'evaluation_id', tests.uuid_of('evaluation', 1), 'attempt_policy', 'first')) \gset
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', pg_temp.asg(4), 'title', 'Delta',
         'evaluation_id', tests.uuid_of('evaluation', 1), 'programme', 'Programme 1', 'attempt_policy', 'highest')) \gset

-- The batch P under test replaces q1's key (B) by C on version 1 only:
-- q1 = B loses a point, q1 = C gains one, other answers are rescored
-- unchanged. Pass: >= 3/6 on version 1, >= 5.4/6 on version 2.
--
-- Alpha (highest score/max_score; ties: lowest attempt_no)
--   user 1: s11 3/6 -> 2/6 (decides before and after), s12 1/6 -> 1/6       pass -> fail
--   user 2: s21 2/6 -> 3/6                                                  fail -> pass
--   user 3: s31 3/6 -> 2/6 (flips), s32 5/5 without q1 decides              unchanged
--   user 9: s91 version 2: 3/6 = 0.5 fails there, not rescored (attempt 1);
--           s92 3/6 -> 4/6 (attempt 2). Before, a tie at 0.5 that attempt 1
--           wins (fail); after, s92 is highest (pass)                       fail -> pass
-- Beta (latest submitted_at; ties: highest attempt_no)
--   user 4: s41 09:00 3/6 -> 4/6, s42 10:00 3/6 -> 2/6                      pass -> fail
--   user 5: s51 12:00 (recorded first: attempt 1) 2/6 -> 3/6,
--           s52 08:00 (attempt 2) 6/6 -> 5/6: latest is s51                 fail -> pass
--   user 6: s61 09:00 3/6 -> 2/6 (flips), s62 10:00 5/6 -> 5/6              unchanged
--   user 13: s131 09:00 (attempt 1) 2/6 -> 3/6, s132 09:00 (attempt 2) 3/6 -> 2/6:
--            same time, the higher attempt_no is the latest              pass -> fail
-- Gamma (first submitted_at; ties: lowest attempt_no)
--   user 7: s71 09:00 2/6 -> 3/6, s72 10:00 5/6 -> 5/6                      fail -> pass
--   user 8: s81 09:00 (attempt 1) 3/6 -> 2/6, s82 09:00 (attempt 2) 2/6 -> 3/6
--                                                                           pass -> fail
--   user 12: s121 11:00 (recorded first: attempt 1) 3/6 -> 2/6 (flips),
--            s122 08:00 (attempt 2) 5/6 -> 5/6: first is s122               unchanged
-- Delta: user 11: s111 without q1, not rescored: Delta is not listed.
-- No assignment: user 10: s101 3/6 -> 2/6.
SELECT pg_temp.rec(1, '{B}', '{A,B}', '{}', 11, 1, '09:00') \gset
SELECT pg_temp.rec(1, '{A}', '{A}', '{A}', 12, 1, '10:00') \gset
SELECT pg_temp.rec(2, '{C}', '{A,B}', '{}', 21, 1, '09:00') \gset
SELECT pg_temp.rec(3, '{B}', '{A,B}', '{}', 31, 1, '09:00') \gset
SELECT pg_temp.rec(3, NULL, '{A,B}', '{A,B,C}', 32, 1, '10:00') \gset
SELECT pg_temp.rec(9, '{B}', '{A,B}', '{}', 91, 1, '09:00', 101) \gset
SELECT pg_temp.rec(9, '{C}', '{A,B}', '{A}', 92, 1, '10:00') \gset
SELECT pg_temp.rec(4, '{C}', '{}', '{A,B,C}', 41, 2, '09:00') \gset
SELECT pg_temp.rec(4, '{B}', '{A,B}', '{}', 42, 2, '10:00') \gset
SELECT pg_temp.rec(5, '{C}', '{A,B}', '{}', 51, 2, '12:00') \gset
SELECT pg_temp.rec(5, '{B}', '{A,B}', '{A,B,C}', 52, 2, '08:00') \gset
SELECT pg_temp.rec(6, '{B}', '{A,B}', '{}', 61, 2, '09:00') \gset
SELECT pg_temp.rec(6, '{D}', '{A,B}', '{A,B,C}', 62, 2, '10:00') \gset
SELECT pg_temp.rec(13, '{C}', '{A,B}', '{}', 131, 2, '09:00') \gset
SELECT pg_temp.rec(13, '{B}', '{A,B}', '{}', 132, 2, '09:00') \gset
SELECT pg_temp.rec(7, '{C}', '{A,B}', '{}', 71, 3, '09:00') \gset
SELECT pg_temp.rec(7, '{A}', '{A,B}', '{A,B,C}', 72, 3, '10:00') \gset
SELECT pg_temp.rec(8, '{B}', '{A,B}', '{}', 81, 3, '09:00') \gset
SELECT pg_temp.rec(8, '{C}', '{A,B}', '{}', 82, 3, '09:00') \gset
SELECT pg_temp.rec(12, '{B}', '{A,B}', '{}', 121, 3, '11:00') \gset
SELECT pg_temp.rec(12, '{D}', '{A,B}', '{A,B,C}', 122, 3, '08:00') \gset
SELECT pg_temp.rec(11, NULL, '{A,B}', '{}', 111, 4, '09:00') \gset
SELECT pg_temp.rec(10, '{B}', '{A,B}', '{}', 101, NULL, '09:00') \gset

-- Evaluation 2 (pass mark 0.5), no assignments: batch D drops q3, so
-- score/max_score moves even where the score does not.
--   t1 3/6 -> 3/3 up, pass;       t2 4/6 -> 1/3 down, pass -> fail;
--   t3 0/6 -> 0/3 same fraction;  t4 5/6 -> 3/3 score down but fraction up;
--   t5 3/3 -> 0/0 down, pass -> fail (max 0 never passes);
--   t6 0/4 -> 0/1 same fraction;  t7 1/6 -> 1/3 up, still failing.
SELECT tests.make_evaluation(2, 0.5) \gset
SELECT tests.submit(2, 21, '{B}', '{A,B}', '{}', 201) \gset
SELECT tests.submit(2, 22, '{B}', '{}', '{A,B,C}', 202) \gset
SELECT tests.submit(2, 23, '{A}', '{}', '{}', 203) \gset
SELECT tests.submit(2, 24, '{B}', '{A,B}', '{A,B}', 204) \gset
SELECT tests.submit(2, 25, NULL, NULL, '{A,B,C}', 205) \gset
SELECT tests.submit(2, 26, '{A}', NULL, '{A,D}', 206) \gset
SELECT tests.submit(2, 27, '{B}', '{}', '{}', 207) \gset

SELECT scoreledger.create_correction_batch('q1 key is C', jsonb_build_array(tests.replace_key(1, 1, '{C}'))) AS p \gset
SELECT scoreledger.create_correction_batch('drop q3', jsonb_build_array(tests.drop_item(2, 3))) AS d \gset

-- Preconditions the expectations rest on.
SELECT is((SELECT array_agg(pg_temp.no_of('submission', s.submission_id) || ':' || s.attempt_no
                            ORDER BY pg_temp.no_of('submission', s.submission_id)::int)
           FROM scoreledger.submissions s
           WHERE s.submission_id IN (SELECT tests.sub(n) FROM unnest('{51,52,81,82,91,92,121,122,131,132}'::int[]) n)),
          '{51:1,52:2,81:1,82:2,91:1,92:2,121:1,122:2,131:1,132:2}'::text[],
          'fixture: attempt numbers follow recording order, not submitted_at');
SELECT is(tests.scores('{11,12,21,31,32,91,92,41,42,51,52,61,62,71,72,81,82,121,122,111,101,131,132}'),
          '3/6 1/6 2/6 3/6 5/5 3/6 3/6 3/6 3/6 2/6 6/6 3/6 5/6 2/6 5/6 3/6 2/6 3/6 5/6 2/5 3/6 2/6 3/6',
          'fixture: scores of evaluation 1 before the batch');
SELECT is((SELECT passed FROM scoreledger.submissions WHERE submission_id = tests.sub(91)), false,
          'fixture: s91 (3/6 on version 2, pass mark 0.9) fails');
SELECT is(tests.scores('{201,202,203,204,205,206,207}'), '3/6 4/6 0/6 5/6 3/3 0/4 1/6',
          'fixture: scores of evaluation 2 before the batch');

-- =====================================================================
-- The preview of P, exactly
-- =====================================================================
SELECT is(scoreledger.preview_correction_batch(:'p'),
          jsonb_build_object(
            'batch_id', :'p'::uuid,
            'submissionsAffected', 20, 'scoreUp', 7, 'scoreDown', 9, 'scoreUnchanged', 4,
            'passToFail', 8, 'failToPass', 5, 'outcomeUnchanged', 7,
            'assignments', jsonb_build_array(
              pg_temp.assignment_entry(1, 'Alpha', 'Programme 1', 'highest', '{1}', '{2,9}', 1),
              pg_temp.assignment_entry(2, 'Beta', 'Programme 2', 'latest', '{4,13}', '{5}', 1),
              pg_temp.assignment_entry(3, 'Gamma', NULL, 'first', '{8}', '{7}', 1)),
            'interventions', '{"opened": 0, "withdrawn": 0, "remedialCompleted": 0}'::jsonb),
          'P: the preview document, exactly');

-- The same, one fact at a time (for a readable failure).
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->0->'passToFail', pg_temp.users('{1}'),
          'P, Alpha (highest): user 1 goes pass -> fail (the attempt that decides drops below the mark)');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->0->'failToPass', pg_temp.users('{2,9}'),
          'P, Alpha (highest): users 2 and 9 go fail -> pass (user 9: a 0.5 tie went to attempt 1, which fails on version 2)');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->0->'unchanged', '1'::jsonb,
          'P, Alpha (highest): user 3''s flipping submission does not decide: outcome unchanged');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->1->'failToPass', pg_temp.users('{5}'),
          'P, Beta (latest): user 5''s latest submission by submitted_at (attempt 1) decides: fail -> pass');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->1->'passToFail', pg_temp.users('{4,13}'),
          'P, Beta (latest): users 4 and 13 (same submitted_at: attempt 2 is the latest) pass -> fail; user 6''s flip is not the latest attempt');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->2->'passToFail', pg_temp.users('{8}'),
          'P, Gamma (first): user 8''s two attempts share submitted_at; attempt 1 decides: pass -> fail');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->2->'failToPass', pg_temp.users('{7}'),
          'P, Gamma (first): user 7''s first attempt decides: fail -> pass');
SELECT is(scoreledger.preview_correction_batch(:'p')->'assignments'->2->'unchanged', '1'::jsonb,
          'P, Gamma (first): user 12''s first attempt by submitted_at (attempt 2) decides: unchanged');
SELECT ok(NOT (scoreledger.preview_correction_batch(:'p')->'assignments') @> jsonb_build_array(jsonb_build_object('assignment_id', pg_temp.asg(4))),
          'P: an assignment without any rescored submission (Delta) is not listed');

SELECT is(pg_temp.change_lines(:'p'), ARRAY[
            's11 u1 Alpha 3/6->2/6 t->f',
            's12 u1 Alpha 1/6->1/6 f->f',
            's21 u2 Alpha 2/6->3/6 f->t',
            's31 u3 Alpha 3/6->2/6 t->f',
            's41 u4 Beta 3/6->4/6 t->t',
            's42 u4 Beta 3/6->2/6 t->f',
            's51 u5 Beta 2/6->3/6 f->t',
            's52 u5 Beta 6/6->5/6 t->t',
            's61 u6 Beta 3/6->2/6 t->f',
            's62 u6 Beta 5/6->5/6 t->t',
            's71 u7 Gamma 2/6->3/6 f->t',
            's72 u7 Gamma 5/6->5/6 t->t',
            's81 u8 Gamma 3/6->2/6 t->f',
            's82 u8 Gamma 2/6->3/6 f->t',
            's92 u9 Alpha 3/6->4/6 t->t',
            's101 u10 - 3/6->2/6 t->f',
            's121 u12 Gamma 3/6->2/6 t->f',
            's122 u12 Gamma 5/6->5/6 t->t',
            's131 u13 Beta 2/6->3/6 f->t',
            's132 u13 Beta 3/6->2/6 t->f'],
          'P: preview_correction_batch_changes, one row per submission containing q1 of version 1, exactly');
SELECT is((SELECT array_agg(c.submission_id) FROM scoreledger.preview_correction_batch_changes(:'p') c),
          (SELECT array_agg(c.submission_id ORDER BY c.submission_id) FROM scoreledger.preview_correction_batch_changes(:'p') c),
          'P: change rows come ordered by submission_id');
SELECT is((SELECT count(*)::int FROM scoreledger.preview_correction_batch_changes(:'p')),
          (scoreledger.preview_correction_batch(:'p')->>'submissionsAffected')::int,
          'P: as many change rows as submissionsAffected');

-- =====================================================================
-- Batch D: up/down compare score/max_score; the batch may be approved
-- =====================================================================
SELECT is(scoreledger.preview_correction_batch(:'d'),
          jsonb_build_object('batch_id', :'d'::uuid, 'submissionsAffected', 7, 'scoreUp', 3, 'scoreDown', 2, 'scoreUnchanged', 2,
                             'passToFail', 2, 'failToPass', 0, 'outcomeUnchanged', 5, 'assignments', '[]'::jsonb,
                             'interventions', '{"opened": 0, "withdrawn": 0, "remedialCompleted": 0}'::jsonb),
          'D: dropping q3: up/down by score/max_score (5/6 -> 3/3 is up; 0/6 -> 0/3 unchanged; 3/3 -> 0/0 down), no assignments');
SELECT is(pg_temp.change_lines(:'d'), ARRAY[
            's201 u21 - 3/6->3/3 t->t',
            's202 u22 - 4/6->1/3 t->f',
            's203 u23 - 0/6->0/3 f->f',
            's204 u24 - 5/6->3/3 t->t',
            's205 u25 - 3/3->0/0 t->f',
            's206 u26 - 0/4->0/1 f->f',
            's207 u27 - 1/6->1/3 f->f'],
          'D: change rows exactly');
SELECT scoreledger.preview_correction_batch(:'d') AS d_draft_preview \gset
-- Submitted, then approved by someone else (section 7).
SELECT scoreledger.submit_correction_batch(:'d') \gset
SELECT is(scoreledger.preview_correction_batch(:'d'), :'d_draft_preview'::jsonb,
          'D pending review: previews the same as the draft (the approver''s view)');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 3)) \gset
SELECT scoreledger.approve_correction_batch(:'d', 'looks right') \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is((SELECT status FROM scoreledger.correction_batches WHERE id = :'d'), 'approved', 'D is approved');
SELECT is(scoreledger.preview_correction_batch(:'d'), :'d_draft_preview'::jsonb, 'D approved: previews the same as the draft');
SELECT is(pg_temp.changed_rows(:'d'), 7, 'D: all seven rows change (score, max_score)');
SELECT is(scoreledger.apply_correction_batch(:'d') - 'batch_id' - 'status' - 'already_applied',
          jsonb_build_object('submissions_rescored', (:'d_draft_preview'::jsonb->>'submissionsAffected')::int,
                             'scores_changed', 7),
          'D: apply rescores submissionsAffected submissions and changes as many as the preview rows said');
SELECT is(tests.scores('{201,202,203,204,205,206,207}'), '3/3 1/3 0/3 3/3 0/0 0/1 1/3', 'D applied: the previewed scores');
SELECT is(scoreledger.preview_revert(:'d'), pg_temp.mirror(:'d_draft_preview'::jsonb),
          'D: preview_revert after apply mirrors the preview (0/0 -> 3/3 counts as up)');

-- =====================================================================
-- A preview writes nothing anywhere
-- =====================================================================
RESET ROLE;
SELECT pg_temp.fingerprint() AS before_previews \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT scoreledger.preview_correction_batch(:'p') \gset
SELECT count(*) FROM scoreledger.preview_correction_batch_changes(:'p') \gset
SELECT scoreledger.preview_revert(:'d') \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1)) \gset
SELECT scoreledger.preview_correction_batch(:'p') \gset
SELECT scoreledger.preview_revert(:'d') \gset
RESET ROLE;
SELECT is(pg_temp.fingerprint(), :'before_previews',
          'the three previews (with and without an actor) change no row, no row version and no sequence of the private schema');
SELECT ok(:'before_previews' LIKE '%scoreledger_private.apply_seq last_value=%'
          AND :'before_previews' LIKE '%scoreledger_private.score_history rows=%'
          AND :'before_previews' LIKE '%scoreledger_private.correction_batches rows=%',
          'the fingerprint covers apply_seq, score history and batches');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is((SELECT status FROM scoreledger.correction_batches WHERE id = :'p'), 'draft', 'P is still a draft after its previews');
SELECT is(tests.scores('{11,12,21,31,32,91,92,41,42,51,52,61,62,71,72,81,82,121,122,111,101,131,132}'),
          '3/6 1/6 2/6 3/6 5/5 3/6 3/6 3/6 3/6 2/6 6/6 3/6 5/6 2/6 5/6 3/6 2/6 3/6 5/6 2/5 3/6 2/6 3/6',
          'scores unchanged by the previews');

-- =====================================================================
-- Apply P: the numbers are the preview's
-- =====================================================================
SELECT scoreledger.preview_correction_batch(:'p') AS p_preview \gset
SELECT pg_temp.changed_rows(:'p') AS p_changed \gset
SELECT scoreledger.apply_correction_batch(:'p') AS p_result \gset
SELECT is((:'p_result'::jsonb->>'submissions_rescored')::int, (:'p_preview'::jsonb->>'submissionsAffected')::int,
          'P: submissions_rescored = submissionsAffected (20)');
SELECT is((:'p_result'::jsonb->>'scores_changed')::int, :'p_changed'::int,
          'P: scores_changed = change rows whose score or max_score moves (16)');
SELECT is(:'p_changed'::int, 16, 'P: 16 of the 20 rows change');
SELECT is((SELECT count(*)::int FROM scoreledger.score_history WHERE correction_batch_id = :'p'), 20,
          'P: one history row per previewed submission');
SELECT is(tests.scores('{11,12,21,31,41,42,51,52,61,62,71,72,81,82,92,101,121,122,131,132}'),
          '2/6 1/6 3/6 2/6 4/6 2/6 3/6 5/6 2/6 5/6 3/6 5/6 2/6 3/6 4/6 2/6 2/6 5/6 3/6 2/6',
          'P applied: every previewed submission has its previewed new score');
SELECT is((SELECT array_agg(pg_temp.no_of('submission', s.submission_id)::int ORDER BY pg_temp.no_of('submission', s.submission_id)::int)
           FROM scoreledger.submissions s WHERE s.evaluation_version_id = tests.ev(1) AND s.passed),
          '{21,32,41,51,52,62,71,72,82,92,122,131}'::int[],
          'P applied: exactly the previewed submissions pass');

-- =====================================================================
-- preview_revert after apply mirrors the preview; revert does it
-- =====================================================================
SELECT scoreledger.preview_revert(:'p') AS p_revert_preview \gset
SELECT is(:'p_revert_preview'::jsonb, pg_temp.mirror(:'p_preview'::jsonb),
          'P: preview_revert after apply is the preview mirrored (up/down and pass/fail swapped, per assignment too)');
SELECT is(:'p_revert_preview'::jsonb->'assignments'->0->'failToPass', pg_temp.users('{1}'),
          'P: preview_revert, Alpha: user 1 would go back fail -> pass');
SELECT scoreledger.revert_correction_batch(:'p', 'key B was right') AS p_comp \gset
SELECT is((scoreledger.get_correction_batch(:'p_comp')->'apply_result'->>'submissions_rescored')::int,
          (:'p_revert_preview'::jsonb->>'submissionsAffected')::int, 'P reverted: submissions_rescored = preview_revert''s submissionsAffected');
SELECT is((scoreledger.get_correction_batch(:'p_comp')->'apply_result'->>'scores_changed')::int, 16,
          'P reverted: scores_changed as the preview rows said');
SELECT is(tests.scores('{11,12,21,31,32,91,92,41,42,51,52,61,62,71,72,81,82,121,122,111,101,131,132}'),
          '3/6 1/6 2/6 3/6 5/5 3/6 3/6 3/6 3/6 2/6 6/6 3/6 5/6 2/6 5/6 3/6 2/6 3/6 5/6 2/5 3/6 2/6 3/6',
          'P reverted: the scores preview_revert announced (the originals)');

-- =====================================================================
-- SL409: wrong states
-- =====================================================================
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'p'), 'SL409', '%reverted%',
                              'preview_correction_batch of a reverted batch is SL409');
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', :'p'), 'SL409', '%reverted%',
                              'preview_correction_batch_changes of a reverted batch is SL409');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'p'), 'SL409', '%',
                              'preview_revert of a reverted batch is SL409');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'p_comp'), 'SL409', '%',
                              'preview_revert of a compensating batch is SL409');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'p_comp'), 'SL409', '%',
                              'preview_correction_batch of a compensating (applied) batch is SL409');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'d'), 'SL409', '%applied%',
                              'preview_correction_batch of an applied batch is SL409');
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', :'d'), 'SL409', '%applied%',
                              'preview_correction_batch_changes of an applied batch is SL409');
SELECT scoreledger.create_correction_batch('another draft', jsonb_build_array(tests.drop_item(1, 2))) AS draft \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'draft'), 'SL409', '%draft%',
                              'preview_revert of a draft is SL409');
SELECT scoreledger.create_correction_batch('pending', jsonb_build_array(tests.drop_item(1, 2))) AS pending \gset
SELECT scoreledger.create_correction_batch('rejected', jsonb_build_array(tests.drop_item(1, 2))) AS rejected \gset
SELECT scoreledger.create_correction_batch('discarded', jsonb_build_array(tests.drop_item(1, 2))) AS discarded \gset
SELECT scoreledger.submit_correction_batch(:'pending') \gset
SELECT scoreledger.submit_correction_batch(:'rejected') \gset
SELECT scoreledger.discard_correction_batch(:'discarded') \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 3)) \gset
SELECT scoreledger.reject_correction_batch(:'rejected', 'no') \gset
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT is((SELECT array_agg(status ORDER BY status) FROM scoreledger.correction_batches
           WHERE id IN (:'pending', :'rejected', :'discarded')), '{discarded,pending_review,rejected}'::text[],
          'fixture: a pending, a rejected and a discarded batch');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', b), 'SL409', '%' || s || '%',
                              format('preview_correction_batch of a %s batch is SL409', s))
FROM (VALUES (:'rejected'::uuid, 'rejected'), (:'discarded'::uuid, 'discarded')) x(b, s);
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', b), 'SL409', '%' || s || '%',
                              format('preview_correction_batch_changes of a %s batch is SL409', s))
FROM (VALUES (:'rejected'::uuid, 'rejected'), (:'discarded'::uuid, 'discarded')) x(b, s);
SELECT is(pg_temp.change_lines(:'pending'), pg_temp.change_lines(:'draft'),
          'a pending_review batch previews (rows equal to those of a draft with the same corrections)');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'pending'), 'SL409', '%pending_review%',
                              'preview_revert of a pending_review batch is SL409');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'discarded'), 'SL409', '%',
                              'preview_revert of a discarded batch is SL409');

-- =====================================================================
-- SL404: unknown batches, other tenants' batches
-- =====================================================================
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', tests.uuid_of('nowhere', 1)), 'SL404',
                              '%' || tests.uuid_of('nowhere', 1) || '%', 'preview_correction_batch of an unknown batch is SL404, naming it');
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', tests.uuid_of('nowhere', 1)),
                              'SL404', '%', 'preview_correction_batch_changes of an unknown batch is SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', tests.uuid_of('nowhere', 1)), 'SL404', '%',
                              'preview_revert of an unknown batch is SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'other_draft'), 'SL404', '%',
                              'preview_correction_batch of another tenant''s draft is SL404');
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', :'other_draft'), 'SL404', '%',
                              'preview_correction_batch_changes of another tenant''s draft is SL404');
SELECT tests.authenticate_as(tests.uuid_of('tenant', 2), tests.uuid_of('actor', 2)) \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'d'), 'SL404', '%',
                              'preview_revert of another tenant''s applied batch is SL404');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'draft'), 'SL404', '%',
                              'preview_correction_batch of another tenant''s draft is SL404 (from tenant 2)');
SELECT ok(scoreledger.preview_correction_batch(:'other_draft') IS NOT NULL, 'tenant 2 previews its own draft');

-- =====================================================================
-- SL401: no tenant context
-- =====================================================================
SELECT tests.authenticate_without_context() \gset
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_correction_batch(%L)', :'draft'), 'SL401', '%',
                              'preview_correction_batch without a context is SL401');
SELECT tests.throws_code_like(format('SELECT * FROM scoreledger.preview_correction_batch_changes(%L)', :'draft'), 'SL401', '%',
                              'preview_correction_batch_changes without a context is SL401');
SELECT tests.throws_code_like(format('SELECT scoreledger.preview_revert(%L)', :'d'), 'SL401', '%',
                              'preview_revert without a context is SL401');

-- =====================================================================
-- highest compares score/max_score exactly, not rounded quotients
-- =====================================================================
-- Evaluation 5: three partial items of 1 point, key A,B,C; pass mark
-- 0.3333333333333333333333. Learner 51 at a `highest` assignment:
--   attempt 1: {A} on each item: 3 × 0.33333333333333333333 =
--              0.99999999999999999999/3, below the mark (fails);
--   attempt 2: item 1 right, the others empty: 1/3, passes.
-- Exactly, 1/3 > 0.99999999999999999999/3: attempt 2 is the highest and
-- the learner passes before; dropping item 3 (0.66666666666666666666/2
-- against 1/2) keeps attempt 2 highest: the outcome stays pass.
SELECT tests.authenticate_as(tests.uuid_of('tenant', 1), tests.uuid_of('actor', 1)) \gset
SELECT scoreledger.import_evaluation_version(jsonb_build_object(
  'evaluation_id', tests.uuid_of('evaluation', 5), 'evaluation_version_id', tests.ev(5),
  'evaluation_title', 'Evaluation 5', 'version_no', 1, 'pass_mark', 0.3333333333333333333333,
  'items', (SELECT jsonb_agg(jsonb_build_object('question_id', tests.uuid_of('question' || n, 5),
                               'question_version_id', tests.qv(5, n), 'kind', 'multiple_choice', 'prompt', 'Q' || n,
                               'options', '["A","B","C","D"]'::jsonb, 'correct', '["A","B","C"]'::jsonb, 'points', 1,
                               'scoring', 'partial') ORDER BY n)
            FROM generate_series(1, 3) n))) \gset
SELECT scoreledger.upsert_assignment(jsonb_build_object('assignment_id', pg_temp.asg(5), 'title', 'Epsilon',
         'evaluation_id', tests.uuid_of('evaluation', 5), 'attempt_policy', 'highest')) \gset
SELECT scoreledger.record_submission(tests.submission_doc(5, 51, '{A}', '{A}', '{A}', 501, pg_temp.asg(5))) \gset
SELECT scoreledger.record_submission(tests.submission_doc(5, 51, '{A,B,C}', '{}', '{}', 502, pg_temp.asg(5))) \gset
SELECT is((SELECT array_agg(trim_scale(score) || '/' || trim_scale(max_score) || ' ' || passed ORDER BY attempt_no)
           FROM scoreledger.submissions WHERE evaluation_version_id = tests.ev(5)),
          '{"0.99999999999999999999/3 false","1/3 true"}'::text[],
          'evaluation 5 fixture: attempt 1 fails at 0.99999999999999999999/3, attempt 2 passes at 1/3');
SELECT scoreledger.create_correction_batch('drop item 3 of evaluation 5', jsonb_build_array(tests.drop_item(5, 3))) AS e \gset
SELECT is(scoreledger.preview_correction_batch(:'e')->'assignments',
          jsonb_build_array(pg_temp.assignment_entry(5, 'Epsilon', NULL, 'highest', '{}', '{}', 1)),
          'highest picks by exact score/max_score: 1/3 beats 0.99999999999999999999/3 (equal once divided and rounded)');

SELECT * FROM finish();
ROLLBACK;
