-- Shared helpers of the correction-batch files (20_batches_validation,
-- 21_apply, 22_revert, 23_batch_guards, 30_preview, 50_governance): ids of
-- the objects tests.make_evaluation / tests.submit create, correction
-- entries, and readable views of the scores they lead to. Loaded after
-- helpers.sql.

-- The ids tests.make_evaluation(seed) and tests.submit(..., submission_no)
-- give: evaluation version `seed`, question version n (1-3) of it, and
-- submission n.
CREATE OR REPLACE FUNCTION tests.ev(seed int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT tests.uuid_of('version', seed)
$$;
CREATE OR REPLACE FUNCTION tests.qv(seed int, n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT tests.uuid_of('q' || n, seed)
$$;
CREATE OR REPLACE FUNCTION tests.sub(n int) RETURNS uuid LANGUAGE sql IMMUTABLE AS $$
  SELECT tests.uuid_of('submission', n)
$$;

-- One correction entry on question version n of evaluation version `seed`.
CREATE OR REPLACE FUNCTION tests.drop_item(seed int, n int) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('type', 'drop_item', 'evaluation_version_id', tests.ev(seed),
                            'question_version_id', tests.qv(seed, n))
$$;
CREATE OR REPLACE FUNCTION tests.replace_key(seed int, n int, correct text[]) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('type', 'replace_key', 'evaluation_version_id', tests.ev(seed),
                            'question_version_id', tests.qv(seed, n), 'correct', to_jsonb(correct))
$$;
-- Scoped to submissions `subs` (by number); unscoped: "submission_ids": null.
-- (Leaving the key out is the contract's form too; 20_batches_validation
-- tests that form on its own.)
CREATE OR REPLACE FUNCTION tests.mark_correct(seed int, n int, subs int[] DEFAULT NULL) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('type', 'mark_correct', 'evaluation_version_id', tests.ev(seed),
                            'question_version_id', tests.qv(seed, n),
                            'submission_ids', (SELECT jsonb_agg(tests.sub(s)) FROM unnest(subs) s))
$$;

-- 'score/max_score' of each submission (by number), in the order given;
-- 'missing' for one the caller cannot see.
CREATE OR REPLACE FUNCTION tests.scores(subs int[]) RETURNS text LANGUAGE sql AS $$
  SELECT string_agg(coalesce(trim_scale(s.score)::text || '/' || trim_scale(s.max_score)::text, 'missing'), ' ' ORDER BY x.n)
  FROM unnest(subs) WITH ORDINALITY x(sub_no, n)
  LEFT JOIN scoreledger.submissions s ON s.submission_id = tests.sub(x.sub_no)
$$;
CREATE OR REPLACE FUNCTION tests.history_rows(sub_no int) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM scoreledger.score_history WHERE submission_id = tests.sub(sub_no)
$$;
-- The submissions (by number, among `candidates`) a batch wrote history
-- for, one entry per row.
CREATE OR REPLACE FUNCTION tests.rescored(batch uuid, candidates int[]) RETURNS int[] LANGUAGE sql AS $$
  SELECT coalesce(array_agg(x.sub_no ORDER BY x.sub_no), '{}')
  FROM scoreledger.score_history h JOIN unnest(candidates) x(sub_no) ON h.submission_id = tests.sub(x.sub_no)
  WHERE h.correction_batch_id = batch
$$;

GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA tests TO PUBLIC;
