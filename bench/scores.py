"""Score layer bench (issue 5): recording results with their scores, and backfill.

Each figure is measured in the same run as bare SQL doing the same writes,
and reported as a ratio (nothing is asserted):

* record: `record_evaluation_results` in chunks of 5 000 documents (5 keys
  each: validation, result rows, typed score rows, failure isolation)
  against a bare `INSERT … SELECT` of the same result rows and score rows,
  chunk by chunk, into tables with the same keys (primary keys and the
  partial unique index per result and name) but no triggers and no checks;
* backfill: `scoreledger scores backfill` (the Python driver, one committed
  transaction per chunk) over results that have no scores yet, against one
  bare `INSERT … SELECT` of the same score rows.

The bare statements run with `jit = off`, as the score functions do (JIT
compilation slowed the bare inserts by about half in our measurements).

Run by `python -m bench` through `bench_scores(bench)`; alone:

  python -m bench.scores [--scale 100k] [--backfill 1m] [--dsn DSN] [--keep]

(database scoreledger_bench_scores unless --database; `--scale` is the results recorded,
`--backfill` the results backfilled, default ten times --scale).
"""

from __future__ import annotations

import argparse
import os
import time

from psycopg.types.json import Jsonb
from scoreledger import scores

from .harness import CHUNK, Bench, parse_scale, scratch_database, write_results

KEYS = 5
EVALUATORS = 5
# Five keys of every kind the dispatch knows: a boolean, two numbers, a
# string, and a number declared as a choice (stored as text).
PAYLOAD_SQL = """jsonb_build_object('correct', g % 2 = 0, 'score', (g % 100) / 10.0, 'label', 'label-' || (g % 7),
                                    'tone', g % 2, 'confidence', (g % 1000) / 1000.0)"""
SCHEMA = {"tone": {"type": "choice", "choices": ["0", "1"]}}

# The same columns, keys and indexes as scoreledger_private.scores
# (migrations/0002): without its CHECKs, triggers and row-level security.
BARE_SCORE_TABLE = """
  tenant_id uuid NOT NULL, score_id bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000), submission_id uuid NOT NULL,
  name text NOT NULL, data_type text NOT NULL, value_numeric numeric, value_string text, evaluation_result_id uuid,
  annotation_id uuid, created_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, score_id)"""
BARE_SCORE_COLUMNS = """
  CASE WHEN kv.key = 'tone' OR jsonb_typeof(kv.value) = 'string' THEN 'CATEGORICAL'
       WHEN jsonb_typeof(kv.value) = 'boolean' THEN 'BOOLEAN' ELSE 'NUMERIC' END,
  CASE WHEN kv.key = 'tone' OR jsonb_typeof(kv.value) = 'string' THEN NULL
       WHEN jsonb_typeof(kv.value) = 'boolean' THEN CASE WHEN kv.value = 'true' THEN 1 ELSE 0 END
       ELSE kv.value::numeric END,
  CASE WHEN kv.key = 'tone' OR jsonb_typeof(kv.value) = 'string' THEN kv.value #>> '{}' END"""


def _create_bare_scores(conn, name: str) -> None:
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} ({BARE_SCORE_TABLE})")
    conn.execute(f"CREATE INDEX ON {name} (tenant_id, submission_id)")
    conn.execute(
        f"CREATE UNIQUE INDEX ON {name} (tenant_id, evaluation_result_id, name) WHERE evaluation_result_id IS NOT NULL"
    )
    conn.execute(f"CREATE UNIQUE INDEX ON {name} (tenant_id, annotation_id, name) WHERE annotation_id IS NOT NULL")


class ScoreBench:
    def __init__(self, bench):
        self.bench = bench
        self.conn = bench.conn  # autocommit, superuser
        self.tenant = bench.tenant

    # ------------------------------------------------------------ setup

    def setup(self, sessions: int) -> None:
        """`sessions` submissions to score (the bench's own, topped up) and the evaluators."""
        have = self.conn.execute(
            "SELECT count(*) FROM scoreledger_private.submissions WHERE tenant_id = %s", [self.tenant]
        ).fetchone()[0]
        if have < sessions:
            version, questions = self.bench.versions[0]
            missing = sessions - have
            for start in range(0, missing, CHUNK):
                n = min(CHUNK, missing - start)
                self.bench.timed(
                    """SELECT scoreledger.record_submissions(jsonb_agg(jsonb_build_object(
                         'evaluation_version_id', %(v)s::uuid, 'user_id', gen_random_uuid(),
                         'submitted_at', '2026-11-01T10:00:00Z',
                         'answers', (SELECT jsonb_agg(jsonb_build_object('question_version_id', q, 'selected', '["B"]'::jsonb))
                                     FROM unnest(%(q)s::uuid[]) q))))
                       FROM generate_series(1, %(n)s)""",
                    {"v": version, "q": questions, "n": n},
                    as_app=True,
                )
        self.sessions = [
            r[0]
            for r in self.conn.execute(
                "SELECT submission_id FROM scoreledger_private.submissions WHERE tenant_id = %s ORDER BY submission_id LIMIT %s",
                [self.tenant, sessions],
            )
        ]
        with self.conn.transaction():
            self.conn.execute("SET LOCAL ROLE scoreledger_app")
            self.conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.tenant, self.bench.actor])
            for i in range(EVALUATORS):
                self.conn.execute("SELECT scoreledger.register_evaluator(%s, %s)", [f"bench-judge-{i}", Jsonb(SCHEMA)])
        self.conn.execute("DROP TABLE IF EXISTS bare_evaluators")
        self.conn.execute(
            "CREATE TABLE bare_evaluators AS SELECT * FROM scoreledger_private.evaluators WHERE tenant_id = %s",
            [self.tenant],
        )

    # ------------------------------------------------------------ record

    def bench_record(self, n: int, client_ids: bool, errored: bool = False) -> None:
        """errored: every result carries an error, so no scores are written — recording without the dual write."""
        self.conn.execute("DROP TABLE IF EXISTS bench_score_chunks")
        self.conn.execute(
            f"""CREATE UNLOGGED TABLE bench_score_chunks AS
                SELECT g / {CHUNK} AS chunk,
                       jsonb_agg(jsonb_strip_nulls(jsonb_build_object(
                         'evaluator', 'bench-judge-' || (g %% {EVALUATORS}),
                         'submission_id', (%(s)s::uuid[])[1 + g %% cardinality(%(s)s::uuid[])],
                         'result_id', CASE WHEN %(ids)s THEN gen_random_uuid() END,
                         'error', CASE WHEN %(err)s THEN 'evaluator timed out' END,
                         'payload', {PAYLOAD_SQL.replace("%", "%%")}))) AS docs
                FROM generate_series(0, %(n)s - 1) g GROUP BY g / {CHUNK}""",
            {"s": self.sessions, "n": n, "ids": client_ids, "err": errored},
        )
        self.conn.execute("GRANT SELECT ON bench_score_chunks TO scoreledger_app")
        chunks = [r[0] for r in self.conn.execute("SELECT chunk FROM bench_score_chunks ORDER BY chunk")]
        self.conn.execute("DROP TABLE IF EXISTS bare_results")
        self.conn.execute(
            """CREATE TABLE bare_results (tenant_id uuid NOT NULL, result_id uuid NOT NULL, evaluator_id uuid NOT NULL,
                 submission_id uuid, payload jsonb, error text, created_at timestamptz NOT NULL DEFAULT now(),
                 updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant_id, result_id))"""
        )
        _create_bare_scores(self.conn, "bare_scores")
        self.conn.execute("CHECKPOINT")
        self.conn.execute("SET jit = off")
        ours = bare = 0.0
        try:
            for chunk in chunks:
                seconds, _ = self.bench.timed(
                    "SELECT scoreledger.record_evaluation_results(docs) FROM bench_score_chunks WHERE chunk = %s",
                    [chunk],
                    as_app=True,
                )
                ours += seconds
                seconds, _ = self.bench.timed(
                    f"""WITH d AS (SELECT e, coalesce((e->>'result_id')::uuid, gen_random_uuid()) AS result_id
                                   FROM bench_score_chunks, jsonb_array_elements(docs) e WHERE chunk = %(c)s),
                        r AS (INSERT INTO bare_results (tenant_id, result_id, evaluator_id, submission_id, payload, error)
                              SELECT %(t)s, d.result_id, ev.evaluator_id, (e->>'submission_id')::uuid, e->'payload', e->>'error'
                              FROM d JOIN bare_evaluators ev ON ev.name = e->>'evaluator')
                        INSERT INTO bare_scores (tenant_id, submission_id, name, data_type, value_numeric, value_string,
                                                 evaluation_result_id)
                        SELECT %(t)s, (e->>'submission_id')::uuid, kv.key, {BARE_SCORE_COLUMNS.replace("%", "%%")},
                               d.result_id
                        FROM d, jsonb_each(e->'payload') kv
                        WHERE e->>'error' IS NULL
                        RETURNING 1""",
                    {"c": chunk, "t": self.tenant},
                )
                bare += seconds
        finally:
            self.conn.execute("RESET jit")
        label = "errors: no scores" if errored else ("client ids, upsert" if client_ids else "new ids")
        self.bench.report(f"scores: record {KEYS}-key results ({label})", n, ours, bare, "results")
        self.conn.execute("DROP TABLE bench_score_chunks, bare_results, bare_scores")

    # ------------------------------------------------------------ backfill

    def bench_backfill(self, n: int, batch_size: int) -> None:
        """`n` results that predate the score layer (inserted as the owner), then backfilled."""
        start = time.perf_counter()
        evaluators = [r[0] for r in self.conn.execute("SELECT evaluator_id FROM bare_evaluators ORDER BY name")]
        for first in range(0, n, 200_000):
            with self.conn.transaction():
                self.conn.execute("SET LOCAL ROLE scoreledger_owner")
                self.conn.execute("SELECT scoreledger_private.enter_context(%s)", [self.tenant])
                self.conn.execute(
                    f"""INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
                        SELECT %(t)s, gen_random_uuid(), (%(e)s::uuid[])[1 + g %% {EVALUATORS}],
                               (%(s)s::uuid[])[1 + g %% cardinality(%(s)s::uuid[])], {PAYLOAD_SQL.replace("%", "%%")}
                        FROM generate_series(%(first)s::bigint, %(last)s::bigint) g""",
                    {
                        "t": self.tenant,
                        "e": evaluators,
                        "s": self.sessions,
                        "first": first,
                        "last": min(n, first + 200_000) - 1,
                    },
                )
        self.conn.execute("VACUUM ANALYZE scoreledger_private.evaluation_results, scoreledger_private.scores")
        self.conn.execute("CHECKPOINT")
        print(f"  (staged {n} results without scores in {time.perf_counter() - start:.1f}s, untimed)", flush=True)

        start = time.perf_counter()
        reports = scores.backfill(self.bench.dsn, self.tenant, batch_size)
        ours = time.perf_counter() - start
        done = reports[0]
        assert done.failed == 0 and done.scores_written >= n * KEYS, done

        _create_bare_scores(self.conn, "bare_backfill_scores")
        self.conn.execute("CHECKPOINT")
        self.conn.execute("SET jit = off")
        try:
            bare, _ = self.bench.timed(
                f"""INSERT INTO bare_backfill_scores (tenant_id, submission_id, name, data_type, value_numeric, value_string,
                                                      evaluation_result_id)
                    SELECT r.tenant_id, r.submission_id, kv.key, {BARE_SCORE_COLUMNS.replace("%", "%%")}, r.result_id
                    FROM scoreledger_private.evaluation_results r
                    JOIN bare_evaluators e ON e.evaluator_id = r.evaluator_id
                    CROSS JOIN LATERAL jsonb_each(r.payload) kv
                    WHERE r.tenant_id = %s AND r.error IS NULL AND r.submission_id IS NOT NULL
                    RETURNING 1""",
                [self.tenant],
            )
        finally:
            self.conn.execute("RESET jit")
        self.bench.report(f"scores: backfill ({batch_size}/chunk, committed)", done.artefacts, ours, bare, "artefacts")
        self.conn.execute("DROP TABLE bare_backfill_scores")


def bench_scores(bench, results: int | None = None, backfill: int | None = None, batch_size: int = 5000) -> None:
    """The score layer's figures, on a Bench of bench/harness.py (its tenant and content).

    results: results recorded (default BENCH_SCORE_RESULTS, else bench.scale);
    backfill: results backfilled (default BENCH_SCORE_BACKFILL, else 10 x bench.scale).
    """
    results = results if results is not None else int(os.environ.get("BENCH_SCORE_RESULTS", bench.scale))
    backfill = backfill if backfill is not None else int(os.environ.get("BENCH_SCORE_BACKFILL", 10 * bench.scale))
    score_bench = ScoreBench(bench)
    score_bench.setup(max(1000, max(results, backfill) // 50))
    if results:
        score_bench.bench_record(results, client_ids=False)
        score_bench.bench_record(results, client_ids=True)
        score_bench.bench_record(results, client_ids=False, errored=True)
    if backfill:
        score_bench.bench_backfill(backfill, batch_size)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.scores", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="results recorded: 100k (default), 1m, or a number")
    parser.add_argument("--backfill", default=None, help="results backfilled (default: 10 x --scale; 0: skip)")
    parser.add_argument("--batch-size", type=int, default=5000, help="backfill chunk size")
    parser.add_argument("--dsn", default=None, help="server to use (default: DATABASE_URL or the local server)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument(
        "--database", default="scoreledger_bench_scores", help="scratch database (dropped and recreated)"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/*.json (smoke runs)")
    args = parser.parse_args()
    scale = parse_scale(args.scale)
    backfill = parse_scale(args.backfill) if args.backfill is not None else 10 * scale
    with scratch_database(args.dsn, args.database, args.keep) as dsn:
        bench = Bench(dsn, scale, 1)
        print(f"scoreledger score bench: {scale} results recorded, {backfill} backfilled", flush=True)
        try:
            bench.setup_content()
            bench_scores(bench, scale, backfill, args.batch_size)
        finally:
            bench.conn.close()
    if not args.no_results:
        write_results(f"bench-scores-{args.scale}", {"results": scale, "backfill": backfill, "rows": bench.rows})


if __name__ == "__main__":
    main()
