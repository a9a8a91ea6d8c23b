"""Remediation benches: recording submissions, preview, apply and revert, each against bare SQL."""

from __future__ import annotations

import time

from psycopg.types.json import Jsonb

from .harness import CHUNK, Bench

# The submission documents of row g of generate_series, aggregated into one
# record_submissions argument: 1 % of them are of a second version (the
# small batch's scope). With assignments given, each document names the
# assignment of its version (attempt rules then apply to it). Parameters:
# document_parameters().
DOCUMENT_SQL = """jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
  'assignment_id', CASE WHEN g %% 100 = 0 THEN %(small_a)s::uuid ELSE %(main_a)s::uuid END)) || jsonb_build_object(
  'submission_id', gen_random_uuid(),
  'evaluation_version_id', CASE WHEN g %% 100 = 0 THEN %(small_v)s ELSE %(main_v)s END,
  'user_id', md5('user' || (g / 3))::uuid,
  'submitted_at', '2026-11-01T10:00:00Z',
  'answers', (SELECT jsonb_agg(jsonb_build_object(
                'question_version_id', (CASE WHEN g %% 100 = 0 THEN %(small_q)s::text[] ELSE %(main_q)s::text[] END)[i],
                'selected', jsonb_build_array((ARRAY['A','B','C','D'])[1 + ((g * 7 + i * 13) %% 4)])))
              FROM generate_series(1, %(items)s::int) i)))"""


def document_parameters(versions, items: int, assignments: tuple[str, str] | None = None) -> dict:
    """assignments: (assignment of the main version, of the small one), or none."""
    (main_v, main_q), (small_v, small_q) = versions
    main_a, small_a = assignments or (None, None)
    return {
        "items": items,
        "main_v": main_v,
        "small_v": small_v,
        "main_q": main_q,
        "small_q": small_q,
        "main_a": main_a,
        "small_a": small_a,
    }


class RemediationBench:
    def __init__(self, bench: Bench):
        self.bench = bench
        self.conn = bench.conn  # autocommit, superuser
        self.scale = bench.scale
        self.tenant = bench.tenant
        self.items = bench.items
        self.versions = bench.versions
        self.timed = bench.timed
        self.report = bench.report

    def stage_documents(self, assignments: tuple[str, str] | None = None):
        """Submission documents, pre-chunked, so both sides parse the same JSON."""
        self.conn.execute("DROP TABLE IF EXISTS bench_chunks")
        self.conn.execute(
            f"CREATE UNLOGGED TABLE bench_chunks AS SELECT g / %(chunk)s AS chunk, {DOCUMENT_SQL} AS docs"
            " FROM generate_series(0, %(n)s - 1) g GROUP BY g / %(chunk)s",
            document_parameters(self.versions, self.items, assignments) | {"chunk": CHUNK, "n": self.scale},
        )
        self.conn.execute("GRANT SELECT ON bench_chunks TO scoreledger_app")
        self.chunks = [r[0] for r in self.conn.execute("SELECT chunk FROM bench_chunks ORDER BY chunk")]

    # ------------------------------------------------------------ ingest

    def bench_ingest(self):
        self.conn.execute("DROP TABLE IF EXISTS bare_answers, bare_submissions")
        self.conn.execute(
            """CREATE TABLE bare_submissions (submission_id uuid PRIMARY KEY, evaluation_version_id uuid NOT NULL,
                 user_id uuid NOT NULL, submitted_at timestamptz NOT NULL, score numeric, max_score numeric)"""
        )
        self.conn.execute(
            """CREATE TABLE bare_answers (submission_id uuid NOT NULL, question_version_id uuid NOT NULL,
                 selected text[] NOT NULL, PRIMARY KEY (submission_id, question_version_id))"""
        )
        ours = bare = 0.0
        for chunk in self.chunks:
            seconds, _ = self.timed(
                "SELECT scoreledger.record_submissions(docs) FROM bench_chunks WHERE chunk = %s", [chunk], as_app=True
            )
            ours += seconds
            seconds, _ = self.timed(
                """
                WITH d AS (SELECT e FROM bench_chunks, jsonb_array_elements(docs) e WHERE chunk = %s),
                s AS (INSERT INTO bare_submissions (submission_id, evaluation_version_id, user_id, submitted_at)
                      SELECT (e->>'submission_id')::uuid, (e->>'evaluation_version_id')::uuid, (e->>'user_id')::uuid,
                             (e->>'submitted_at')::timestamptz FROM d)
                INSERT INTO bare_answers (submission_id, question_version_id, selected)
                SELECT (e->>'submission_id')::uuid, (a->>'question_version_id')::uuid,
                       ARRAY(SELECT jsonb_array_elements_text(a->'selected'))
                FROM d, jsonb_array_elements(e->'answers') a
                RETURNING 1
                """,
                [chunk],
            )
            bare += seconds
        self.report(f"ingest record_submissions ({self.items} items)", self.scale, ours, bare, "submissions")
        self.conn.execute("DROP TABLE bare_answers, bare_submissions")
        self.conn.execute("VACUUM ANALYZE scoreledger_private.submissions, scoreledger_private.answers")

    def ensure_ingested(self):
        """Records the staged documents unless the tenant holds submissions already (the ingest part ran)."""
        with self.conn.transaction():
            self.conn.execute("SET LOCAL ROLE scoreledger_app")
            self.conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.tenant, self.bench.actor])
            held = self.conn.execute("SELECT count(*) FROM scoreledger.submissions").fetchone()[0]
        if held == 0:
            for chunk in self.chunks:
                self.timed(
                    "SELECT scoreledger.record_submissions(docs) FROM bench_chunks WHERE chunk = %s",
                    [chunk],
                    as_app=True,
                )
        self.conn.execute("VACUUM ANALYZE")

    # ------------------------------------------------------------ apply / revert

    def create_batch(self, version: str, question: str) -> str:
        _, row = self.timed(
            "SELECT scoreledger.create_correction_batch(%s, %s)",
            [
                "bench: key was wrong",
                Jsonb(
                    [
                        {
                            "type": "replace_key",
                            "evaluation_version_id": version,
                            "question_version_id": question,
                            "correct": ["C"],
                        }
                    ]
                ),
            ],
            as_app=True,
        )
        return str(row[0])

    def bare_apply(self, version: str, question: str) -> float:
        """The minimal work: the one item's point delta, one history insert, one score update per submission."""
        self.conn.execute("DROP TABLE IF EXISTS bare_history")
        self.conn.execute(
            "CREATE TABLE bare_history (history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "submission_id uuid NOT NULL, score numeric NOT NULL, max_score numeric NOT NULL)"
        )
        seconds, _ = self.timed(
            """
            WITH delta AS (
              SELECT a.submission_id,
                     (CASE WHEN a.selected_mask = 4 THEN 1 ELSE 0 END) - (CASE WHEN a.selected_mask = 2 THEN 1 ELSE 0 END) AS d
              FROM bare_answers a WHERE a.question_version_id = %s
            ), h AS (
              INSERT INTO bare_history (submission_id, score, max_score)
              SELECT s.submission_id, s.score + delta.d, s.max_score
              FROM delta JOIN bare_submissions s ON s.submission_id = delta.submission_id
              RETURNING submission_id, score
            )
            UPDATE bare_submissions s SET score = h.score FROM h WHERE s.submission_id = h.submission_id
            RETURNING 1
            """,
            [question],
        )
        return seconds

    def bench_apply_revert(self):
        (main_v, main_q), (small_v, small_q) = self.versions
        # Bare tables with the same rows as ours (copied, untimed).
        self.conn.execute("DROP TABLE IF EXISTS bare_answers, bare_submissions")
        with self.conn.transaction():
            self.conn.execute("SET LOCAL ROLE scoreledger_owner")
            self.conn.execute("SELECT scoreledger_private.enter_context(%s)", [self.tenant])
            self.conn.execute(
                "CREATE TEMP TABLE bare_submissions AS"
                " SELECT submission_id, user_id, score, max_score FROM scoreledger_private.submissions"
            )
            self.conn.execute(
                "CREATE TEMP TABLE bare_answers AS"
                " SELECT submission_id, question_version_id, selected_mask FROM scoreledger_private.answers"
            )
        self.conn.execute("ALTER TABLE bare_submissions ADD PRIMARY KEY (submission_id)")
        self.conn.execute("CREATE INDEX ON bare_answers (question_version_id, submission_id)")
        self.conn.execute("CREATE INDEX ON bare_submissions (user_id)")
        self.conn.execute("ANALYZE bare_submissions, bare_answers")

        for label, version, question in (("all", main_v, main_q[3]), ("1%", small_v, small_q[3])):
            batch = self.create_batch(version, question)
            preview_s, row = self.timed("SELECT scoreledger.preview_correction_batch(%s)", [batch], as_app=True)
            # Bare equivalent of a preview, read-only: each reached submission's
            # point delta and new score, pass<->fail per submission, each
            # affected learner's outcome (best attempt) before and after, and
            # the score distribution in tenths before and after.
            bare_preview_s, _ = self.timed(
                """WITH changed AS MATERIALIZED (
                     SELECT s.submission_id, s.user_id, s.max_score, s.score AS old_score,
                            s.score + (CASE WHEN a.selected_mask = 4 THEN 1 ELSE 0 END)
                                    - (CASE WHEN a.selected_mask = 2 THEN 1 ELSE 0 END) AS new_score
                     FROM bare_answers a JOIN bare_submissions s ON s.submission_id = a.submission_id
                     WHERE a.question_version_id = %(q)s
                   ), learners AS (
                     SELECT s.user_id,
                            bool_or(s.score >= 0.6 * s.max_score) AS passed_before,
                            bool_or(coalesce(c.new_score, s.score) >= 0.6 * s.max_score) AS passes_after
                     FROM bare_submissions s LEFT JOIN changed c ON c.submission_id = s.submission_id
                     WHERE s.user_id IN (SELECT user_id FROM changed)
                     GROUP BY s.user_id
                   )
                   SELECT (SELECT count(*) FROM changed),
                          (SELECT count(*) FILTER (WHERE old_score <> new_score) FROM changed),
                          (SELECT count(*) FILTER (WHERE old_score >= 0.6 * max_score AND new_score < 0.6 * max_score)
                           FROM changed),
                          (SELECT count(*) FILTER (WHERE passed_before AND NOT passes_after) FROM learners),
                          (SELECT count(*) FILTER (WHERE NOT passed_before AND passes_after) FROM learners),
                          (SELECT jsonb_object_agg(bin, n) FROM (
                             SELECT width_bucket(old_score / max_score, 0, 1.0001, 10) AS bin, count(*) AS n
                             FROM changed GROUP BY 1) b),
                          (SELECT jsonb_object_agg(bin, n) FROM (
                             SELECT width_bucket(new_score / max_score, 0, 1.0001, 10) AS bin, count(*) AS n
                             FROM changed GROUP BY 1) b)""",
                {"q": question},
            )
            self.report(
                f"preview replace_key ({label} of submissions)",
                row[0]["submissionsAffected"],
                preview_s,
                bare_preview_s,
                "submissions",
            )
            apply_s, row = self.timed("SELECT scoreledger.apply_correction_batch(%s)", [batch], as_app=True)
            touched = row[0]["submissions_rescored"]
            bare_s = self.bare_apply(version, question)
            self.report(f"apply replace_key ({label} of submissions)", touched, apply_s, bare_s, "submissions")
            revert_s, _ = self.timed(
                "SELECT scoreledger.revert_correction_batch(%s, 'bench revert')", [batch], as_app=True
            )
            bare_s = self.bare_apply(version, question)
            self.report(f"revert replace_key ({label} of submissions)", touched, revert_s, bare_s, "submissions")

    # ------------------------------------------------------------ validation

    def bench_validation(self):
        """A scoped mark_correct naming every submission of the main version
        (up to the bound of scoreledger.input_limits): validated in one
        set-based pass, beside a bare duplicate-and-existence check of the
        same ids over the bare tables bench_apply_revert copied."""
        (main_v, main_q), _ = self.versions
        with self.conn.transaction():
            self.conn.execute("SET LOCAL ROLE scoreledger_owner")
            self.conn.execute("SELECT scoreledger_private.enter_context(%s)", [self.tenant])
            ids = [
                str(r[0])
                for r in self.conn.execute(
                    """SELECT submission_id FROM scoreledger_private.submissions WHERE evaluation_version_id = %s
                       ORDER BY submission_id LIMIT scoreledger_private.input_limit('ids_per_correction')""",
                    [main_v],
                )
            ]
        entry = {
            "type": "mark_correct",
            "evaluation_version_id": main_v,
            "question_version_id": main_q[3],
            "submission_ids": ids,
        }
        with self.conn.transaction():
            self.conn.execute("SET LOCAL ROLE scoreledger_owner")
            self.conn.execute("SELECT scoreledger_private.enter_context(%s, %s)", [self.tenant, self.bench.actor])
            start = time.perf_counter()
            self.conn.execute("SELECT scoreledger_private.expand_corrections(%s)", [Jsonb([entry])])
            ours = time.perf_counter() - start
        bare, _ = self.timed(
            """SELECT count(*) = count(DISTINCT x.id) AND count(*) = count(s.submission_id)
               FROM (SELECT (e #>> '{}')::uuid AS id FROM jsonb_array_elements(%s::jsonb) e) x
               LEFT JOIN bare_submissions s ON s.submission_id = x.id""",
            [Jsonb(ids)],
        )
        self.report("validate mark_correct submission_ids", len(ids), ours, bare, "ids")
