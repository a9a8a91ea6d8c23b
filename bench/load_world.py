"""The load run's world (a tenant, evaluations, users, documents), its connections and its counting."""

from __future__ import annotations

import collections
import datetime as dt
import os
import random
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
    if os.environ.get("LOAD_EXPLAIN"):
        # Plans (with row counts, no timing) of statements slower than
        # LOAD_EXPLAIN ms, nested ones included, to the server log: notices
        # from a dozen threads would interleave on stderr.
        for setting in (
            "LOAD 'auto_explain'",
            f"SET auto_explain.log_min_duration = {int(os.environ['LOAD_EXPLAIN'])}",
            "SET auto_explain.log_nested_statements = on",
            "SET auto_explain.log_analyze = on",
            "SET auto_explain.log_timing = off",
        ):
            conn.execute(setting)
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
        # Results: ids given by the clients (committed).
        self.result_ids: dict[str, tuple[str, str]] = {}  # result id -> (evaluator, submission id)
        self.result_pool: list[str] = []
        # Id-less results, by content: the engine derives their ids from it.
        self.derived_results: set[str] = set()
        self.gated_assignment: str | None = None  # the assignment with attempt rules

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


GATE_RULES = {"max_attempts": 5, "retake_after_pass": False, "intervention_after_fails": 2}


def setup_world(dsn: str, rng: random.Random, users: int = 3000) -> World:
    """A tenant, two evaluations (three versions, mixed item kinds), three
    assignments (one with attempt rules and remedial work), two evaluators."""
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
        # The induction gates its retakes (contract section 11): the gate
        # threads start attempts on it while recorders fail learners into
        # interventions and batches withdraw them; the forklift licence is
        # its remedial work.
        gated, remedial = assignments[safety][0], assignments[forklift][0]
        conn.execute(
            "SELECT scoreledger.upsert_assignment(%s)",
            [
                Jsonb(
                    {
                        "assignment_id": gated,
                        "title": "Site Safety (induction)",
                        "evaluation_id": safety,
                        "programme": "Induction",
                        "attempt_policy": "highest",
                    }
                    | GATE_RULES
                    | {"remedial_assignment_id": remedial}
                )
            ],
        )
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
    world = World(tenant, versions, [str(uuid.uuid4()) for _ in range(users)], evaluators)
    world.gated_assignment = gated
    return world


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
