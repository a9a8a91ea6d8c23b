"""Load: concurrent recorders, result writers and remediation on one tenant.

K recorder threads (`record_submissions` in calls of 20-50 documents and
`record_submission` singles, re-recording identical documents, the same
learners from every thread, and the same new submission sent by two threads
at once), result writers (`record_evaluation_results` / `record_evaluation_result`,
with fresh, given and overwritten result ids), gatekeepers (`start_attempt`
and `check_attempt` on the assignment with attempt rules, whose learners
the recorders fail into interventions and the batches rescore) and one
remediation thread
(create a batch on a random item, preview it, apply it — sometimes from two
threads at the same moment — and sometimes revert an applied one) run
against the same tenant for a bounded time. Every client acts as
`scoreledger_app` with `set_context` per transaction.

Any exception a client sees is an error — a deadlock (40P01) or a
serialization failure (40001) included — counted by SQLSTATE. Afterwards
`scoreledger.check_invariants()` runs as the connecting (super)user and every
breach counts; so do the cross-checks (rows the clients committed against
rows the database holds, attempt numbers, score write failures) and the
server's deadlock counter for the database. Figures are printed, never
asserted. A monitor reports every lock wait longer than --long-wait seconds
with what blocks it: the blocking backend's state (active, and on what it
waits; idle in transaction), for how long, its transaction's age and its
statement (pg_blocking_pids, pg_stat_activity), as it happens on stderr
and in the report.

  python -m bench.load [--seconds 120] [--clients 4] [--writers 1] [--gates 1] [--dsn DSN]
                       [--database scoreledger_load] [--keep] [--no-results]
                       [--think-ms 0] [--statement-timeout 60] [--seed N] [--long-wait 3]

Exit 1 on any error, breach or anomaly.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import sys
import threading
import time

from scoreledger import db

from .harness import scratch_database, write_results
from .load_clients import LONG_WAIT_S, Client, Gatekeeper, Monitor, Recorder, Remediator, ResultWriter
from .load_world import Stats, World, setup_world

# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


class LoadRun:
    def __init__(
        self,
        dsn: str,
        seconds: float,
        clients: int,
        writers: int,
        seed: int,
        statement_timeout_s: int = 60,
        remediation_pause_s: float = 0.2,
        twin_share: float = 0.25,
        revert_share: float = 0.3,
        think_s: float = 0.0,
        long_wait_s: float = LONG_WAIT_S,
        gates: int = 1,
    ):
        self.dsn = dsn
        self.seconds = seconds
        self.clients = clients
        self.writers = writers
        self.seed = seed
        self.statement_timeout_s = statement_timeout_s
        self.remediation_pause_s = remediation_pause_s
        self.twin_share = twin_share
        self.revert_share = revert_share
        self.think_s = think_s
        self.long_wait_s = long_wait_s
        self.gates = gates
        self.stats = Stats()
        self.stop = threading.Event()
        self.deadline = 0.0
        self.world: World | None = None

    def server_figures(self, conn) -> dict:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            """SELECT deadlocks, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"""
        ).fetchone()
        return dict(row)

    def execute(self) -> dict:
        rng = random.Random(self.seed)
        self.world = setup_world(self.dsn, rng)
        with db.connect(self.dsn, autocommit=True) as admin:
            before = self.server_figures(admin)
        threads: list[Client] = [Recorder(f"recorder{i + 1}", self, rng.randrange(2**32)) for i in range(self.clients)]
        threads += [ResultWriter(f"writer{i + 1}", self, rng.randrange(2**32)) for i in range(self.writers)]
        threads += [Gatekeeper(f"gate{i + 1}", self, rng.randrange(2**32)) for i in range(self.gates)]
        threads.append(Remediator("remediator", self, rng.randrange(2**32)))
        monitor = Monitor(self, long_wait_s=self.long_wait_s)
        loadavg_start = os.getloadavg()
        self.stats.started = start = time.monotonic()
        self.deadline = start + self.seconds
        monitor.start()
        for t in threads:
            t.start()
        hung = []
        for t in threads:
            t.join(max(0.0, self.deadline - time.monotonic()) + self.statement_timeout_s + 15)
            if t.is_alive():
                hung.append(t.name)
        self.stop.set()
        elapsed = time.monotonic() - start
        monitor.join(5)
        for name in hung:
            self.stats.error(f"{name} (driver)", TimeoutError(f"{name} still running after the deadline"))
        loadavg_end = os.getloadavg()

        time.sleep(1.0)  # let the closed sessions' statistics reach the collector
        with db.connect(self.dsn, autocommit=True) as admin:
            after = self.server_figures(admin)
            check_start = time.perf_counter()
            check = [dict(r) for r in admin.execute("SELECT * FROM scoreledger.check_invariants()").fetchall()]
            check_seconds = time.perf_counter() - check_start
        counts = self.cross_check()
        return self.report(elapsed, before, after, check, check_seconds, counts, monitor, loadavg_start, loadavg_end)

    def cross_check(self) -> dict:
        """What the clients committed against what the database holds."""
        world = self.world
        with db.acting(self.dsn, world.tenant, None) as conn:
            counts = conn.execute(
                """SELECT (SELECT count(*) FROM scoreledger.submissions) AS submissions,
                          (SELECT count(*) FROM scoreledger.answers) AS answers,
                          (SELECT count(*) FROM scoreledger.score_history) AS history_rows,
                          (SELECT count(*) FROM scoreledger.evaluation_results) AS evaluation_results,
                          (SELECT count(*) FROM scoreledger.scores) AS scores,
                          (SELECT count(*) FROM scoreledger.score_write_failures) AS score_write_failures,
                          (SELECT count(*) FROM scoreledger.correction_batches) AS batches,
                          (SELECT count(*) FROM scoreledger.correction_batches WHERE status = 'applied'
                                                                              AND reverts_batch_id IS NULL) AS applied,
                          (SELECT count(*) FROM scoreledger.correction_batches WHERE status = 'reverted') AS reverted,
                          (SELECT count(*) FROM (
                             SELECT v.evaluation_id, s.user_id, s.attempt_no
                             FROM scoreledger.submissions s
                             JOIN scoreledger.evaluation_versions v USING (evaluation_version_id)
                             GROUP BY 1, 2, 3 HAVING count(*) > 1) d) AS duplicate_attempt_numbers"""
            ).fetchone()
            failures = conn.execute(
                "SELECT source_kind, sqlstate, error FROM scoreledger.score_write_failures ORDER BY occurred_at LIMIT 5"
            ).fetchall()
        counts = dict(counts)
        with world.lock:
            expected_subs = len(world.committed_ids)
            expected_results = len(world.result_ids) + len(world.derived_results)
        if counts["submissions"] != expected_subs:
            self.stats.anomaly(
                "cross-check",
                f"clients committed {expected_subs} submissions, the database holds {counts['submissions']}",
            )
        if counts["evaluation_results"] != expected_results:
            self.stats.anomaly(
                "cross-check",
                f"clients committed {expected_results} evaluation results, the database holds {counts['evaluation_results']}",
            )
        if counts["duplicate_attempt_numbers"]:
            self.stats.anomaly("cross-check", f"{counts['duplicate_attempt_numbers']} duplicate attempt numbers")
        if counts["score_write_failures"]:
            self.stats.anomaly(
                "cross-check", f"score write failures (swallowed by design): {[dict(f) for f in failures]}"
            )
        counts["expected_submissions"] = expected_subs
        counts["expected_evaluation_results"] = expected_results
        return counts

    def report(self, elapsed, before, after, check, check_seconds, counts, monitor, la_start, la_end) -> dict:
        ops = {}
        for op, s in sorted(self.stats.ops.items()):
            lat = sorted(s.seconds)
            ops[op] = {
                "calls": s.calls,
                "calls_per_s": round(s.calls / elapsed, 2),
                "rows": s.rows,
                "rows_per_s": round(s.rows / elapsed, 1),
                "p50_ms": round(statistics.median(lat) * 1000, 1) if lat else None,
                "p95_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.95))] * 1000, 1) if lat else None,
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1) if lat else None,
                "max_ms": round(lat[-1] * 1000, 1) if lat else None,
                "errors": dict(s.errors),
            }
        errors = collections.Counter()
        for s in self.stats.ops.values():
            errors.update(s.errors)
        breaches = [r for r in check if r["breaches"] != 0]
        return {
            "seconds": round(elapsed, 1),
            "clients": {
                "recorders": self.clients,
                "result_writers": self.writers,
                "gatekeepers": self.gates,
                "remediators": 1,
            },
            "seed": self.seed,
            "think_ms": round(self.think_s * 1000),
            "statement_timeout_s": self.statement_timeout_s,
            "operations": ops,
            "errors": dict(errors),
            "error_samples": self.stats.error_samples,
            "anomalies": self.stats.anomalies,
            "deadlocks": after["deadlocks"] - before["deadlocks"],
            "transactions": {
                "committed": after["xact_commit"] - before["xact_commit"],
                "rolled_back": after["xact_rollback"] - before["xact_rollback"],
            },
            "check": {"rows": len(check), "breaches": breaches, "seconds": round(check_seconds, 2)},
            "database": counts,
            "loadavg": {
                "start": [round(x, 2) for x in la_start],
                "end": [round(x, 2) for x in la_end],
                "min_1m": round(min(monitor.loadavg), 2) if monitor.loadavg else None,
                "mean_1m": round(statistics.mean(monitor.loadavg), 2) if monitor.loadavg else None,
                "max_1m": round(max(monitor.loadavg), 2) if monitor.loadavg else None,
                "cpus": os.cpu_count(),
            },
            "lock_waiters": {
                "samples": len(monitor.lock_waiters),
                "samples_with_waiters": sum(1 for n in monitor.lock_waiters if n),
                "max": max(monitor.lock_waiters, default=0),
                "longest_wait_by_client": dict(sorted(monitor.longest_waits.items())),
                "max_wait_s": round(max((w["waited_s"] for w in monitor.longest_waits.values()), default=0.0), 2),
                "long_wait_s": monitor.long_wait_s,
                "long_waits": monitor.long_wait_report(),
            },
        }


def run_load(dsn: str, seconds: float = 120, clients: int = 4, writers: int = 1, seed: int | None = None, **kw) -> dict:
    """Run the load against an already migrated database; returns the report."""
    seed = seed if seed is not None else random.randrange(2**31)
    return LoadRun(dsn, seconds, clients, writers, seed, **kw).execute()


def failed(report: dict) -> bool:
    return bool(report["errors"] or report["anomalies"] or report["deadlocks"] or report["check"]["breaches"])


def print_report(report: dict) -> None:
    print()
    print(
        f"{'operation':<40} {'calls':>7} {'calls/s':>8} {'rows':>8} {'rows/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  errors"
    )
    for op, o in report["operations"].items():
        errs = ", ".join(f"{k}×{v}" for k, v in o["errors"].items()) or "0"
        print(
            f"{op:<40} {o['calls']:>7} {o['calls_per_s']:>8} {o['rows']:>8} {o['rows_per_s']:>8} "
            f"{o['p50_ms'] or 0:>8} {o['p95_ms'] or 0:>8} {o['p99_ms'] or 0:>8} {o['max_ms'] or 0:>8}  {errs}"
        )
    d, la, lw = report["database"], report["loadavg"], report["lock_waiters"]
    print()
    print(
        f"{report['seconds']} s; database: {d['submissions']} submissions, {d['answers']} answers, "
        f"{d['history_rows']} history rows, {d['evaluation_results']} results, {d['scores']} scores, "
        f"{d['batches']} batches ({d['applied']} applied, {d['reverted']} reverted)"
    )
    print(
        f"errors: {sum(report['errors'].values())} {report['errors'] or ''}   deadlocks (server): {report['deadlocks']}   "
        f"rolled-back transactions: {report['transactions']['rolled_back']}   anomalies: {len(report['anomalies'])}"
    )
    print(
        f"check_invariants: {report['check']['rows']} rows, {len(report['check']['breaches'])} with breaches "
        f"({report['check']['seconds']} s)"
    )
    print(
        f"load average (1 min) over the run: min {la['min_1m']} mean {la['mean_1m']} max {la['max_1m']} on {la['cpus']} CPUs "
        f"(start {la['start']}, end {la['end']}); clients seen waiting on a lock in {lw['samples_with_waiters']} of "
        f"{lw['samples']} samples (max {lw['max']} at once)"
    )
    waits = lw["longest_wait_by_client"]
    if waits:
        print("longest lock wait seen per client (sampled each second):")
        for client, w in waits.items():
            print(f"  {client:<22} {w['waited_s']:>8.2f} s  ({w['wait_event']}, at {w['at_s']} s)  {w['query']}")
    if lw["long_waits"]:
        print(f"waits over {lw['long_wait_s']:g} s, with what blocked them (pg_blocking_pids, pg_stat_activity):")
        for w in lw["long_waits"]:
            print(f"  {w['client']:<22} {w['waited_s']:>8.1f} s on {w['wait_event']} (at {w['at_s']} s): {w['query']}")
            for b in w["blockers"]:
                print(f"    blocked by {b['described']}")
    for e in report["error_samples"]:
        print(f"  error {e['sqlstate']} in {e['op']} ({e['thread']}, {e['at_s']} s): {e['message']}")
        if e.get("context"):
            print("    " + e["context"].replace("\n", "\n    "))
    for a in report["anomalies"]:
        print(f"  anomaly in {a['op']}: {a['what']}")
    for b in report["check"]["breaches"]:
        print(f"  breach: {b['scope']}: {b['invariant']}: {b['breaches']} ({b['sample']})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=4, help="recorder threads (default 4)")
    parser.add_argument("--writers", type=int, default=1, help="evaluation result writer threads (default 1)")
    parser.add_argument("--gates", type=int, default=1, help="threads calling start_attempt/check_attempt (default 1)")
    parser.add_argument("--dsn", default=None, help="server to use (default: DATABASE_URL or the local server)")
    parser.add_argument("--database", default="scoreledger_load", help="scratch database (dropped and recreated)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0,
        help="mean pause of recorders and result writers between calls (default 0: back to back)",
    )
    parser.add_argument(
        "--statement-timeout", type=int, default=60, help="seconds; a call that waits longer is an error (57014)"
    )
    parser.add_argument(
        "--long-wait",
        type=float,
        default=LONG_WAIT_S,
        help="seconds; a lock wait longer than this is printed with its blockers' state (default %(default)s)",
    )
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/load-*.json")
    args = parser.parse_args()

    print(
        f"scoreledger load: {args.clients} recorders, {args.writers} result writer(s), {args.gates} gatekeeper(s), "
        "1 remediator, "
        f"{args.seconds:g} s on database {args.database}",
        flush=True,
    )
    with scratch_database(args.dsn, args.database, args.keep) as dsn:
        report = run_load(
            dsn,
            args.seconds,
            args.clients,
            args.writers,
            args.seed,
            statement_timeout_s=args.statement_timeout,
            think_s=args.think_ms / 1000,
            long_wait_s=args.long_wait,
            gates=args.gates,
        )
    print_report(report)
    if not args.no_results:
        write_results("load", report)
    sys.exit(1 if failed(report) else 0)


if __name__ == "__main__":
    main()
