"""The load run's threads: recorders, result writers, gatekeepers, the remediator, the twin applier and the lock monitor.

Each takes the LoadRun (bench/load.py) that drives it as `run`: its dsn, world, stats and stop event.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import uuid

import psycopg
from psycopg.types.json import Jsonb
from scoreledger import db

from .load_world import APP_NAME, ItemSpec, VersionSpec, acting, open_conn, result_payload, submission_doc

# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class Client(threading.Thread):
    def __init__(self, name: str, run, seed: int):
        super().__init__(name=name, daemon=True)
        self.r = run
        self.rng = random.Random(seed)
        self.actor = str(uuid.uuid4())
        self.conn: psycopg.Connection | None = None

    def connection(self) -> psycopg.Connection:
        if self.conn is None or self.conn.closed or self.conn.broken:
            if self.conn is not None:
                self.conn.close()
            self.conn = open_conn(self.r.dsn, self.name, self.r.statement_timeout_s)
        return self.conn

    def call(self, op: str, work, rows=None):
        """Run `work(conn)` in one acting transaction; count it or its error.
        Returns the result, or None after an error."""
        start = time.perf_counter()
        try:
            conn = self.connection()
            with acting(conn, self.r.world.tenant, self.actor):
                result = work(conn)
        except Exception as exc:  # every exception is an error to report
            self.r.stats.error(op, exc)
            return None
        self.r.stats.ok(op, time.perf_counter() - start, rows(result) if rows else 1)
        return result

    def running(self) -> bool:
        return time.monotonic() < self.r.deadline and not self.r.stop.is_set()

    def run(self) -> None:
        try:
            while self.running():
                try:
                    self.step()
                    if self.r.think_s and not isinstance(self, Remediator):
                        time.sleep(self.rng.uniform(0, 2 * self.r.think_s))
                except Exception as exc:  # a bug in the driver itself is an error too
                    self.r.stats.error(f"{self.name} (driver)", exc)
                    time.sleep(0.1)
        finally:
            if self.conn is not None:
                self.conn.close()

    def step(self) -> None:
        raise NotImplementedError


class Recorder(Client):
    """record_submissions in calls of 20-50 documents, record_submission
    singles, identical re-recordings, and documents another recorder sends
    at the same moment."""

    def step(self) -> None:
        rng, world = self.rng, self.r.world
        r = rng.random()
        if r < 0.68:
            docs = [submission_doc(rng, world) for _ in range(rng.randint(20, 50))]
            if rng.random() < 0.3:
                with world.lock:
                    world.in_flight.extend(docs[:2])  # another recorder may send these too
            taken = self.take_in_flight(rng.randint(1, 3)) if rng.random() < 0.3 else []
            again = world.sample_committed_docs(rng, rng.randint(1, 5)) if rng.random() < 0.3 else []
            docs = dedupe(docs + taken + again)
            rng.shuffle(docs)
            result = self.call("record_submissions", lambda c: record_many(c, docs), rows=lambda n: n)
            if result is not None:
                world.committed(docs)
        elif r < 0.90:
            taken = self.take_in_flight(1) if rng.random() < 0.2 else []
            doc = taken[0] if taken else submission_doc(rng, world)
            result = self.call("record_submission", lambda c: record_one(c, doc))
            if result is not None:
                if result != doc["submission_id"]:
                    self.r.stats.anomaly("record_submission", f"returned {result} for {doc['submission_id']}")
                world.committed([doc])
        else:
            # Identical re-recordings only: nothing is new, the call returns 0.
            docs = dedupe(world.sample_committed_docs(rng, rng.randint(1, 20)))
            if not docs:
                return
            result = self.call(
                "record_submissions (identical again)", lambda c: record_many(c, docs), rows=lambda n: len(docs)
            )
            if result is not None and result != 0:
                self.r.stats.anomaly(
                    "record_submissions (identical again)",
                    f"re-recording {len(docs)} committed documents returned {result}",
                )

    def take_in_flight(self, k: int) -> list[dict]:
        world = self.r.world
        with world.lock:
            return [world.in_flight.popleft() for _ in range(min(k, len(world.in_flight)))]


def dedupe(docs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for d in docs:
        if d["submission_id"] not in seen:
            seen.add(d["submission_id"])
            out.append(d)
    return out


def derived_key(doc: dict) -> str:
    """What the engine derives an id-less result's id from (besides the
    tenant): the same content records once (sql/72_score_producers.sql)."""
    return json.dumps([doc["evaluator"], doc["submission_id"], doc.get("payload"), doc.get("error")], sort_keys=True)


def record_many(conn: psycopg.Connection, docs: list[dict]) -> int:
    return conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"]


def record_one(conn: psycopg.Connection, doc: dict) -> str:
    return str(conn.execute("SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc)]).fetchone()["id"])


class ResultWriter(Client):
    """record_evaluation_results (10-30 documents) and record_evaluation_result
    singles about committed submissions: fresh given ids, no id (the engine's),
    overwrites of ids any writer committed, and errors."""

    def result_doc(self) -> dict | None:
        rng, world = self.rng, self.r.world
        r = rng.random()
        if r < 0.25:
            with world.lock:
                rid = rng.choice(world.result_pool) if world.result_pool else None
                known = world.result_ids.get(rid) if rid else None
            if known:
                evaluator, sid = known
                return {"evaluator": evaluator, "submission_id": sid, "payload": result_payload(rng), "result_id": rid}
        sids = world.sample_submissions(rng, 1)
        if not sids:
            return None
        doc = {"evaluator": rng.choice(world.evaluators), "submission_id": sids[0]}
        if rng.random() < 0.08:
            doc["payload"] = None
            doc["error"] = rng.choice(("timeout", "model refused", "rate limited"))
        else:
            doc["payload"] = result_payload(rng)
        if r < 0.75:
            doc["result_id"] = str(uuid.uuid4())
        return doc

    def committed(self, docs: list[dict]) -> None:
        world = self.r.world
        with world.lock:
            for d in docs:
                rid = d.get("result_id")
                if rid is None:
                    world.derived_results.add(derived_key(d))
                elif rid not in world.result_ids:
                    world.result_ids[rid] = (d["evaluator"], d["submission_id"])
                    world.result_pool.append(rid)

    def step(self) -> None:
        rng = self.rng
        if rng.random() < 0.6:
            docs, seen = [], set()
            for _ in range(rng.randint(10, 30)):
                d = self.result_doc()
                if d is None or d.get("result_id") in seen:
                    continue
                if d.get("result_id"):
                    seen.add(d["result_id"])
                docs.append(d)
            if not docs:
                time.sleep(0.05)
                return
            n = self.call(
                "record_evaluation_results",
                lambda c: c.execute("SELECT scoreledger.record_evaluation_results(%s) AS n", [Jsonb(docs)]).fetchone()[
                    "n"
                ],
                rows=lambda n: n,
            )
            if n is not None:
                # Every named result is written; an id-less one is written
                # unless the same content (hence the same derived id) came
                # earlier in the call or was recorded before, by any writer.
                named = sum(1 for d in docs if d.get("result_id"))
                contents = {derived_key(d) for d in docs if not d.get("result_id")}
                if not named <= n <= named + len(contents):
                    self.r.stats.anomaly(
                        "record_evaluation_results",
                        f"{len(docs)} documents ({named} named, {len(contents)} distinct id-less), {n} written",
                    )
                self.committed(docs)
        else:
            d = self.result_doc()
            if d is None:
                time.sleep(0.05)
                return
            rid = self.call(
                "record_evaluation_result",
                lambda c: str(
                    c.execute(
                        "SELECT scoreledger.record_evaluation_result(%s, %s, %s, %s, %s) AS id",
                        [
                            d["evaluator"],
                            d["submission_id"],
                            Jsonb(d.get("payload")),
                            d.get("error"),
                            d.get("result_id"),
                        ],
                    ).fetchone()["id"]
                ),
            )
            if rid is not None:
                if d.get("result_id") and rid != d["result_id"]:
                    self.r.stats.anomaly("record_evaluation_result", f"returned {rid} for given id {d['result_id']}")
                self.committed([d])


class Gatekeeper(Client):
    """start_attempt and check_attempt on the assignment with attempt rules,
    for random learners: the exam start a delivery system calls while
    recorders and batches change the same learners' outcomes. A refusal is
    an answer, not an error (rows: 1 when allowed, 0 when refused)."""

    def step(self) -> None:
        rng, world = self.rng, self.r.world
        user = rng.choice(world.hot_users if rng.random() < 0.05 else world.users)
        fn = "start_attempt" if rng.random() < 0.8 else "check_attempt"
        # The transaction's parts too: the call's time in the server (from
        # the statement's arrival to its answer), the call as the client
        # sees it (the server's time plus the round trip and this thread's
        # wait for the one Python interpreter the driver's threads share),
        # and the COMMIT (its WAL flush queued behind the recorders').
        marks: dict[str, float] = {}

        def work(c):
            marks["sent"] = time.perf_counter()
            row = c.execute(
                f"SELECT scoreledger.{fn}(%s, %s) AS d,"
                " extract(epoch FROM clock_timestamp() - statement_timestamp())::float8 AS server_s",
                [world.gated_assignment, user],
            ).fetchone()
            marks["answered"] = time.perf_counter()
            return row

        answer = self.call(fn, work, rows=lambda a: 1 if a["d"]["allowed"] else 0)
        committed = time.perf_counter()
        if answer is None:
            return
        self.r.stats.ok(f"{fn} (in the server)", answer["server_s"], 0)
        self.r.stats.ok(f"{fn} (call, client side)", marks["answered"] - marks["sent"], 0)
        self.r.stats.ok(f"{fn} (commit)", committed - marks["answered"], 0)
        decision = answer["d"]
        if not decision["allowed"] and not decision.get("reasons"):
            self.r.stats.anomaly(fn, f"refused with no reason: {decision}")


class Remediator(Client):
    """create a batch on a random item (replace_key / drop_item / mark_correct),
    preview it, apply it — sometimes from two threads at the same moment —,
    re-apply an applied one, and sometimes revert an applied batch."""

    def __init__(self, name: str, run, seed: int):
        super().__init__(name, run, seed)
        self.applied: list[str] = []
        self.twins = [TwinApplier(f"{name}-twin{i}", run, self.actor) for i in (1, 2)]

    def run(self) -> None:
        try:
            super().run()
        finally:
            for t in self.twins:
                t.close()

    def correction(self, version: VersionSpec, item: ItemSpec, kind: str) -> dict:
        c = {"type": kind, "evaluation_version_id": version.version_id, "question_version_id": item.question_version_id}
        if kind == "replace_key":
            if item.kind == "single_choice":
                c["correct"] = [self.rng.choice(item.options)]
            else:
                c["correct"] = [o for o in item.options if self.rng.random() < 0.5] or [item.options[-1]]
        elif kind == "mark_correct" and self.rng.random() < 0.5:
            scope = self.r.world.submissions_with(self.rng, version.version_id, item.question_version_id, 5)
            if scope:
                c["submission_ids"] = scope
        return c

    def corrections(self) -> list[dict]:
        rng, world = self.rng, self.r.world
        targets = set()
        out = []
        for _ in range(1 if rng.random() < 0.75 else 2):
            version = rng.choice(world.versions)
            item = rng.choice(version.items)
            if (version.version_id, item.question_version_id) in targets:
                continue
            targets.add((version.version_id, item.question_version_id))
            out.append(self.correction(version, item, rng.choice(("replace_key", "drop_item", "mark_correct"))))
        return out

    def step(self) -> None:
        rng = self.rng
        corrections = self.corrections()
        batch = self.call(
            "create_correction_batch",
            lambda c: str(
                c.execute(
                    "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                    ["load: " + ", ".join(x["type"] for x in corrections), Jsonb(corrections)],
                ).fetchone()["id"]
            ),
        )
        if batch is None:
            time.sleep(self.r.remediation_pause_s)
            return
        self.call(
            "preview_correction_batch",
            lambda c: c.execute("SELECT scoreledger.preview_correction_batch(%s) AS d", [batch]).fetchone()["d"],
            rows=lambda d: d["submissionsAffected"],
        )
        if rng.random() < 0.3:
            self.call(
                "preview_correction_batch_changes",
                lambda c: c.execute(
                    "SELECT * FROM scoreledger.preview_correction_batch_changes(%s)", [batch]
                ).fetchall(),
                rows=len,
            )
        if rng.random() < self.r.twin_share:
            self.twin_apply(batch)
        else:
            result = self.call(
                "apply_correction_batch", lambda c: apply(c, batch), rows=lambda r: r["submissions_rescored"]
            )
            if result is not None:
                if result["already_applied"]:
                    self.r.stats.anomaly("apply_correction_batch", f"first apply of {batch} said already_applied")
                self.applied.append(batch)
        if self.applied and rng.random() < 0.1:
            again = rng.choice(self.applied)
            result = self.call("apply_correction_batch (again)", lambda c: apply(c, again), rows=lambda r: 0)
            if result is not None and not result["already_applied"]:
                self.r.stats.anomaly("apply_correction_batch (again)", f"re-apply of {again} did the work again")
        if self.applied and rng.random() < self.r.revert_share:
            victim = self.applied.pop(rng.randrange(len(self.applied)))
            self.call(
                "preview_revert",
                lambda c: c.execute("SELECT scoreledger.preview_revert(%s) AS d", [victim]).fetchone()["d"],
                rows=lambda d: d["submissionsAffected"],
            )
            reverted = self.call(
                "revert_correction_batch",
                lambda c: c.execute(
                    "SELECT scoreledger.revert_correction_batch(%s, %s) AS id", [victim, "load: revert"]
                ).fetchone()["id"],
            )
            if reverted is None:
                self.applied.append(victim)
        time.sleep(self.r.remediation_pause_s)

    def twin_apply(self, batch: str) -> None:
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=t.apply, args=(batch, barrier), name=t.name, daemon=True) for t in self.twins
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.r.statement_timeout_s + 10)
        results = [t.result for t in self.twins]
        if all(r is not None for r in results):
            fresh = [r for r in results if not r["already_applied"]]
            if len(fresh) != 1 or results[0]["submissions_rescored"] != results[1]["submissions_rescored"]:
                self.r.stats.anomaly("apply_correction_batch (two at once)", f"batch {batch}: {results}")
        if any(r is not None for r in results):
            self.applied.append(batch)


class TwinApplier:
    """One of two connections that apply the same batch at the same moment."""

    def __init__(self, name: str, run, actor: str):
        self.name, self.r, self.actor = name, run, actor
        self.conn: psycopg.Connection | None = None
        self.result: dict | None = None

    def apply(self, batch: str, barrier: threading.Barrier) -> None:
        self.result = None
        op = "apply_correction_batch (two at once)"
        start = time.perf_counter()
        try:
            if self.conn is None or self.conn.closed or self.conn.broken:
                self.conn = open_conn(self.r.dsn, self.name, self.r.statement_timeout_s)
            with acting(self.conn, self.r.world.tenant, self.actor):
                barrier.wait(timeout=10)
                start = time.perf_counter()
                result = apply(self.conn, batch)
        except Exception as exc:
            self.r.stats.error(op, exc)
            return
        self.r.stats.ok(
            op, time.perf_counter() - start, 0 if result["already_applied"] else result["submissions_rescored"]
        )
        self.result = result

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def apply(conn: psycopg.Connection, batch: str) -> dict:
    return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch]).fetchone()["r"]


# A wait longer than this (seconds) is reported with what blocks it.
LONG_WAIT_S = 3.0

# Every client backend waiting on a lock for longer than %(min)s seconds,
# with each backend pg_blocking_pids names and that backend's state: active
# (and on what it waits, if anything), idle in transaction (a client holding
# a transaction open while it does something else), for how long, and its
# last statement. Backends outside the load (autovacuum, another session)
# are reported too: the blocker need not be a client.
BLOCKED_WAITS_SQL = """
SELECT w.pid, w.application_name AS client, w.wait_event,
       extract(epoch FROM clock_timestamp() - w.query_start)::float8 AS waited_s,
       w.query_start, left(regexp_replace(w.query, '\\s+', ' ', 'g'), 120) AS query,
       b.pid AS blocker_pid, coalesce(nullif(b.application_name, ''), b.backend_type) AS blocker,
       b.state AS blocker_state, b.wait_event_type AS blocker_wait_event_type,
       b.wait_event AS blocker_wait_event,
       extract(epoch FROM clock_timestamp() - b.state_change)::float8 AS blocker_state_s,
       extract(epoch FROM clock_timestamp() - b.xact_start)::float8 AS blocker_xact_s,
       left(regexp_replace(b.query, '\\s+', ' ', 'g'), 120) AS blocker_query
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
LEFT JOIN pg_stat_activity b ON b.pid = bp.pid
WHERE w.datname = current_database() AND w.application_name LIKE %(app)s
  AND w.wait_event_type = 'Lock' AND w.state = 'active'
  AND clock_timestamp() - w.query_start > make_interval(secs => %(min)s)
ORDER BY w.pid, b.pid
"""


def blocked_waits(conn: psycopg.Connection, min_wait_s: float = LONG_WAIT_S, app_prefix: str = APP_NAME) -> list[dict]:
    """One row per (waiting client, blocking backend) of the waits over min_wait_s (see BLOCKED_WAITS_SQL)."""
    rows = conn.execute(BLOCKED_WAITS_SQL, {"app": app_prefix + ":%", "min": min_wait_s}).fetchall()
    return [dict(r) for r in rows]


def describe_blocker(w: dict) -> str:
    """'remediator-twin1 (pid 123) idle in transaction for 52.1 s (transaction open 55.0 s): <query>'"""
    state = w["blocker_state"] or "gone"
    if state == "active" and w["blocker_wait_event_type"]:
        state += f", waiting on {w['blocker_wait_event_type']}:{w['blocker_wait_event']}"
    elif state == "active":
        state += ", waiting on nothing"
    xact = f"{w['blocker_xact_s']:.1f} s" if w["blocker_xact_s"] is not None else "none"
    since = f"{w['blocker_state_s']:.1f} s" if w["blocker_state_s"] is not None else "?"
    return (
        f"{w['blocker']} (pid {w['blocker_pid']}) {state} for {since} (transaction open {xact}): {w['blocker_query']}"
    )


class Monitor(threading.Thread):
    """Samples, once a second, the load average and which clients wait on a
    lock, keeps each client's longest wait seen (with its statement), and
    every wait over `long_wait_s` with what blocked it (blocked_waits): one
    entry per wait (client backend and statement start), its longest
    sample kept, printed as it is first seen."""

    def __init__(self, run, long_wait_s: float = LONG_WAIT_S, echo: bool = True):
        super().__init__(name="monitor", daemon=True)
        self.r = run
        self.long_wait_s = long_wait_s
        self.echo = echo
        self.loadavg: list[float] = []
        self.lock_waiters: list[int] = []
        self.longest_waits: dict[str, dict] = {}
        self.long_waits: dict[tuple, dict] = {}

    def record_long_waits(self, conn: psycopg.Connection) -> None:
        at_s = round(time.monotonic() - self.r.stats.started, 1)
        grouped: dict[tuple, list[dict]] = {}
        for w in blocked_waits(conn, self.long_wait_s):
            grouped.setdefault((w["pid"], w["query_start"]), []).append(w)
        for key, ws in grouped.items():
            first = ws[0]
            entry = {
                "client": first["client"].split(":", 1)[-1],
                "wait_event": first["wait_event"],
                "waited_s": round(first["waited_s"], 1),
                "at_s": at_s,
                "query": first["query"],
                "blockers": [
                    {
                        "pid": w["blocker_pid"],
                        "name": (w["blocker"] or "").split(":", 1)[-1],
                        "state": w["blocker_state"],
                        "wait_event": f"{w['blocker_wait_event_type']}:{w['blocker_wait_event']}"
                        if w["blocker_wait_event_type"]
                        else None,
                        "state_s": None if w["blocker_state_s"] is None else round(w["blocker_state_s"], 1),
                        "xact_s": None if w["blocker_xact_s"] is None else round(w["blocker_xact_s"], 1),
                        "query": w["blocker_query"],
                        "described": describe_blocker(w),
                    }
                    for w in ws
                ],
            }
            if key not in self.long_waits and self.echo:
                print(
                    f"[{at_s:>6} s] {entry['client']} waiting {entry['waited_s']} s on {entry['wait_event']}, "
                    f"blocked by " + "; ".join(b["described"] for b in entry["blockers"]),
                    file=sys.stderr,
                    flush=True,
                )
            self.long_waits[key] = entry  # the latest sample: the longest wait, its blockers then

    def long_wait_report(self) -> list[dict]:
        return sorted(self.long_waits.values(), key=lambda e: -e["waited_s"])

    def run(self) -> None:
        try:
            with db.connect(self.r.dsn, autocommit=True, application_name="scoreledger-load-monitor") as conn:
                while time.monotonic() < self.r.deadline and not self.r.stop.is_set():
                    self.loadavg.append(os.getloadavg()[0])
                    rows = conn.execute(
                        """SELECT split_part(application_name, ':', 2) AS client, wait_event,
                                  extract(epoch FROM clock_timestamp() - query_start)::float8 AS waited_s,
                                  left(query, 80) AS query
                           FROM pg_stat_activity
                           WHERE datname = current_database() AND application_name LIKE %s
                             AND wait_event_type = 'Lock' AND state = 'active'""",
                        [APP_NAME + ":%"],
                    ).fetchall()
                    self.lock_waiters.append(len(rows))
                    for row in rows:
                        seen = self.longest_waits.get(row["client"])
                        if seen is None or row["waited_s"] > seen["waited_s"]:
                            self.longest_waits[row["client"]] = {
                                "waited_s": round(row["waited_s"], 2),
                                "wait_event": row["wait_event"],
                                "query": row["query"],
                                "at_s": round(time.monotonic() - self.r.stats.started, 1),
                            }
                    if any(row["waited_s"] > self.long_wait_s for row in rows):
                        self.record_long_waits(conn)
                    self.r.stop.wait(1.0)
        except Exception as exc:  # the monitor is not a client: report, do not fail the run on it
            print(f"monitor stopped: {exc}", file=sys.stderr)
