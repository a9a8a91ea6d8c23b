"""Bad input (ISSUE 7, part 3), the harness shared by the test_bad_input_*
files: every JSON-taking API function, fed Hypothesis-generated documents
(bad_input_strategies.py) — valid ones mutated (a field dropped, or
replaced by a value of the wrong type: null, number, bool, string, a 100k
character string, arrays/objects nested 200+ deep, empty containers,
unicode with RTL, emoji and combining characters, ids of another tenant's
real objects, malformed uuids, impossible timestamps, unknown keys,
duplicates) and fully random JSON.

The property, for every call (World.call):
  * it fails with one of the API's SQLSTATEs (SL401/SL403/SL404/SL409/
    SL422/SL423) — never an internal error (XX000, 22xxx, 23xxx, 42xxx,
    54xxx, P0001, ...) — with a message that names the entry, a SQLSTATE
    that matches what the message says, and nothing written anywhere
    (every table of scoreledger_private, read as superuser, which bypasses
    row level security); or
  * it succeeds, leaves every row of the other tenant untouched, and
    `scoreledger.check_invariants()` reports no breach.

Each test function works in one freshly migrated database (conftest.py)
with two populated tenants (the `world` fixture); every call is its own
transaction on a real connection as scoreledger_app. Nothing is mocked.

bad_input_pins.py holds the minimal inputs of the bugs this suite found:
each function's test runs its pins first, deterministically, then the
Hypothesis search, so a known bug keeps its test failing until it is fixed
and a random search never has to rediscover it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from dataclasses import dataclass, field

import psycopg
import pytest
from helpers import connect, create_tenant, drop_item, evaluation_doc, replace_key, standard_items, submission_doc
from hypothesis import HealthCheck, settings
from hypothesis import note as _hypothesis_note
from hypothesis.errors import InvalidArgument
from psycopg import sql
from scoreledger import db

# The SQLSTATEs the API raises on purpose (contract section 2).
API_SQLSTATES = frozenset({"SL401", "SL403", "SL404", "SL409", "SL422", "SL423"})

FUZZ = settings(
    # BAD_INPUT_EXAMPLES=2000 for a longer search.
    max_examples=int(os.environ.get("BAD_INPUT_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


# ---------------------------------------------------------------------------
# JSON values: SQL NULL vs JSON null, objects with duplicate keys
# ---------------------------------------------------------------------------


class _SqlNull:
    """An SQL NULL argument (Python None stands for the JSON null)."""

    def __repr__(self) -> str:
        return "SQLNULL"


SQLNULL = _SqlNull()


class DupKeys(list):
    """A JSON object written with repeated keys: a list of (key, value)."""


@dataclass(frozen=True)
class Deep:
    """Arrays or objects nested `depth` deep, written straight to JSON text
    (too deep for Python's recursive json module)."""

    kind: str  # "array" | "object"
    depth: int

    def json(self) -> str:
        if self.kind == "array":
            return "[" * self.depth + "]" * self.depth
        return '{"k": ' * self.depth + "{}" + "}" * self.depth

    def top(self):
        """The outermost level as a Python list or dict."""
        if self.kind == "array":
            return [Deep("array", self.depth - 1)] if self.depth > 1 else []
        return {"k": Deep("object", self.depth - 1)} if self.depth > 0 else {}


def to_json(value) -> str:
    if isinstance(value, Deep):
        return value.json()
    if isinstance(value, DupKeys):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {to_json(v)}" for k, v in value) + "}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def doc_of(value, roots: set[str]):
    """The `document` argument of World.call: None for an SQL NULL."""
    return None if value is SQLNULL else (value, roots)


def copy_json(value):
    if isinstance(value, DupKeys):
        return DupKeys((k, copy_json(v)) for k, v in value)
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value  # str, numbers, None, Deep: immutable


def jparam(value):
    """A document as a query parameter (cast with ::jsonb in the SQL)."""
    return None if value is SQLNULL else to_json(value)


def short(value, limit: int = 400) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


# ---------------------------------------------------------------------------
# The world: two tenants with real objects of every kind
# ---------------------------------------------------------------------------


@dataclass
class TenantObjects:
    tenant: str
    actor: str
    other_reviewer: str
    evaluation_id: str
    version_id: str
    items: list
    evaluation2_id: str  # a second evaluation, without submissions
    version2_id: str
    assignment_id: str
    submissions: list[str]
    draft_batch: str
    applied_batch: str
    evaluator: str
    queue_id: str
    review_item: str
    message_item: str
    annotation: str
    foreign_annotation: str  # another reviewer's, same tenant
    result_id: str

    def all_ids(self) -> list[str]:
        return [
            self.evaluation_id,
            self.version_id,
            *(i.question_version_id for i in self.items),
            self.evaluation2_id,
            self.version2_id,
            self.assignment_id,
            *self.submissions,
            self.draft_batch,
            self.applied_batch,
            self.queue_id,
            self.review_item,
            self.message_item,
            self.annotation,
            self.foreign_annotation,
            self.result_id,
        ]


SCHEMA = {"tone": {"type": "choice", "choices": ["ok", "rude"]}, "grade": {"type": "choice"}}


def populate(dsn: str, tenant: str, actor: str) -> TenantObjects:
    items = standard_items()
    evaluation_id, version_id = str(uuid.uuid4()), str(uuid.uuid4())
    assignment_id = str(uuid.uuid4())
    evaluation2_id, version2_id = str(uuid.uuid4()), str(uuid.uuid4())
    # The last one answers only the first item.
    submissions = [str(uuid.uuid4()) for _ in range(4)]
    other_reviewer = str(uuid.uuid4())
    with db.acting(dsn, tenant, actor) as conn:

        def value(query, *params):
            row = conn.execute(query, list(params)).fetchone()
            return str(next(iter(row.values())))

        value(
            "SELECT scoreledger.import_evaluation_version(%s::jsonb)",
            to_json(evaluation_doc(evaluation_id, version_id, items)),
        )
        value(
            "SELECT scoreledger.import_evaluation_version(%s::jsonb)",
            to_json(evaluation_doc(evaluation2_id, version2_id, standard_items())),
        )
        value(
            "SELECT scoreledger.upsert_assignment(%s::jsonb)",
            to_json(
                {
                    "assignment_id": assignment_id,
                    "title": "Safety",
                    "evaluation_id": evaluation_id,
                    "attempt_policy": "highest",
                }
            ),
        )
        for n, sid in enumerate(submissions):
            doc = submission_doc(
                sid,
                version_id,
                str(uuid.uuid4()),
                {
                    items[0].question_version_id: {"B"},
                    items[1].question_version_id: {"A"},
                    items[2].question_version_id: {"A", "D"},
                }
                if n < 3
                else {items[0].question_version_id: {"C"}},
            )
            if n == 0:
                doc["assignment_id"] = assignment_id
            value("SELECT scoreledger.record_submission(%s::jsonb)", to_json(doc))
        draft = value(
            "SELECT scoreledger.create_correction_batch('draft', %s::jsonb)",
            to_json([drop_item(version_id, items[1].question_version_id)]),
        )
        applied = value(
            "SELECT scoreledger.create_correction_batch('applied', %s::jsonb)",
            to_json([replace_key(version_id, items[0].question_version_id, ["C"])]),
        )
        conn.execute("SELECT scoreledger.apply_correction_batch(%s)", [applied])
        value("SELECT scoreledger.register_evaluator('grader', %s::jsonb)", to_json(SCHEMA))
        queue = value("SELECT scoreledger.create_review_queue('triage', %s::jsonb)", to_json(SCHEMA))
        review_item = value("SELECT scoreledger.add_review_item(%s, %s)", queue, submissions[0])
        message_item = value("SELECT scoreledger.add_review_item(%s, NULL, 'message-1')", queue)
        annotation = value(
            "SELECT scoreledger.save_annotation(%s, %s::jsonb)",
            review_item,
            to_json({"tone": "ok", "grade": 3, "fine": True}),
        )
        result = value(
            "SELECT scoreledger.record_evaluation_result('grader', %s, %s::jsonb)",
            submissions[1],
            to_json({"tone": "rude", "accuracy": 0.25, "passed": False}),
        )
    with db.acting(dsn, tenant, other_reviewer) as conn:
        foreign = str(
            conn.execute(
                "SELECT scoreledger.save_annotation(%s, %s::jsonb) AS id", [review_item, to_json({"tone": "rude"})]
            ).fetchone()["id"]
        )
    return TenantObjects(
        tenant=tenant,
        actor=actor,
        other_reviewer=other_reviewer,
        evaluation_id=evaluation_id,
        version_id=version_id,
        items=items,
        evaluation2_id=evaluation2_id,
        version2_id=version2_id,
        assignment_id=assignment_id,
        submissions=submissions,
        draft_batch=draft,
        applied_batch=applied,
        evaluator="grader",
        queue_id=queue,
        review_item=review_item,
        message_item=message_item,
        annotation=annotation,
        foreign_annotation=foreign,
        result_id=result,
    )


def note(message: str) -> None:
    """hypothesis.note inside a Hypothesis test; nothing elsewhere."""
    with contextlib.suppress(InvalidArgument):
        _hypothesis_note(message)


@dataclass
class Outcome:
    ok: bool
    value: object = None
    sqlstate: str | None = None
    message: str | None = None


# What a message says about the input decides the SQLSTATE it deserves.
_SAYS_MALFORMED = re.compile(r": (must be|unknown field|is required|lists an option twice)")
_SAYS_MISSING = re.compile(r"does not exist|no evaluator named")


_SEGMENT = re.compile(r"\.?(?:\[(\d+)\]|([^.\[\]:]+))")


def _parse_entry(path: str) -> list | None:
    """'submissions[2].answers[0].selected' -> ['submissions', 2, 'answers', 0, 'selected']."""
    segments, pos = [], 0
    while pos < len(path):
        m = _SEGMENT.match(path, pos)
        if not m or m.end() == pos:
            return None
        segments.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    return segments


def entry_problem(doc, message: str, roots: set[str]) -> str | None:
    """None if the entry an SL422 message names can be the document's: every
    step but the last exists, and the last is an element of an array or a
    (possibly missing) field of an object. Messages naming a key verbatim
    (unknown fields) or an argument other than the document are not
    checked."""
    path, _, rest = message.partition(": ")
    if "unknown field" in rest or not rest:
        return None
    segments = _parse_entry(path)
    if segments is None:
        return None
    if segments and segments[0] in roots:
        segments = segments[1:]
    elif not segments:
        return None
    elif isinstance(segments[0], str) and not isinstance(doc, dict | DupKeys):
        return None  # an argument other than the document
    elif isinstance(segments[0], int) and (isinstance(doc, DupKeys) or not isinstance(doc, list)):
        return None
    current = doc
    for n, segment in enumerate(segments):
        if isinstance(current, DupKeys):
            current = dict(current)
        if isinstance(current, Deep):
            current = current.top()
        last = n == len(segments) - 1
        if isinstance(segment, int):
            if not isinstance(current, list) or segment >= len(current):
                return f"{segment!r} is not an element of {short(current, 60)}"
            current = current[segment]
        elif isinstance(current, dict):
            if segment not in current:
                if last:
                    return None
                return f"{segment!r} is not a field of {short(current, 60)}"
            current = current[segment]
        else:
            return f"{segment!r}: {short(current, 60)} is not an object"
    return None


@dataclass
class World:
    dsn: str
    a: TenantObjects
    b: TenantObjects
    app: psycopg.Connection
    admin: psycopg.Connection
    fingerprint_query: sql.Composable
    calls: list = field(default_factory=list)

    def fingerprint(self) -> dict:
        """(table, tenant) -> (rows, sum of row hashes), for every table of
        scoreledger_private, read as superuser (RLS does not apply)."""
        rows = self.admin.execute(self.fingerprint_query).fetchall()
        return {(r["tbl"], r["tenant"]): (r["n"], r["h"]) for r in rows}

    def breaches(self) -> list[dict]:
        rows = self.admin.execute("SELECT * FROM scoreledger.check_invariants()").fetchall()
        assert rows, "check_invariants returned nothing"
        return [r for r in rows if r["breaches"] != 0]

    def call(
        self,
        label: str,
        query: str,
        params: list,
        *,
        context: tuple | None | str = "default",
        document: tuple[object, set[str]] | None = None,
    ) -> Outcome:
        """One API call in its own transaction as scoreledger_app, checked
        against the property in the module docstring. `document`: the JSON
        document passed and the names its messages may give it, so that an
        SL422 message's entry can be looked up in it."""
        if context == "default":
            context = (self.a.tenant, self.a.actor)
        before = self.fingerprint()
        shown = f"{label}({', '.join(short(p, 160) for p in params)}) with context {context}"
        note(f"call: {shown}")
        try:
            with self.app.transaction():
                self.app.execute("SET LOCAL ROLE scoreledger_app")
                if context is not None:
                    self.app.execute("SELECT scoreledger.set_context(%s, %s)", list(context))
                row = self.app.execute(query, params).fetchone()
        except psycopg.Error as exc:
            message = exc.diag.message_primary or str(exc)
            outcome = Outcome(False, sqlstate=exc.sqlstate, message=message)
            note(f"-> {exc.sqlstate}: {short(message, 300)}")
            assert exc.sqlstate in API_SQLSTATES, (
                f"internal error reached the caller: {label} raised SQLSTATE {exc.sqlstate} "
                f"({type(exc).__name__}): {short(message, 300)}\n  call: {shown}"
            )
            assert message.strip(), f"{label}: {exc.sqlstate} with an empty message"
            if exc.sqlstate == "SL422":
                assert ": " in message, f"{label}: SL422 message names no entry: {short(message, 300)!r}"
                assert "unknown field" in message or not re.match(r"(\w+\[\d+\])\.\1[.:]", message), (
                    f"{label}: SL422 message names its entry twice: {short(message, 300)!r}\n  call: {shown}"
                )
            if exc.sqlstate == "SL404":
                assert _SAYS_MISSING.search(message), (
                    f"wrong SQLSTATE: {label} raised SL404 (not found) for {short(message, 300)!r}\n  call: {shown}"
                )
            if _SAYS_MALFORMED.search(message) and not _SAYS_MISSING.search(message):
                assert exc.sqlstate == "SL422", (
                    f"wrong SQLSTATE: {label} raised {exc.sqlstate} for an invalid document: "
                    f"{short(message, 300)!r}\n  call: {shown}"
                )
            if exc.sqlstate == "SL422" and document is not None:
                problem = entry_problem(document[0], message, document[1])
                assert problem is None, (
                    f"{label}: the SL422 message names an entry the document does not have ({problem}): "
                    f"{short(message, 300)!r}\n  call: {shown}"
                )
            after = self.fingerprint()
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            assert not changed, f"{label} failed ({exc.sqlstate}) but wrote to {changed}\n  call: {shown}"
            self.calls.append((label, outcome.sqlstate))
            return outcome
        value = next(iter(row.values())) if row else None
        note(f"-> ok: {short(value, 200)}")
        after = self.fingerprint()
        foreign = sorted(k for k in set(before) | set(after) if k[1] == self.b.tenant and before.get(k) != after.get(k))
        assert not foreign, f"{label} acting in tenant A changed tenant B's rows in {foreign}\n  call: {shown}"
        breaches = self.breaches()
        assert not breaches, f"{label} succeeded but check_invariants reports {breaches}\n  call: {shown}"
        self.calls.append((label, "ok"))
        return Outcome(True, value=value)


def _fingerprint_query(conn: psycopg.Connection) -> sql.Composable:
    tables = conn.execute(
        """SELECT c.relname,
                  EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id'
                          AND NOT a.attisdropped) AS has_tenant
           FROM pg_class c
           WHERE c.relnamespace = 'scoreledger_private'::regnamespace AND c.relkind IN ('r', 'p')
           ORDER BY c.relname"""
    ).fetchall()
    assert len(tables) >= 15, tables
    parts = [
        sql.SQL(
            "SELECT {name}::text AS tbl, {tenant} AS tenant, count(*) AS n, "
            "coalesce(sum(hashtextextended(x::text, 0)::numeric), 0) AS h FROM scoreledger_private.{table} x GROUP BY 2"
        ).format(
            name=sql.Literal(t["relname"]),
            tenant=sql.SQL("x.tenant_id::text" if t["has_tenant"] else "NULL::text"),
            table=sql.Identifier(t["relname"]),
        )
        for t in tables
    ]
    return sql.SQL(" UNION ALL ").join(parts)


@pytest.fixture
def world(dsn, tenant, actor):
    with db.acting(dsn) as conn:
        other = create_tenant(conn, f"other-{uuid.uuid4().hex[:8]}")
    a = populate(dsn, tenant, actor)
    b = populate(dsn, other, str(uuid.uuid4()))
    app = connect(dsn, "bad-input-app")
    admin = db.connect(dsn, autocommit=True)
    admin.execute("SET statement_timeout = '60s'")
    w = World(dsn=dsn, a=a, b=b, app=app, admin=admin, fingerprint_query=_fingerprint_query(admin))
    assert not w.breaches(), "the populated world already breaches an invariant"
    try:
        yield w
    finally:
        app.close()
        admin.close()


def rows_in(w: World, table: str, tenant: str) -> int:
    return w.admin.execute(
        sql.SQL("SELECT count(*) AS n FROM scoreledger_private.{} WHERE tenant_id = %s").format(sql.Identifier(table)),
        [tenant],
    ).fetchone()["n"]


def batch_row(w: World, batch_id) -> tuple[dict | None, int]:
    row = w.admin.execute(
        "SELECT status, payload FROM scoreledger_private.correction_batches WHERE tenant_id = %s AND batch_id = %s",
        [w.a.tenant, batch_id],
    ).fetchone()
    stored = w.admin.execute(
        "SELECT count(*) AS n FROM scoreledger_private.corrections WHERE tenant_id = %s AND batch_id = %s",
        [w.a.tenant, batch_id],
    ).fetchone()["n"]
    return row, stored


# ---------------------------------------------------------------------------
# Private SQL: the only place these tests call scoreledger_private functions
# by name (the differential test of the submission checks). When the
# validation rules are rewritten, adapt this function and nothing else.
# ---------------------------------------------------------------------------


def submission_diagnosis(w: World, docs) -> tuple[str, str] | None:
    """(sqlstate, message) of the first problem the diagnosis names in the
    submission documents `docs`, or None when it finds none."""
    with w.admin.transaction():
        w.admin.execute("SELECT scoreledger.set_context(%s, %s)", [w.a.tenant, w.a.actor])
        for function in ("submission_document_errors", "submission_answer_errors"):
            row = w.admin.execute(
                f"SELECT sqlstate, message FROM scoreledger_private.{function}(%s::jsonb, 'submissions')",
                [jparam(docs)],
            ).fetchone()
            if row:
                return row["sqlstate"], row["message"]
    return None
