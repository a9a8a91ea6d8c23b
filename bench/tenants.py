"""Other tenants cost nothing (issue 16): the same batch on the bench's
tenant, applied and reverted while the database holds that tenant alone,
then again beside `others` tenants of the same size.

The second figure is reported against the first (the "bare" column of this
line is the tenant-alone time): a ratio near 1 is the target. The plans of
the apply's nested statements are captured with auto_explain, and any
sequential scan of the submissions, answers or history is printed, since a
scan would read the other tenants' rows too.

Run by `python -m bench --only tenants` (after the main tenant's ingest,
which it performs untimed when `ingest` is not among the parts).
"""

from __future__ import annotations

import re
import time
import uuid

from psycopg.types.json import Jsonb

from .harness import CHUNK, Bench, publish_content
from .remediation import DOCUMENT_SQL, RemediationBench, document_parameters

ITEM = 5  # not the item of the apply bench, so both parts can run in one database
# Tables whose size grows with the tenants: a sequential scan of one reads them all.
BIG_TABLES = {"submissions", "answers", "score_history"}


def _record_generated(bench: Bench, tenant: str, versions, n: int) -> None:
    """N submissions for TENANT, generated in the server, one committed call per chunk (untimed)."""
    for lo in range(0, n, CHUNK):
        with bench.conn.transaction():
            bench.conn.execute("SET LOCAL ROLE scoreledger_app")
            bench.conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, bench.actor])
            bench.conn.execute(
                f"SELECT scoreledger.record_submissions(docs) FROM (SELECT {DOCUMENT_SQL} AS docs"
                " FROM generate_series(%(lo)s::int, %(hi)s::int) g) x",
                document_parameters(versions, bench.items) | {"lo": lo, "hi": min(lo + CHUNK, n) - 1},
            )


def _other_tenant(bench: Bench) -> None:
    """A tenant with its own copy of the bench's content and as many submissions."""
    tenant = str(uuid.uuid4())
    with bench.conn.transaction():
        bench.conn.execute("SELECT scoreledger.create_tenant(%s, %s)", [f"other-{tenant[:8]}", tenant])
        bench.conn.execute("SET LOCAL ROLE scoreledger_app")
        bench.conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, bench.actor])
        versions = publish_content(bench.conn, bench.items, "Other")
    _record_generated(bench, tenant, versions, bench.scale)


def _apply_and_revert(bench: Bench) -> tuple[float, float, int, list[str]]:
    """Seconds of apply and revert of a replace_key on the main version, submissions rescored, seq scans seen."""
    (main_v, main_q), _ = bench.versions
    _, row = bench.timed(
        "SELECT scoreledger.create_correction_batch(%s, %s)",
        [
            "bench: tenants",
            Jsonb(
                [
                    {
                        "type": "replace_key",
                        "evaluation_version_id": main_v,
                        "question_version_id": main_q[ITEM],
                        "correct": ["C"],
                    }
                ]
            ),
        ],
        as_app=True,
    )
    batch = str(row[0])
    plans: list[str] = []

    def collect(diag):
        plans.append(diag.message_primary or "")

    bench.conn.add_notice_handler(collect)
    for setting in (
        "LOAD 'auto_explain'",
        "SET auto_explain.log_min_duration = 0",
        "SET auto_explain.log_nested_statements = on",
        "SET auto_explain.log_analyze = off",
        "SET auto_explain.log_level = notice",
    ):
        bench.conn.execute(setting)
    try:
        start = time.perf_counter()
        _, row = bench.timed("SELECT scoreledger.apply_correction_batch(%s)", [batch], as_app=True)
        apply_s = time.perf_counter() - start
    finally:
        bench.conn.execute("SET auto_explain.log_min_duration = -1")
        bench.conn.remove_notice_handler(collect)
    rescored = row[0]["submissions_rescored"]
    revert_s, _ = bench.timed("SELECT scoreledger.revert_correction_batch(%s, 'bench: tenants')", [batch], as_app=True)
    scans = sorted({m.group(1) for p in plans for m in re.finditer(r"Seq Scan on (\w+)", p)} & BIG_TABLES)
    return apply_s, revert_s, rescored, scans


def bench_tenants(bench: Bench, remediation: RemediationBench, others: int = 9) -> None:
    remediation.ensure_ingested()
    apply_alone, revert_alone, rescored, scans_alone = _apply_and_revert(bench)
    for _ in range(others):
        _other_tenant(bench)
    bench.conn.execute("VACUUM ANALYZE")
    apply_beside, revert_beside, _, scans_beside = _apply_and_revert(bench)
    # The "bare" column of these two lines is the same call with the tenant alone.
    bench.report(f"apply beside {others} other tenants", rescored, apply_beside, apply_alone, "submissions")
    bench.report(f"revert beside {others} other tenants", rescored, revert_beside, revert_alone, "submissions")
    for label, scans in (("alone", scans_alone), ("beside others", scans_beside)):
        print(f"  sequential scans in the apply's plans ({label}): {', '.join(scans) or 'none'}", flush=True)
