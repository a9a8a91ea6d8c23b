"""Load: concurrent recorders, result writers and remediation on one tenant.

K recorder threads (`record_submissions` in calls of 20-50 documents and
`record_submission` singles, re-recording identical documents, the same
learners from every thread, and the same new submission sent by two threads
at once), result writers (`record_evaluation_results` / `record_evaluation_result`,
with fresh, given and overwritten result ids) and one remediation thread
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
asserted.

  python -m bench.load [--seconds 120] [--clients 4] [--writers 1] [--dsn DSN]
                       [--database scoreledger_load] [--keep] [--no-results]
                       [--think-ms 0] [--statement-timeout 60] [--seed N]

Exit 1 on any error, breach or anomaly.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from scoreledger import db

from .harness import scratch_database, write_results

APP_NAME = "scoreledger-load"
OPTIONS = ("A", "B", "C", "D", "E")

# ---------------------------------------------------------------------------
# Counting
# ---------------------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    """The SQLSTATE of a database error; otherwise the exception's class."""
    if isinstance(exc, psycopg.Error):
        if exc.sqlstate:
            return exc.sqlstate
        return f"client:{type(exc).__name__}"
    return f"python:{type(exc).__name__}"


@dataclass
class OpStats:
    calls: int = 0
    rows: int = 0
    seconds: list[float] = field(default_factory=list)
    errors: collections.Counter = field(default_factory=collections.Counter)


class Stats:
    """Per operation: successful calls, rows, latencies, errors by SQLSTATE."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ops: dict[str, OpStats] = collections.defaultdict(OpStats)
        self.error_samples: list[dict] = []
        self.anomalies: list[dict] = []
        self.started = time.monotonic()

    def ok(self, op: str, seconds: float, rows: int = 1) -> None:
        with self.lock:
            s = self.ops[op]
            s.calls += 1
            s.rows += rows
            s.seconds.append(seconds)

    def error(self, op: str, exc: BaseException) -> None:
        code = error_code(exc)
        with self.lock:
            self.ops[op].errors[code] += 1
            if sum(1 for e in self.error_samples if e["op"] == op and e["sqlstate"] == code) < 3:
                diag = getattr(exc, "diag", None)
                self.error_samples.append(
                    {
                        "op": op,
                        "sqlstate": code,
                        "at_s": round(time.monotonic() - self.started, 2),
                        "thread": threading.current_thread().name,
                        "message": str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc),
                        "detail": getattr(diag, "message_detail", None) if diag else None,
                        "context": getattr(diag, "context", None) if diag else None,
                    }
                )

    def anomaly(self, op: str, what: str) -> None:
        """A call that succeeded but returned what the contract rules out."""
        with self.lock:
            self.anomalies.append({"op": op, "what": what, "thread": threading.current_thread().name})

    def total_errors(self) -> int:
        with self.lock:
            return sum(sum(s.errors.values()) for s in self.ops.values())


# ---------------------------------------------------------------------------
# Connections acting as the application
# ---------------------------------------------------------------------------


def open_conn(dsn: str, name: str, statement_timeout_s: int) -> psycopg.Connection:
    conn = db.connect(dsn, application_name=f"{APP_NAME}:{name}")
    # A hang is reported as an error (57014), never a stuck run.
    conn.execute(f"SET statement_timeout = '{int(statement_timeout_s)}s'")
    conn.commit()
    return conn


@contextmanager
def acting(conn: psycopg.Connection, tenant: str, actor: str | None) -> Iterator[psycopg.Connection]:
    """One transaction as scoreledger_app with the tenant context set (as
    scoreledger.db.acting does, on a long-lived connection)."""
    with conn.transaction():
        conn.execute(
            sql.SQL("SET LOCAL ROLE scoreledger_app; SELECT scoreledger.set_context({}, {})").format(
                sql.Literal(tenant), sql.Literal(actor)
            )
        )
        yield conn


# ---------------------------------------------------------------------------
# The world: content, and what the clients have committed so far
# ---------------------------------------------------------------------------


@dataclass
class ItemSpec:
    question_id: str
    question_version_id: str
    kind: str
    scoring: str
    options: tuple[str, ...]
    correct: tuple[str, ...]
    points: float

    def as_json(self) -> dict:
        return {
            "question_id": self.question_id,
            "question_version_id": self.question_version_id,
            "kind": self.kind,
            "prompt": f"{self.kind} ({self.scoring}) question {self.question_version_id[:8]}?",
            "options": list(self.options),
            "correct": list(self.correct),
            "points": self.points,
            "scoring": self.scoring,
        }


@dataclass
class VersionSpec:
    version_id: str
    evaluation_id: str
    items: list[ItemSpec]
    assignments: list[str] = field(default_factory=list)


def make_item(rng: random.Random, kind: str, scoring: str, points: float) -> ItemSpec:
    n = rng.choice((3, 4, 5))
    options = OPTIONS[:n]
    if kind == "single_choice":
        correct = (rng.choice(options),)
    else:
        correct = tuple(o for o in options if rng.random() < 0.5) or (options[0], options[-1])
    return ItemSpec(str(uuid.uuid4()), str(uuid.uuid4()), kind, scoring, options, correct, points)


class World:
    """Shared state of the clients. Everything here was committed, except
    `in_flight`: documents a recorder is about to send, that another one
    sends too (the same new submission from two callers at once)."""

    def __init__(self, tenant: str, versions: list[VersionSpec], users: list[str], evaluators: list[str]):
        self.tenant = tenant
        self.versions = versions
        self.users = users
        # A few learners submit from every recorder at once (their attempt
        # counters are contended); the others are spread thin.
        self.hot_users = users[:12]
        self.evaluators = evaluators
        self.lock = threading.Lock()
        self.committed_ids: set[str] = set()
        # Per version: (submission id, question version ids it contains).
        self.by_version: dict[str, list[tuple[str, frozenset[str]]]] = {v.version_id: [] for v in versions}
        self.recent_docs: collections.deque[dict] = collections.deque(maxlen=4000)
        self.in_flight: collections.deque[dict] = collections.deque(maxlen=200)
        # Results: ids given by the clients (committed) and fresh ones counted.
        self.result_ids: dict[str, tuple[str, str]] = {}  # result id -> (evaluator, submission id)
        self.result_pool: list[str] = []
        self.fresh_results = 0

    def committed(self, docs: list[dict]) -> None:
        with self.lock:
            for d in docs:
                sid = d["submission_id"]
                if sid in self.committed_ids:
                    continue
                self.committed_ids.add(sid)
                self.by_version[d["evaluation_version_id"]].append(
                    (sid, frozenset(a["question_version_id"] for a in d["answers"]))
                )
                self.recent_docs.append(d)

    def sample_committed_docs(self, rng: random.Random, k: int) -> list[dict]:
        with self.lock:
            pool = list(self.recent_docs)[-1000:]
        return rng.sample(pool, min(k, len(pool)))

    def sample_submissions(self, rng: random.Random, k: int) -> list[str]:
        with self.lock:
            version = rng.choice(self.versions).version_id
            pool = self.by_version[version]
            n = len(pool)
            if n == 0:
                return []
            return [pool[rng.randrange(n)][0] for _ in range(k)]

    def submissions_with(self, rng: random.Random, version_id: str, qv: str, k: int) -> list[str]:
        with self.lock:
            pool = self.by_version[version_id][-2000:]
        candidates = [sid for sid, qvs in pool if qv in qvs]
        return rng.sample(candidates, min(k, len(candidates)))


def setup_world(dsn: str, rng: random.Random, users: int = 3000) -> World:
    """A tenant, two evaluations (three versions, mixed item kinds), three
    assignments, two evaluators."""
    tenant_name = f"load-{uuid.uuid4().hex[:8]}"
    actor = str(uuid.uuid4())
    kinds = [
        ("single_choice", "exact", 1),
        ("single_choice", "exact", 2),
        ("multiple_choice", "exact", 2),
        ("multiple_choice", "partial", 3),
        ("multiple_choice", "partial", 1.5),
    ]
    with db.acting(dsn) as conn:
        tenant = str(conn.execute("SELECT scoreledger.create_tenant(%s) AS id", [tenant_name]).fetchone()["id"])
    versions: list[VersionSpec] = []
    with db.acting(dsn, tenant, actor) as conn:
        safety, forklift = str(uuid.uuid4()), str(uuid.uuid4())
        v1_items = [make_item(rng, *kinds[i % len(kinds)]) for i in range(10)]
        # Version 2 keeps six questions unchanged (same question versions) and
        # brings two new ones: corrections target (version, question version).
        v2_items = v1_items[:6] + [make_item(rng, *kinds[i % len(kinds)]) for i in range(2)]
        f_items = [make_item(rng, *kinds[(i + 2) % len(kinds)]) for i in range(6)]
        for evaluation_id, title, version_no, items, pass_mark in (
            (safety, "Load: Site Safety", 1, v1_items, 0.6),
            (safety, "Load: Site Safety", 2, v2_items, 0.65),
            (forklift, "Load: Forklift", 1, f_items, 0.7),
        ):
            doc = {
                "evaluation_id": evaluation_id,
                "evaluation_title": title,
                "evaluation_version_id": str(uuid.uuid4()),
                "version_no": version_no,
                "pass_mark": pass_mark,
                "items": [i.as_json() for i in items],
            }
            version_id = str(
                conn.execute("SELECT scoreledger.import_evaluation_version(%s) AS id", [Jsonb(doc)]).fetchone()["id"]
            )
            versions.append(VersionSpec(version_id, evaluation_id, items))
        assignments = {safety: [], forklift: []}
        for evaluation_id, title, programme, policy in (
            (safety, "Site Safety (induction)", "Induction", "highest"),
            (safety, "Site Safety (refresher)", "Refresher", "latest"),
            (forklift, "Forklift licence", "Plant", "first"),
        ):
            doc = {
                "assignment_id": str(uuid.uuid4()),
                "title": title,
                "evaluation_id": evaluation_id,
                "programme": programme,
                "attempt_policy": policy,
            }
            assignments[evaluation_id].append(
                str(conn.execute("SELECT scoreledger.upsert_assignment(%s) AS id", [Jsonb(doc)]).fetchone()["id"])
            )
        for v in versions:
            v.assignments = assignments[v.evaluation_id]
        evaluators = ["load-rubric", "load-judge"]
        conn.execute(
            "SELECT scoreledger.register_evaluator(%s, %s)",
            [
                evaluators[0],
                Jsonb(
                    {"verdict": {"type": "choice", "choices": ["pass", "fail", "review"]}, "band": {"type": "choice"}}
                ),
            ],
        )
        conn.execute("SELECT scoreledger.register_evaluator(%s, %s)", [evaluators[1], Jsonb({})])
    return World(tenant, versions, [str(uuid.uuid4()) for _ in range(users)], evaluators)


# ---------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------


def selection(rng: random.Random, item: ItemSpec) -> list[str]:
    r = rng.random()
    if item.kind == "single_choice":
        if r < 0.08:
            return []
        if r < 0.15:
            return sorted(rng.sample(item.options, 2))
        return [rng.choice(item.options)]
    if r < 0.05:
        return []
    if r < 0.45:
        return list(item.correct)
    return [o for o in item.options if rng.random() < 0.45]


def submission_doc(rng: random.Random, world: World) -> dict:
    version = rng.choices(world.versions, weights=(5, 3, 2))[0]
    answered = [i for i in version.items if rng.random() > 0.06] or version.items[:1]
    doc = {
        "submission_id": str(uuid.uuid4()),
        "evaluation_version_id": version.version_id,
        "user_id": rng.choice(world.hot_users if rng.random() < 0.05 else world.users),
        "submitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "answers": [{"question_version_id": i.question_version_id, "selected": selection(rng, i)} for i in answered],
    }
    if rng.random() < 0.7:
        doc["assignment_id"] = rng.choice(version.assignments)
    return doc


def result_payload(rng: random.Random) -> dict:
    payload = {
        "verdict": rng.choice(("pass", "fail", "review")),
        "band": rng.randint(1, 5),
        "confidence": round(rng.random(), 3),
        "correct": rng.random() < 0.5,
        "label": rng.choice(("ok", "rude", "off-topic")),
    }
    if rng.random() < 0.1:
        payload["notes"] = None  # skipped with a warning
    if rng.random() < 0.05:
        payload["spans"] = [1, 2]  # skipped with a warning
    return payload


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------


class Client(threading.Thread):
    def __init__(self, name: str, run: LoadRun, seed: int):
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
                    world.fresh_results += 1
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
                if n != len(docs):
                    self.r.stats.anomaly("record_evaluation_results", f"{len(docs)} documents, {n} written")
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


class Remediator(Client):
    """create a batch on a random item (replace_key / drop_item / mark_correct),
    preview it, apply it — sometimes from two threads at the same moment —,
    re-apply an applied one, and sometimes revert an applied batch."""

    def __init__(self, name: str, run: LoadRun, seed: int):
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

    def __init__(self, name: str, run: LoadRun, actor: str):
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


class Monitor(threading.Thread):
    """Samples, once a second, the load average and which clients wait on a
    lock, and keeps each client's longest wait seen (with its statement)."""

    def __init__(self, run: LoadRun):
        super().__init__(name="monitor", daemon=True)
        self.r = run
        self.loadavg: list[float] = []
        self.lock_waiters: list[int] = []
        self.longest_waits: dict[str, dict] = {}

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
                    self.r.stop.wait(1.0)
        except Exception as exc:  # the monitor is not a client: report, do not fail the run on it
            print(f"monitor stopped: {exc}", file=sys.stderr)


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
        threads.append(Remediator("remediator", self, rng.randrange(2**32)))
        monitor = Monitor(self)
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
            expected_results = len(world.result_ids) + world.fresh_results
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
                "max_ms": round(lat[-1] * 1000, 1) if lat else None,
                "errors": dict(s.errors),
            }
        errors = collections.Counter()
        for s in self.stats.ops.values():
            errors.update(s.errors)
        breaches = [r for r in check if r["breaches"] != 0]
        return {
            "seconds": round(elapsed, 1),
            "clients": {"recorders": self.clients, "result_writers": self.writers, "remediators": 1},
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
            f"{o['p50_ms'] or 0:>8} {o['p95_ms'] or 0:>8} {o['max_ms'] or 0:>8}  {errs}"
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
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/load-*.json")
    args = parser.parse_args()

    print(
        f"scoreledger load: {args.clients} recorders, {args.writers} result writer(s), 1 remediator, "
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
        )
    print_report(report)
    if not args.no_results:
        write_results("load", report)
    sys.exit(1 if failed(report) else 0)


if __name__ == "__main__":
    main()
