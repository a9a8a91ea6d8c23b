"""Attempt gates and the intervention rule (issue 14): what the rules cost.

Two tenants with the same content and the same generated submissions, each
document naming its assignment: one whose assignments carry attempt rules
(at most 5 attempts, a cooldown, no retake after a pass, an intervention
after 2 failures, remedial work on the small assignment), one without. The
"bare" column of a "with rules" line is the same work without rules, so its
ratio is what the gating adds (the issue's target: at most 1.3).

  (a) start_attempt and check_attempt, p50 and p95 over CALLS calls on
      random learners of the tenant with rules, each call its own
      transaction as the application role;
  (b) ingest of the scale, then a replace_key batch on every submission of
      the main version: preview, apply and revert, with rules beside without.

Run by `python -m bench --only attempts` (not a default part).
"""

from __future__ import annotations

import hashlib
import random
import statistics
import time
import uuid

import psycopg
from psycopg.types.json import Jsonb

from .harness import CHUNK, Bench, publish_content
from .remediation import DOCUMENT_SQL, document_parameters

CALLS = 2000
ITEM = 7  # the item the batch re-keys
RULES = {
    "max_attempts": 5,
    "retake_cooldown": "1 hour",
    "retake_after_pass": False,
    "intervention_after_fails": 2,
}


class Side:
    """One tenant: its versions, assignments, staged documents."""

    def __init__(self, bench: Bench, label: str, rules: bool):
        self.bench, self.label, self.rules = bench, label, rules
        self.tenant = str(uuid.uuid4())
        self.table = f"bench_attempt_chunks_{label}"

    def acting(self):
        conn = self.bench.conn
        conn.execute("SET LOCAL ROLE scoreledger_app")
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.tenant, self.bench.actor])

    def setup(self) -> None:
        conn, items = self.bench.conn, self.bench.items
        with conn.transaction():
            conn.execute("SELECT scoreledger.create_tenant(%s, %s)", [f"attempts-{self.label}", self.tenant])
            self.acting()
            self.versions = publish_content(conn, items, "Attempts")
            self.assignments, evaluations = [], []
            for label, (version, _) in zip(("main", "small"), self.versions, strict=True):
                evaluation = str(
                    conn.execute(
                        "SELECT evaluation_id FROM scoreledger.evaluation_versions WHERE evaluation_version_id = %s",
                        [version],
                    ).fetchone()[0]
                )
                self.assignments.append(str(uuid.uuid4()))
                evaluations.append(evaluation)
                conn.execute(
                    "SELECT scoreledger.upsert_assignment(%s)",
                    [
                        Jsonb(
                            {
                                "assignment_id": self.assignments[-1],
                                "title": f"Attempts {label}",
                                "evaluation_id": evaluation,
                            }
                        )
                    ],
                )
            if self.rules:
                main_a, small_a = self.assignments
                conn.execute(
                    "SELECT scoreledger.upsert_assignment(%s)",
                    [
                        Jsonb(
                            {"assignment_id": main_a, "title": "Attempts main", "evaluation_id": evaluations[0]}
                            | RULES
                            | {"remedial_assignment_id": small_a}
                        )
                    ],
                )
        conn.execute(f"DROP TABLE IF EXISTS {self.table}")
        conn.execute(
            f"CREATE UNLOGGED TABLE {self.table} AS SELECT g / %(chunk)s AS chunk, {DOCUMENT_SQL} AS docs"
            " FROM generate_series(0, %(n)s - 1) g GROUP BY g / %(chunk)s",
            document_parameters(self.versions, items, tuple(self.assignments))
            | {"chunk": CHUNK, "n": self.bench.scale},
        )
        conn.execute(f"GRANT SELECT ON {self.table} TO scoreledger_app")
        self.chunks = [r[0] for r in conn.execute(f"SELECT chunk FROM {self.table} ORDER BY chunk")]

    def timed(self, sql: str, params=None):
        conn = self.bench.conn
        with conn.transaction():
            self.acting()
            start = time.perf_counter()
            row = conn.execute(sql, params).fetchone()
            elapsed = time.perf_counter() - start
        return elapsed, row

    def record(self, chunk: int) -> float:
        seconds, _ = self.timed(
            f"SELECT scoreledger.record_submissions(docs) FROM {self.table} WHERE chunk = %s", [chunk]
        )
        return seconds

    def drop(self) -> None:
        self.bench.conn.execute(f"DROP TABLE IF EXISTS {self.table}")


def _percentiles(bench: Bench, operation: str, latencies: list[float]) -> None:
    ms = sorted(x * 1000 for x in latencies)
    p50, p95 = statistics.median(ms), ms[max(0, round(0.95 * len(ms)) - 1)]
    bench.rows.append(
        {"operation": operation, "n": len(ms), "p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "unit": "calls"}
    )
    print(f"{operation:<44} {len(ms):>9} calls        p50 {p50:7.2f} ms  p95 {p95:7.2f} ms", flush=True)


def bench_attempts(bench: Bench) -> None:
    ruled, plain = Side(bench, "rules", True), Side(bench, "plain", False)
    for side in (ruled, plain):
        side.setup()

    # (b) ingest, chunk by chunk, the two sides interleaved so drift hits both alike.
    with_rules = without = 0.0
    for chunk in ruled.chunks:
        with_rules += ruled.record(chunk)
        without += plain.record(chunk)
    bench.report("ingest with attempt rules (bare: without)", bench.scale, with_rules, without, "submissions")
    bench.conn.execute("VACUUM ANALYZE scoreledger_private.submissions, scoreledger_private.answers")
    _, row = ruled.timed("SELECT count(*) FROM scoreledger.interventions WHERE status = 'open'")
    print(f"  (the rule opened {row[0]} interventions during the ingest with rules)", flush=True)

    # (a) the gate on random learners (three submissions each, user md5('user' || g / 3)).
    rng = random.Random(14)
    learners = max(1, bench.scale // 3)
    main_a = ruled.assignments[0]
    for fn in ("check_attempt", "start_attempt"):
        latencies = []
        for _ in range(CALLS):
            user = str(uuid.UUID(hashlib.md5(f"user{rng.randrange(learners)}".encode()).hexdigest()))
            seconds, _ = ruled.timed(f"SELECT scoreledger.{fn}(%s, %s)", [main_a, user])
            latencies.append(seconds)
        _percentiles(bench, f"{fn} (with rules, random learners)", latencies)

    # (b) a replace_key batch over every submission of the main version, with rules beside without.
    batches, n = {}, bench.scale
    for side in (ruled, plain):
        (version, questions), _ = side.versions
        _, row = side.timed(
            "SELECT scoreledger.create_correction_batch(%s, %s)",
            [
                "bench: key was wrong",
                Jsonb(
                    [
                        {
                            "type": "replace_key",
                            "evaluation_version_id": version,
                            "question_version_id": questions[ITEM],
                            "correct": ["C"],
                        }
                    ]
                ),
            ],
        )
        batches[side.label] = str(row[0])
    failed = False
    for step, sql in (
        ("preview", "SELECT scoreledger.preview_correction_batch(%s)"),
        ("apply", "SELECT scoreledger.apply_correction_batch(%s)"),
        ("revert", "SELECT scoreledger.revert_correction_batch(%s, 'bench revert')"),
    ):
        operation = f"{step} replace_key with rules (bare: without)"
        bare, _ = plain.timed(sql, [batches["plain"]])
        if failed:  # nothing to revert on the side with rules
            print(f"{operation:<44} skipped (the apply with rules failed)", flush=True)
            continue
        try:
            seconds, row = ruled.timed(sql, [batches["rules"]])
        except psycopg.Error as exc:
            # A figure the bench cannot take is a finding, not a crash: say what refused.
            failed = step == "apply"
            message = (exc.diag.message_primary or str(exc)).splitlines()[0]
            bench.rows.append({"operation": operation, "n": n, "error": f"{exc.diag.sqlstate}: {message}"})
            print(f"{operation:<44} FAILED {exc.diag.sqlstate}: {message}", flush=True)
            continue
        if step == "preview":
            n = row[0]["submissionsAffected"]
            print(f"  (preview with rules: interventions {row[0]['interventions']})", flush=True)
        bench.report(operation, n, seconds, bare, "submissions")
    for side in (ruled, plain):
        side.drop()
