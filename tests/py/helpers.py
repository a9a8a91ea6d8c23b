"""Shared pieces for the remediation tests: documents, connections acting
as the application, and a small independent model of the scoring rules
(contract section 4) to compare the engine with.

The model is deliberately naive: it rescores every submission from its raw
answers under the active corrections, with exact fractions. It shares no
code or shortcut with the SQL implementation.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

import psycopg
from hypothesis import strategies as st
from scoreledger import db

# ---------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------


def connect(dsn: str, name: str = "scoreledger-test") -> psycopg.Connection:
    """A plain connection (not autocommit) tagged with an application_name,
    so a test can find it in pg_stat_activity."""
    conn = db.connect(dsn, application_name=name)
    # A hang is a failure, not a stuck test run.
    conn.execute("SET statement_timeout = '30s'")
    conn.commit()
    return conn


def create_tenant(conn: psycopg.Connection, name: str) -> str:
    """Creates a tenant named `name`; returns its id."""
    return str(conn.execute("SELECT scoreledger.create_tenant(%s) AS id", [name]).fetchone()["id"])


def begin_acting(conn: psycopg.Connection, tenant: str, actor: str | None) -> None:
    """Open a transaction on `conn` as scoreledger_app with the tenant context
    set. The caller commits or rolls back."""
    conn.execute("SET LOCAL ROLE scoreledger_app")
    conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])


@contextmanager
def acting_on(conn: psycopg.Connection, tenant: str, actor: str | None) -> Iterator[psycopg.Connection]:
    """One transaction on an existing connection, as the application."""
    with conn.transaction():
        begin_acting(conn, tenant, actor)
        yield conn


def lock_waits(dsn: str, application_names: list[str]) -> dict[str, str]:
    """The lock each given backend waits for now (advisory, transactionid, ...), by application name."""
    with db.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            """SELECT application_name, wait_event FROM pg_stat_activity
               WHERE application_name = ANY(%s) AND wait_event_type = 'Lock' AND state = 'active'
                 AND datname = current_database()""",
            [application_names],
        ).fetchall()
    return {r["application_name"]: r["wait_event"] for r in rows}


def waiting_on_lock(dsn: str, application_names: list[str]) -> list[str]:
    """The given backends that are currently waiting for a heavyweight lock."""
    return sorted(lock_waits(dsn, application_names))


def invariant_breaches(dsn: str) -> list[dict]:
    """Rows of scoreledger.check_invariants() with breaches, run as the
    connecting (super)user: an operator's view of every tenant."""
    with db.connect(dsn, autocommit=True) as conn:
        rows = conn.execute("SELECT * FROM scoreledger.check_invariants()").fetchall()
    assert rows, "check_invariants returned nothing"
    return [r for r in rows if r["breaches"] != 0]


# ---------------------------------------------------------------------------
# Content
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    question_version_id: str
    kind: str  # single_choice | multiple_choice
    scoring: str  # exact | partial
    points: Fraction
    options: tuple[str, ...]
    correct: frozenset[str]

    def as_json(self, question_id: str | None = None) -> dict:
        points = int(self.points) if self.points.denominator == 1 else float(self.points)
        return {
            "question_id": question_id or str(uuid.uuid5(uuid.NAMESPACE_URL, "question:" + self.question_version_id)),
            "question_version_id": self.question_version_id,
            "kind": self.kind,
            "prompt": f"{self.kind} {self.scoring}?",
            "options": list(self.options),
            "correct": sorted(self.correct, key=self.options.index),
            "points": points,
            "scoring": self.scoring,
        }


@st.composite
def generated_items(draw, count: int, points: list[Fraction]) -> list[Item]:
    """`count` random items (kind, scoring, 2-5 options named A-E, a key,
    points drawn from `points`), each with a fresh question version id."""
    result = []
    for _ in range(count):
        kind = draw(st.sampled_from(["single_choice", "multiple_choice"]))
        scoring = draw(st.sampled_from(["exact", "partial"])) if kind == "multiple_choice" else "exact"
        options = tuple("ABCDE"[: draw(st.integers(2, 5))])
        if kind == "single_choice":
            correct = frozenset([draw(st.sampled_from(options))])
        else:
            correct = frozenset(draw(st.sets(st.sampled_from(options), min_size=1)))
        result.append(Item(str(uuid.uuid4()), kind, scoring, draw(st.sampled_from(points)), options, correct))
    return result


def evaluation_doc(evaluation_id: str, version_id: str, items: list[Item], version_no: int = 1, pass_mark=0.5) -> dict:
    return {
        "evaluation_id": evaluation_id,
        "evaluation_title": "Model exam",
        "evaluation_version_id": version_id,
        "version_no": version_no,
        "pass_mark": pass_mark,
        "items": [item.as_json() for item in items],
    }


def standard_items() -> list[Item]:
    """The pgTAP suite's evaluation: q1 single_choice key B 1 pt; q2 exact key
    A,B 2 pts; q3 partial key A,B,C 3 pts; fresh question version ids."""
    return [
        Item(str(uuid.uuid4()), "single_choice", "exact", Fraction(1), ("A", "B", "C", "D"), frozenset("B")),
        Item(str(uuid.uuid4()), "multiple_choice", "exact", Fraction(2), ("A", "B", "C"), frozenset("AB")),
        Item(str(uuid.uuid4()), "multiple_choice", "partial", Fraction(3), ("A", "B", "C", "D"), frozenset("ABC")),
    ]


def submission_doc(
    submission_id: str, version_id: str, user_id: str, answers: dict[str, frozenset[str] | set[str] | list[str]]
) -> dict:
    return {
        "submission_id": submission_id,
        "evaluation_version_id": version_id,
        "user_id": user_id,
        "submitted_at": "2026-11-01T10:00:00Z",
        "answers": [{"question_version_id": qv, "selected": sorted(sel)} for qv, sel in answers.items()],
    }


def replace_key(version_id: str, qv: str, correct) -> dict:
    return {
        "type": "replace_key",
        "evaluation_version_id": version_id,
        "question_version_id": qv,
        "correct": sorted(correct),
    }


def drop_item(version_id: str, qv: str) -> dict:
    return {"type": "drop_item", "evaluation_version_id": version_id, "question_version_id": qv}


def mark_correct(version_id: str, qv: str, submission_ids=None) -> dict:
    # Unscoped corrections say "submission_ids": null. Leaving the key out is
    # the contract's form too; tests/pgtap/20_batches_validation.sql covers
    # that form on its own, so a failure there does not hide every other
    # property here.
    return {
        "type": "mark_correct",
        "evaluation_version_id": version_id,
        "question_version_id": qv,
        "submission_ids": sorted(submission_ids) if submission_ids is not None else None,
    }


# ---------------------------------------------------------------------------
# The model of contract section 4
# ---------------------------------------------------------------------------


def awarded(item: Item, key: frozenset[str], selected: frozenset[str]) -> Fraction:
    """Points a selection earns for an item under a key."""
    if item.kind == "single_choice":
        return item.points if len(selected) == 1 and selected <= key else Fraction(0)
    if item.scoring == "exact":
        return item.points if selected == key else Fraction(0)
    hits, misses = len(selected & key), len(selected - key)
    return item.points * max(0, hits - misses) / len(key)


@dataclass
class Correction:
    type: str
    version_id: str
    qv: str
    correct: frozenset[str] | None = None
    scope: frozenset[str] | None = None  # mark_correct: only these submissions

    def as_json(self) -> dict:
        if self.type == "replace_key":
            return replace_key(self.version_id, self.qv, self.correct)
        if self.type == "drop_item":
            return drop_item(self.version_id, self.qv)
        return mark_correct(self.version_id, self.qv, self.scope)


@dataclass
class Batch:
    batch_id: str
    corrections: list[Correction]
    status: str = "draft"  # draft | applied | reverted
    applied_order: int | None = None


@dataclass
class Submission:
    submission_id: str
    version_id: str
    answers: dict[str, frozenset[str]]


@dataclass
class Model:
    """Evaluation versions (version id -> items), submissions, batches."""

    versions: dict[str, dict[str, Item]] = field(default_factory=dict)
    submissions: dict[str, Submission] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    history_rows: dict[str, int] = field(default_factory=dict)
    _order: int = 0

    def active(self) -> list[Batch]:
        return sorted((b for b in self.batches.values() if b.status == "applied"), key=lambda b: b.applied_order)

    def score(self, submission_id: str) -> tuple[Fraction, Fraction]:
        sub = self.submissions[submission_id]
        items = self.versions[sub.version_id]
        corrections = [c for b in self.active() for c in b.corrections if c.version_id == sub.version_id]
        score = max_score = Fraction(0)
        for qv, selected in sub.answers.items():
            item = items[qv]
            mine = [c for c in corrections if c.qv == qv]
            if any(c.type == "drop_item" for c in mine):
                continue
            max_score += item.points
            if any(c.type == "mark_correct" and (c.scope is None or submission_id in c.scope) for c in mine):
                score += item.points
                continue
            keys = [c.correct for c in mine if c.type == "replace_key"]  # in apply order
            score += awarded(item, keys[-1] if keys else item.correct, selected)
        return score, max_score

    def scores(self) -> dict[str, tuple[Fraction, Fraction]]:
        return {sid: self.score(sid) for sid in self.submissions}

    def reach(self, batch: Batch) -> set[str]:
        """Submissions a batch's corrections reach today."""
        reached = set()
        for c in batch.corrections:
            for sid, sub in self.submissions.items():
                if sub.version_id == c.version_id and c.qv in sub.answers and (c.scope is None or sid in c.scope):
                    reached.add(sid)
        return reached

    def record(self, sub: Submission) -> None:
        self.submissions[sub.submission_id] = sub
        self.history_rows[sub.submission_id] = 1

    def _rescore(self, batch: Batch, change) -> tuple[int, int]:
        reached = self.reach(batch)
        before = {sid: self.score(sid) for sid in reached}
        change()
        changed = sum(1 for sid in reached if self.score(sid) != before[sid])
        for sid in reached:
            self.history_rows[sid] += 1
        return len(reached), changed

    def apply(self, batch_id: str) -> tuple[int, int]:
        batch = self.batches[batch_id]

        def change():
            self._order += 1
            batch.status, batch.applied_order = "applied", self._order

        return self._rescore(batch, change)

    def revert(self, batch_id: str) -> tuple[int, int]:
        batch = self.batches[batch_id]

        def change():
            batch.status = "reverted"

        return self._rescore(batch, change)


def as_fraction(value) -> Fraction:
    return Fraction(Decimal(value)) if not isinstance(value, Fraction) else value


def close(a, b, tolerance=Fraction(1, 10**9)) -> bool:
    return abs(as_fraction(a) - as_fraction(b)) <= tolerance


def stored_scores(conn: psycopg.Connection) -> dict[str, tuple]:
    rows = conn.execute("SELECT submission_id::text AS id, score, max_score FROM scoreledger.submissions").fetchall()
    return {r["id"]: (r["score"], r["max_score"]) for r in rows}


def score_mismatches(expected: dict[str, tuple[Fraction, Fraction]], stored: dict[str, tuple]) -> list[str]:
    """Human-readable differences between the model and the database."""
    problems = []
    if set(expected) != set(stored):
        problems.append(f"submissions differ: model {sorted(expected)} vs db {sorted(stored)}")
    for sid in sorted(set(expected) & set(stored)):
        (es, em), (ds, dm) = expected[sid], stored[sid]
        if ds is None or dm is None or not close(es, ds) or not close(em, dm):
            problems.append(f"{sid}: model {es}/{em} ({float(es):.6f}/{float(em):.6f}), db {ds}/{dm}")
    return problems
