"""Recording beside a big apply (issue 16): does a regrade stall the exam?

RECORDERS connections record submissions, one per call, on the evaluation
version a `replace_key` batch regrades, each pausing PAUSE between calls,
while the batch is applied and then reverted. Printed:

- `apply beside N recorders` / `revert beside N recorders`: the call's
  seconds, its "bare" column the same call on the same data with no
  recorder running (so the ratio is what the recorders cost the apply);
- `record_submission p50/p99/max`: the recorders' latency with no apply
  running, and over the calls that started while the apply (then the
  revert) ran; a call that waits for the apply's commit shows in p99 and max.

Each latency is that of the `record_submission` statement alone, as every
line of the bench times its statement; the role, the context and the commit
around it are not timed. The submissions the recorders add during the
"with" apply are rescored by it too (a few hundred beside the batch's).

Run by `python -m bench --only stall` (after the main tenant's ingest,
which it performs untimed when `ingest` is not among the parts).
Environment: BENCH_STALL_RECORDERS (default 4), BENCH_STALL_PAUSE_MS
(default 10).
"""

from __future__ import annotations

import os
import random
import statistics
import threading
import time
import uuid

import psycopg
from psycopg.types.json import Jsonb

from .harness import Bench, backend_cpu
from .remediation import RemediationBench

ITEM = 7  # not the item of the apply (3) or tenants (5) part: the parts can share one database
WARMUP_CALLS = 3  # per connection, not counted: the first calls plan every statement


class Recorders:
    """RECORDERS threads, each with its own connection, recording one
    submission per call on VERSION until stopped; (start, seconds) per call."""

    def __init__(self, bench: Bench, version: str, questions: list[str], count: int, pause: float):
        self.bench, self.version, self.questions = bench, version, questions
        self.count, self.pause = count, pause
        self.calls: list[tuple[float, float]] = []
        self.errors: list[str] = []
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def doc(self) -> dict:
        return {
            "submission_id": str(uuid.uuid4()),
            "evaluation_version_id": self.version,
            "user_id": str(uuid.uuid4()),
            "submitted_at": "2026-11-02T10:00:00Z",
            "answers": [{"question_version_id": q, "selected": [random.choice("ABCD")]} for q in self.questions],
        }

    def run_one(self) -> None:
        try:
            with psycopg.connect(self.bench.dsn) as conn:
                done = 0
                while not self.stop_event.is_set():
                    with conn.transaction():
                        conn.execute("SET LOCAL ROLE scoreledger_app")
                        conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.bench.tenant, self.bench.actor])
                        doc = Jsonb(self.doc())
                        start = time.perf_counter()
                        conn.execute("SELECT scoreledger.record_submission(%s)", [doc]).fetchone()
                        seconds = time.perf_counter() - start
                    done += 1
                    if done > WARMUP_CALLS:
                        with self.lock:
                            self.calls.append((start, seconds))
                    time.sleep(self.pause)
        except psycopg.Error as exc:  # printed by the part, never a crash of the whole bench
            self.errors.append(f"{exc.diag.sqlstate}: {str(exc).splitlines()[0]}")

    def start(self) -> None:
        self.threads = [threading.Thread(target=self.run_one, daemon=True) for _ in range(self.count)]
        for t in self.threads:
            t.start()
        # Past every connection's warm-up calls before anything is measured.
        while len(self.calls) < self.count and not self.errors:
            time.sleep(0.05)

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join()

    def between(self, start: float, end: float) -> list[float]:
        """Latencies of the calls that started in [start, end)."""
        with self.lock:
            return [s for t, s in self.calls if start <= t < end]


def _latencies(bench: Bench, operation: str, seconds: list[float]) -> None:
    if not seconds:
        print(f"{operation:<44} no call", flush=True)
        return
    ms = sorted(s * 1000 for s in seconds)
    p50, p99 = statistics.median(ms), ms[max(0, round(0.99 * len(ms)) - 1)]
    bench.rows.append(
        {
            "operation": operation,
            "n": len(ms),
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "max_ms": round(ms[-1], 2),
            "unit": "calls",
        }
    )
    print(
        f"{operation:<44} {len(ms):>9} calls        p50 {p50:8.2f} ms  p99 {p99:8.2f} ms  max {ms[-1]:8.2f} ms",
        flush=True,
    )


def _call(bench: Bench, sql: str, batch: str):
    """(start, end, seconds, backend CPU seconds or None) of one call, and its result row."""
    cpu, start = backend_cpu(bench.conn.info.backend_pid), time.perf_counter()
    seconds, row = bench.timed(sql, [batch], as_app=True)
    end, cpu_after = time.perf_counter(), backend_cpu(bench.conn.info.backend_pid)
    return (start, end, seconds, None if cpu is None else cpu_after - cpu), row


def _apply_and_revert(bench: Bench, batch: str):
    """The apply's and the revert's (start, end, seconds, CPU), and the submissions the apply rescored."""
    applied, row = _call(bench, "SELECT scoreledger.apply_correction_batch(%s)", batch)
    reverted, _ = _call(bench, "SELECT scoreledger.revert_correction_batch(%s, 'bench: stall')", batch)
    return applied, reverted, row[0]["submissions_rescored"]


def bench_stall(bench: Bench, remediation: RemediationBench) -> None:
    recorders_n = int(os.environ.get("BENCH_STALL_RECORDERS", "4"))
    pause = float(os.environ.get("BENCH_STALL_PAUSE_MS", "10")) / 1000
    (main_v, main_q), _ = bench.versions
    remediation.ensure_ingested()

    # Alone: the apply and revert with no recorder.
    applied_alone, reverted_alone, _ = _apply_and_revert(bench, remediation.create_batch(main_v, main_q[ITEM]))
    bench.conn.execute("VACUUM ANALYZE")

    recorders = Recorders(bench, main_v, main_q, recorders_n, pause)
    recorders.start()
    try:
        quiet_start = time.perf_counter()
        time.sleep(max(3.0, applied_alone[2]))
        quiet = recorders.between(quiet_start, time.perf_counter())
        applied, reverted, rescored = _apply_and_revert(bench, remediation.create_batch(main_v, main_q[ITEM]))
        time.sleep(0.5)
    finally:
        recorders.stop()
    label = f"{recorders_n} recorders"
    bench.report(f"apply beside {label}", rescored, applied[2], applied_alone[2], "submissions")
    bench.report(f"revert beside {label}", rescored, reverted[2], reverted_alone[2], "submissions")
    _latencies(bench, "record_submission, no apply running", quiet)
    _latencies(bench, "record_submission during the apply", recorders.between(applied[0], applied[1]))
    _latencies(bench, "record_submission during the revert", recorders.between(reverted[0], reverted[1]))
    if applied[3] is not None:
        print(
            f"  backend CPU: apply {applied_alone[3]:.2f} s alone, {applied[3]:.2f} s beside {label}; "
            f"revert {reverted_alone[3]:.2f} s alone, {reverted[3]:.2f} s beside",
            flush=True,
        )
        bench.rows.append(
            {
                "operation": f"backend CPU seconds, alone / beside {label}",
                "apply": [applied_alone[3], applied[3]],
                "revert": [reverted_alone[3], reverted[3]],
            }
        )
    for error in recorders.errors:
        print(f"  a recorder FAILED {error}", flush=True)
