"""The load driver (bench/load.py) for ~10 seconds: 3 recorders, a result
writer, a gatekeeper (start_attempt/check_attempt on an assignment with
attempt rules) and the remediation thread (with applies of one batch from two
threads at once) against one database of the test server.

Correctness only, never timing: no client sees any error (a deadlock or a
serialization failure included), the server counts no deadlock, every
call returns what the contract says (no anomaly: identical re-recordings
record nothing, one of two concurrent applies does the work, what the
clients committed is what the database holds), and check_invariants finds
no breach. Rates are printed by `python -m bench.load`, not asserted.

Recorders and the result writer pause ~0.15 s between calls (think_s): run
back to back, recorders hold the evaluation versions' shared advisory locks
almost without a gap; with the pauses, applies and reverts really
interleave with recording inside the 10 seconds.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
import uuid
from pathlib import Path

from helpers import create_tenant, drop_item, evaluation_doc, standard_items, submission_doc
from psycopg.types.json import Jsonb
from scoreledger import db

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for `bench`

from bench.load import run_load  # noqa: E402
from bench.load_clients import Monitor, blocked_waits  # noqa: E402
from bench.load_world import APP_NAME, Stats  # noqa: E402


def test_concurrent_recording_results_and_remediation_without_errors(dsn):
    report = run_load(dsn, seconds=10, clients=3, writers=1, think_s=0.15, statement_timeout_s=60)
    context = json.dumps(
        {k: report[k] for k in ("seed", "errors", "error_samples", "anomalies", "deadlocks", "check", "operations")},
        indent=1,
        default=str,
    )

    assert report["errors"] == {}, context
    assert report["deadlocks"] == 0, context
    assert report["anomalies"] == [], context
    assert report["check"]["rows"] > 0, context
    assert report["check"]["breaches"] == [], context

    # The run exercised every path (counts of calls that succeeded, not rates).
    def calls(*names: str) -> int:
        return sum(report["operations"].get(name, {}).get("calls", 0) for name in names)

    assert calls("record_submissions") > 0, context
    assert calls("record_submission") > 0, context
    assert calls("record_submissions (identical again)") > 0, context
    assert calls("record_evaluation_results", "record_evaluation_result") > 0, context
    assert calls("create_correction_batch") > 0, context
    assert calls("apply_correction_batch", "apply_correction_batch (two at once)") > 0, context
    assert calls("start_attempt") > 0 and calls("check_attempt") > 0, context
    assert report["database"]["submissions"] == report["database"]["expected_submissions"] > 0, context


# ---------------------------------------------------------------------------
# The wait report: who blocks a waiting client, and in what state
# ---------------------------------------------------------------------------


def test_a_wait_is_reported_with_its_idle_in_transaction_blocker(dsn):
    """A client holding a transaction open while it does something else (the
    driver-side cause the brief of issue 12 names) is reported as such: its
    name, state, the statement it last ran, and for how long."""
    blocker = db.connect(dsn, application_name=f"{APP_NAME}:blocker")
    waiter = db.connect(dsn, application_name=f"{APP_NAME}:waiter")
    try:
        blocker.execute("SELECT pg_advisory_xact_lock(4712)")  # the transaction stays open: idle in transaction
        waiting = threading.Thread(target=lambda: waiter.execute("SELECT pg_advisory_xact_lock(4712)"), daemon=True)
        waiting.start()
        run = types.SimpleNamespace(dsn=dsn, stats=Stats())
        monitor = Monitor(run, long_wait_s=0, echo=False)
        with db.connect(dsn, autocommit=True) as conn:
            rows = []
            for _ in range(300):  # until the waiter is queued: a wait for the event, not a timing assertion
                rows = [r for r in blocked_waits(conn, 0) if r["client"] == f"{APP_NAME}:waiter"]
                if rows:
                    break
                time.sleep(0.1)
            monitor.record_long_waits(conn)
        assert len(rows) == 1, rows
        row = rows[0]
        assert row["blocker"] == f"{APP_NAME}:blocker"
        assert row["blocker_state"] == "idle in transaction"
        assert row["blocker_wait_event_type"] is None or row["blocker_wait_event_type"] == "Client"
        assert "pg_advisory_xact_lock(4712)" in row["blocker_query"]
        assert row["blocker_xact_s"] is not None and row["blocker_state_s"] is not None
        assert row["wait_event"] == "advisory"

        [entry] = [e for e in monitor.long_wait_report() if e["client"] == "waiter"]
        [b] = entry["blockers"]
        assert b["name"] == "blocker" and b["state"] == "idle in transaction"
        assert "idle in transaction" in b["described"] and "pg_advisory_xact_lock(4712)" in b["described"]
    finally:
        blocker.rollback()
        waiting.join(30)
        waiter.rollback()
        blocker.close()
        waiter.close()


# ---------------------------------------------------------------------------
# The cause of the one-minute stall: an apply on tables never analyzed
# ---------------------------------------------------------------------------


def test_apply_on_never_analyzed_tables_reads_each_submission_a_bounded_number_of_times(dsn):
    """On a fresh database, before autovacuum's first ANALYZE, the history
    trigger's reference check was planned as a probe per history row
    through the (tenant, evaluation, user, attempt) key with tenant_id its
    only condition: a scan of the whole tenant per row, quadratic (56 s for
    9,523 rows over 20,020 submissions; the load test's one-minute stall).
    Counted, not timed: the rows this transaction read from submissions
    (pg_stat_xact_user_tables) stay within a small multiple of the tenant's
    submissions."""
    n = 6000
    with db.connect(dsn, autocommit=True) as admin:
        # As a fresh database is for its first minute: no statistics, and
        # none arriving while the test runs.
        for table in ("submissions", "answers", "score_history"):
            admin.execute(f"ALTER TABLE scoreledger_private.{table} SET (autovacuum_enabled = off)")
        never = admin.execute(
            """SELECT count(*) AS n FROM pg_class
               WHERE oid = 'scoreledger_private.submissions'::regclass AND reltuples < 0"""
        ).fetchone()["n"]
        assert never == 1, "the test database's submissions table was analyzed: the case needs a fresh one"

    actor = str(uuid.uuid4())
    items = standard_items()
    version = str(uuid.uuid4())
    with db.acting(dsn) as conn:
        tenant = create_tenant(conn, f"tenant-{uuid.uuid4().hex[:8]}")
    with db.acting(dsn, tenant, actor) as conn:
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version, items))],
        )

    def record(count: int) -> None:
        for start in range(0, count, 500):
            docs = [
                submission_doc(
                    str(uuid.uuid4()), version, str(uuid.uuid4()), {i.question_version_id: {"B"} for i in items}
                )
                for _ in range(min(500, count - start))
            ]
            with db.acting(dsn, tenant, actor) as conn:
                conn.execute("SELECT scoreledger.record_submissions(%s)", [Jsonb(docs)])

    def batch(item) -> str:
        with db.acting(dsn, tenant, actor) as conn:
            return conn.execute(
                "SELECT scoreledger.create_correction_batch('stall', %s) AS id",
                [Jsonb([drop_item(version, item.question_version_id)])],
            ).fetchone()["id"]

    read_sql = """SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
                  FROM pg_stat_xact_user_tables WHERE relid = 'scoreledger_private.submissions'::regclass"""

    def apply_counting_reads(conn, batch_id: str) -> tuple[dict, int]:
        with conn.transaction():
            before = conn.execute(read_sql).fetchone()["n"]
            conn.execute("SET LOCAL ROLE scoreledger_app")
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])
            result = conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch_id]).fetchone()["r"]
            conn.execute("RESET ROLE")
            return result, conn.execute(read_sql).fetchone()["n"] - before

    # As in the load run: an apply while the tenant is small, then one
    # after a burst of recording, from the same session.
    record(20)
    # autocommit: each apply_counting_reads is its own transaction, which
    # commits (and releases the version lock) before the next recording.
    with db.connect(dsn, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '300s'")
        apply_counting_reads(conn, batch(items[0]))
        record(n - 20)
        result, read = apply_counting_reads(conn, batch(items[1]))
    assert result["submissions_rescored"] == n
    # Linear: a few passes over the tenant's submissions. Quadratic read
    # about n * n / 2 = 4.5M rows here.
    assert read <= 10 * n, f"the apply read {read} rows of submissions for {n} submissions"
