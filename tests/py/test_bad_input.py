"""Bad input (ISSUE 7, part 3): every JSON-taking API function, fed
Hypothesis-generated documents — valid ones mutated (a field dropped, or
replaced by a value of the wrong type: null, number, bool, string, a 100k
character string, arrays/objects nested 200+ deep, empty containers,
unicode with RTL, emoji and combining characters, ids of another tenant's
real objects, malformed uuids, impossible timestamps, unknown keys,
duplicates) and fully random JSON.

The property, for every call:
  * it fails with one of the API's SQLSTATEs (SL401/SL403/SL404/SL409/
    SL422/SL423) — never an internal error (XX000, 22xxx, 23xxx, 42xxx,
    54xxx, P0001, ...) — with a message that names the entry, a SQLSTATE
    that matches what the message says, and nothing written anywhere
    (every table of scoreledger_private, read as superuser, which bypasses
    row level security); or
  * it succeeds, leaves every row of the other tenant untouched, and
    `scoreledger.check_invariants()` reports no breach.

Each test function works in one freshly migrated database (conftest.py)
with two populated tenants; every call is its own transaction on a real
connection as scoreledger_app. Nothing is mocked.

PINS holds the minimal inputs of the bugs this suite found: each function's
test runs its pins first, deterministically, then the Hypothesis search, so
a known bug keeps its test failing until it is fixed and a random search
never has to rediscover it.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg
import pytest
from helpers import connect, drop_item, evaluation_doc, mark_correct, replace_key, standard_items, submission_doc
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import note as _hypothesis_note
from hypothesis import strategies as st
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
        other = str(
            conn.execute("SELECT scoreledger.create_tenant(%s) AS id", [f"other-{uuid.uuid4().hex[:8]}"]).fetchone()[
                "id"
            ]
        )
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


# ---------------------------------------------------------------------------
# Nasty values
# ---------------------------------------------------------------------------

_rng = random.Random(20261101)
# 100k characters that do not compress: CJK, Arabic, emoji, combining marks.
HUGE_RANDOM = "".join(
    chr(
        _rng.choice(
            [_rng.randint(0x4E00, 0x9FFF), _rng.randint(0x0600, 0x06FF), _rng.randint(0x1F300, 0x1F5FF), 0x0301]
        )
    )
    for _ in range(100_000)
)
HUGE_PLAIN = "x" * 100_000

WHITESPACE_LIKE = [
    "",
    " ",
    "\t\r\n",
    "\u2003",
    "\u3000",
    "\x0b",
    "\x0c",
    "\u00a0",
    "\u2028",
    "\u200b",
    "\ufeff",
    " \u2003 ",
]
UNICODE_SAMPLES = [
    "שלום עולם",
    "مرحبا بالعالم",
    "\u202eevil\u202c",
    "😀👍🏽👨‍👩‍👧‍👦",
    "e\u0301\u0301\u0301",
    "Z\u0351\u0360\u0336a\u035b",
    "\U0010fffd",
    "Ω≈ç√∫",
    "ＡＢＣ１２３",
    "٣٤٥",
]
TRICKY_STRINGS = [
    "null",
    "true",
    "0",
    "[]",
    "{}",
    "'; DROP TABLE x; --",
    "%s %n %L",
    "\\",
    '"',
    "a" * 10_001,
    "b" * 1_001,
]
NUMBERS = [
    0,
    -0.0,
    -1,
    1,
    1.5,
    -2.5,
    2**31,
    2**31 - 1,
    2**63,
    -(2**63),
    10**40,
    1e308,
    5e-324,
    1e-300,
    0.1,
    63,
    64,
    1000000,
    1000001,
]


def malformed_uuids(base: str) -> list[str]:
    return [
        "not-a-uuid",
        "",
        base.replace("-", ""),
        "{" + base + "}",
        base + " ",
        " " + base,
        base[:-1],
        base + "0",
        "urn:uuid:" + base,
        base[:-1] + "g",
        base.upper(),  # valid: uuids are case-insensitive
        base.translate(str.maketrans("0123456789abcdef", "０１２３４５６７８９ａｂｃｄｅｆ")),
    ]


BAD_TIMESTAMPS = [
    "2026-02-30T10:00:00Z",
    "2026-02-29T10:00:00Z",
    "2024-02-29T10:00:00Z",  # valid (leap year)
    "0000-01-01T00:00:00Z",
    "2026-11-01T10:00:00",
    "2026-11-01 10:00:00",
    "2026-13-01T00:00:00Z",
    "2026-11-01T24:00:00Z",
    "2026-11-01T23:59:60Z",
    "2026-11-01T10:00:00+16:00",
    "2026-11-01T10:00:00+15:59",
    "9999-12-31T23:59:59-15:59",
    "0001-01-01T00:00:00+15:59",
    "2026-11-01",
    "10:00:00Z",
    "infinity",
    "-infinity",
    "epoch",
    "now",
    "2026-11-01T10:00:00.1234567Z",
    "２０２６-11-01T10:00:00Z",
    "2026-11-01T10:00:00 PST",
    "2026-11-01T10:00:00Z[Europe/Paris]",
    "+12026-11-01T10:00:00Z",
    "2026-W44-7T10:00:00Z",
    "2026-11-01t10:00:00z",
]

UNKNOWN_KEYS = [
    "pass-mark",
    "extra",
    "",
    " ",
    "__proto__",
    "évaluation",
    "😀",
    "a" * 5000,
    "items ",
    "ID",
    "answers[0]",
]

safe_text = st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=30)


def text_values() -> st.SearchStrategy:
    """Strings only: for text arguments and string fields."""
    return st.one_of(
        st.sampled_from(WHITESPACE_LIKE + UNICODE_SAMPLES + TRICKY_STRINGS + BAD_TIMESTAMPS),
        st.sampled_from([HUGE_RANDOM, HUGE_PLAIN]),
        safe_text,
    )


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    safe_text,
)
random_json = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(safe_text, children, max_size=4),
    max_leaves=12,
)


def nasty_values(w: World) -> st.SearchStrategy:
    """Anything a careless or hostile caller might put in a field."""
    ids = w.b.all_ids() + w.a.all_ids() + [str(uuid.uuid4()) for _ in range(2)]
    return st.one_of(
        st.sampled_from([None, True, False]),
        st.sampled_from(NUMBERS),
        text_values(),
        st.builds(Deep, st.sampled_from(["array", "object"]), st.integers(200, 3000)),
        st.sampled_from(["[]", "{}", "[{}]", "[[]]", "[null]", "long"]).map(
            lambda k: [0] * 1001 if k == "long" else json.loads(k)
        ),
        st.sampled_from(ids),
        st.sampled_from(ids).map(malformed_uuids).flatmap(st.sampled_from),
        random_json,
    )


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------


def json_paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from json_paths(v, (*prefix, k))
    elif isinstance(value, list) and not isinstance(value, DupKeys):
        for i, v in enumerate(value):
            yield from json_paths(v, (*prefix, i))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


OPS = ["replace", "replace", "replace", "delete", "unknown_key", "duplicate", "wrap", "swap_id", "upper", "dup_keys"]


@st.composite
def mutated(draw, base: st.SearchStrategy, nasty: st.SearchStrategy, ids: list[str], max_mutations: int = 3):
    """A valid document from `base` with up to `max_mutations` mutations."""
    doc = draw(base)
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = [p for p in json_paths(doc) if len(p) <= 5]
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(OPS))
        target = _get(doc, path)

        def put(new, doc=doc, path=path):
            if not path:
                return new
            _get(doc, path[:-1])[path[-1]] = new
            return doc

        if op == "replace":
            doc = put(draw(nasty))
        elif op == "delete" and path:
            parent = _get(doc, path[:-1])
            if isinstance(parent, DupKeys):
                continue
            del parent[path[-1]]
        elif op == "unknown_key" and isinstance(target, dict):
            target[draw(st.sampled_from(UNKNOWN_KEYS))] = draw(nasty)
        elif op == "duplicate" and isinstance(target, list) and target:
            target.append(copy_json(target[draw(st.integers(0, len(target) - 1))]))
        elif op == "wrap":
            doc = put([target] if draw(st.booleans()) else {"value": target})
        elif op == "swap_id" and isinstance(target, str):
            doc = put(draw(st.sampled_from(ids)))
        elif op == "upper" and isinstance(target, str):
            doc = put(target.upper())
        elif op == "dup_keys" and isinstance(target, dict) and target:
            key = draw(st.sampled_from(sorted(target)))
            doc = put(DupKeys([*target.items(), (key, draw(nasty))]))
    return doc


def documents(w: World, base: st.SearchStrategy, max_mutations: int = 3) -> st.SearchStrategy:
    """Mostly mutated valid documents; sometimes pure random JSON."""
    nasty = nasty_values(w)
    ids = w.b.all_ids() + w.a.all_ids() + [str(uuid.uuid4())]
    docs = mutated(base, nasty, ids, max_mutations)
    return st.one_of(docs, docs, docs, docs, docs, docs, random_json, nasty)


def contexts(w: World, weight: int = 8) -> st.SearchStrategy:
    a = w.a
    return st.sampled_from([(a.tenant, a.actor)] * weight + [(a.tenant, None), (a.tenant, a.other_reviewer), None])


def uuid_args(w: World, *own: str) -> st.SearchStrategy:
    """A uuid argument: one of the given own ids, another tenant's or
    another kind's id, a fresh one, or NULL."""
    return st.one_of(
        st.sampled_from(list(own)) if own else st.nothing(),
        st.sampled_from(list(own)) if own else st.nothing(),
        st.sampled_from(w.b.all_ids() + w.a.all_ids()),
        st.uuids().map(str),
        st.just(None),
    )


# ---------------------------------------------------------------------------
# Valid documents
# ---------------------------------------------------------------------------

OPTION_NAMES = ["A", "B", "C", "D", "Да", "نعم", "😀", "e\u0301", "x y", "0"]
TIMESTAMPS = [
    "2026-11-01T10:00:00Z",
    "2026-11-01T10:00:00.123456+02:00",
    "2024-02-29T23:59:59-05:30",
    "2026-11-01 10:00:00+0100",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-11-01T10:00Z",
]
titles = st.one_of(
    st.sampled_from(["Final Safety Exam", "Sécurité 😀", "امتحان", "e\u0301"]), safe_text.filter(lambda s: s.strip())
)


@st.composite
def evaluation_docs(draw, w: World):
    items = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.integers(0, 5)) == 0:  # a shared question version, as published
            items.append(draw(st.sampled_from(w.a.items)).as_json())
            continue
        kind = draw(st.sampled_from(["single_choice", "multiple_choice"]))
        options = draw(st.lists(st.sampled_from(OPTION_NAMES), min_size=1, max_size=5, unique=True))
        correct = draw(st.lists(st.sampled_from(options), min_size=1, max_size=len(options), unique=True))
        items.append(
            {
                "question_id": str(draw(st.uuids())),
                "question_version_id": str(draw(st.uuids())),
                "kind": kind,
                "prompt": draw(titles),
                "options": options,
                "correct": correct,
                "points": draw(st.sampled_from([1, 2, 0.5, 3.25, 1000000])),
                "scoring": "partial" if kind == "multiple_choice" and draw(st.booleans()) else "exact",
            }
        )
    doc = {
        "evaluation_id": draw(st.one_of(st.uuids().map(str), st.uuids().map(str), st.just(w.a.evaluation_id))),
        "evaluation_title": draw(titles),
        "evaluation_version_id": str(draw(st.uuids())),
        "version_no": draw(st.integers(1, 1000)),
        "pass_mark": draw(st.sampled_from([0, 0.5, 0.7, 1])),
        "items": items,
    }
    if draw(st.booleans()):
        del doc["evaluation_version_id"]
    return doc


@st.composite
def assignment_docs(draw, w: World):
    doc = {
        "assignment_id": draw(st.one_of(st.uuids().map(str), st.just(w.a.assignment_id))),
        "title": draw(titles),
        "evaluation_id": draw(st.sampled_from([w.a.evaluation_id, w.a.evaluation_id, w.a.evaluation2_id])),
        "programme": draw(titles),
        "attempt_policy": draw(st.sampled_from(["highest", "latest", "first"])),
    }
    if draw(st.booleans()):
        del doc["programme"]
    return doc


@st.composite
def submission_docs(draw, w: World):
    items = draw(
        st.lists(st.sampled_from(w.a.items), min_size=1, max_size=3, unique_by=lambda i: i.question_version_id)
    )
    doc = {
        "submission_id": draw(st.one_of(st.uuids().map(str), st.uuids().map(str), st.sampled_from(w.a.submissions))),
        "evaluation_version_id": w.a.version_id,
        "user_id": str(draw(st.uuids())),
        "submitted_at": draw(st.sampled_from(TIMESTAMPS)),
        "answers": [
            {
                "question_version_id": i.question_version_id,
                "selected": draw(st.lists(st.sampled_from(i.options), unique=True)),
            }
            for i in items
        ],
    }
    if draw(st.booleans()):
        doc["assignment_id"] = w.a.assignment_id
    if draw(st.integers(0, 4)) == 0:
        del doc["submission_id"]
    return doc


@st.composite
def correction_docs(draw, w: World):
    entries = []
    for _ in range(draw(st.integers(1, 3))):
        item = draw(st.sampled_from(w.a.items))
        kind = draw(st.sampled_from(["replace_key", "drop_item", "mark_correct"]))
        if kind == "replace_key":
            entries.append(
                replace_key(
                    w.a.version_id,
                    item.question_version_id,
                    draw(st.lists(st.sampled_from(item.options), min_size=1, unique=True)),
                )
            )
        elif kind == "drop_item":
            entries.append(drop_item(w.a.version_id, item.question_version_id))
        else:
            scope = draw(st.one_of(st.none(), st.lists(st.sampled_from(w.a.submissions), min_size=1, unique=True)))
            entry = mark_correct(w.a.version_id, item.question_version_id, scope)
            if scope is None and draw(st.booleans()):
                del entry["submission_ids"]
            entries.append(entry)
    return entries


@st.composite
def schema_docs(draw):
    doc = {}
    for name in draw(st.lists(st.sampled_from(["tone", "grade", "Ton 😀", "x y"]), unique=True, max_size=3)):
        decl = {"type": draw(st.sampled_from(["choice", "number", "text"]))}
        if draw(st.booleans()):
            decl["choices"] = draw(st.lists(st.sampled_from(["ok", "rude", "0", "😀"]), unique=True))
        doc[name] = decl
    return doc


@st.composite
def payload_docs(draw):
    return draw(
        st.dictionaries(
            st.sampled_from(["tone", "grade", "accuracy", "passed", "comment", "Ton 😀", "nested"]),
            st.one_of(
                st.booleans(),
                st.integers(-100, 100),
                st.floats(-1e6, 1e6, allow_nan=False),
                st.sampled_from(["ok", "rude", "שלום"]),
                st.none(),
                st.lists(st.integers(0, 3), min_size=1, max_size=2),
            ),
            max_size=5,
        )
    )


@st.composite
def result_docs(draw, w: World):
    doc = {
        "evaluator": draw(st.sampled_from(["grader", " grader ", "grader2", "GRADER"])),
        "submission_id": draw(st.one_of(st.sampled_from(w.a.submissions), st.none())),
        "payload": draw(payload_docs()),
        "error": draw(st.sampled_from([None, None, None, "timeout", "modèle indisponible 😀"])),
        "result_id": draw(st.one_of(st.none(), st.uuids().map(str), st.just(w.a.result_id))),
    }
    for key in ("error", "result_id", "payload"):
        if draw(st.integers(0, 3)) == 0:
            del doc[key]
    return doc


def sqlnull_or(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.just(SQLNULL), *[strategy] * 9)


# ---------------------------------------------------------------------------
# Pinned inputs: the minimal failing inputs of the bugs this suite found.
# Each function's test runs its pins first (deterministically), then the
# Hypothesis search, and fails if either finds a breach of the property.
# ---------------------------------------------------------------------------


@dataclass
class Pin:
    query: str
    params: Callable[[World], list]
    # Beyond the generic property: what the message must say.
    message: str | None = None


def _submission(w: World, **fields) -> str:
    doc = {
        "evaluation_version_id": w.a.version_id,
        "user_id": str(uuid.UUID(int=3)),
        "submitted_at": "2026-11-01T10:00:00Z",
        "answers": [{"question_version_id": w.a.items[0].question_version_id, "selected": ["B"]}],
    }
    doc.update(fields)
    return to_json({k: v for k, v in doc.items() if v is not SQLNULL})


PINS: dict[str, dict[str, Pin]] = {
    "create_correction_batch": {
        # One submission listed twice, once in upper case: validate_corrections
        # compares the JSON strings (no duplicate), store_corrections the uuids
        # -> 23505 on correction_submissions_pkey.
        "mark_correct lists a submission id twice in two letter cases": Pin(
            "SELECT scoreledger.create_correction_batch('dup', %s::jsonb)",
            lambda w: [
                to_json(
                    [
                        mark_correct(
                            w.a.version_id,
                            w.a.items[0].question_version_id,
                            [w.a.submissions[0], w.a.submissions[0].upper()],
                        )
                    ]
                )
            ],
        ),
    },
    "update_correction_batch": {
        "mark_correct lists a submission id twice in two letter cases": Pin(
            "SELECT scoreledger.update_correction_batch(%s::uuid, NULL, %s::jsonb)",
            lambda w: [
                w.a.draft_batch,
                to_json(
                    [
                        mark_correct(
                            w.a.version_id,
                            w.a.items[0].question_version_id,
                            [w.a.submissions[0], w.a.submissions[0].upper()],
                        )
                    ]
                ),
            ],
        ),
    },
    "record_evaluation_result": {
        # A blank error that btrim(' \t\r\n') keeps but CHECK (error ~ '\S')
        # refuses -> 23514 evaluation_results_error_check.
        "error is an em space (U+2003)": Pin(
            "SELECT scoreledger.record_evaluation_result('grader', %s::uuid, '{}'::jsonb, %s)",
            lambda w: [w.a.submissions[0], "\u2003"],
        ),
        "error is a vertical tab": Pin(
            "SELECT scoreledger.record_evaluation_result('grader', %s::uuid, '{}'::jsonb, %s)",
            lambda w: [w.a.submissions[0], "\x0b"],
        ),
    },
    "record_evaluation_results": {
        "error is a form feed": Pin(
            "SELECT scoreledger.record_evaluation_results(%s::jsonb)",
            lambda w: [
                to_json([{"evaluator": "grader", "submission_id": w.a.submissions[0], "payload": {}, "error": "\x0c"}])
            ],
        ),
    },
    "register_evaluator": {
        # Longer than a btree entry may be (UNIQUE (tenant_id, name)) -> 54000.
        "name of 3000 incompressible characters": Pin(
            "SELECT scoreledger.register_evaluator(%s)", lambda w: [HUGE_RANDOM[:3000]]
        ),
    },
    "create_review_queue": {
        "name of 3000 incompressible characters": Pin(
            "SELECT scoreledger.create_review_queue(%s)", lambda w: [HUGE_RANDOM[:3000]]
        ),
    },
    "record_submission": {
        # The SQLSTATE and the message come from two CASEs that test in a
        # different order: SL404 (not found) for a malformed document.
        "bad user_id and an unknown assignment_id": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, user_id="not-a-uuid", assignment_id=str(uuid.UUID(int=1)))],
        ),
        "bad submission_id and an unknown evaluation_version_id": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, submission_id="not-a-uuid", evaluation_version_id=str(uuid.UUID(int=2)))],
        ),
        # The entry named is a field 'answer' that no document has.
        "an answer that is not an object": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, answers=[5])],
            message=r"^answers\[0\]: must be a JSON object$",
        ),
    },
    "record_submissions": {
        "bad user_id and an unknown assignment_id": Pin(
            "SELECT scoreledger.record_submissions(%s::jsonb)",
            lambda w: [f"[{_submission(w, user_id='not-a-uuid', assignment_id=str(uuid.UUID(int=1)))}]"],
        ),
        # The entry is named twice: 'submissions[0].submissions[0]: ...'.
        "an element that is not an object": Pin(
            "SELECT scoreledger.record_submissions(%s::jsonb)",
            lambda w: ["[5]"],
            message=r"^submissions\[0\]: must be a JSON object$",
        ),
    },
}


def check_function(w: World, label: str, search: Callable[[], None]) -> None:
    """Run `label`'s pinned inputs, then the Hypothesis `search`; fail with
    everything that broke."""
    broken = []
    for name, pin in PINS.get(label, {}).items():
        try:
            out = w.call(label, pin.query, pin.params(w))
            if pin.message is not None:
                assert not out.ok and re.search(pin.message, out.message or ""), (
                    f"{label}: expected a message matching {pin.message!r}, got {out}"
                )
        except AssertionError as exc:
            broken.append(f"[pinned: {name}] {exc}")
    try:
        search()
    except BaseException as exc:
        for line in broken:
            exc.add_note(line)
        raise
    if broken:
        raise AssertionError("\n".join(broken))


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
# The properties, one test per function
# ---------------------------------------------------------------------------


def test_import_evaluation_version(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, evaluation_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "import_evaluation_version",
            "SELECT scoreledger.import_evaluation_version(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT jsonb_array_length(document->'items') AS n FROM scoreledger_private.evaluation_versions "
                "WHERE tenant_id = %s AND evaluation_version_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()
            assert row is not None, f"import_evaluation_version returned {out.value} but stored no such version"
            items = w.admin.execute(
                "SELECT count(*) AS n FROM scoreledger_private.items WHERE tenant_id = %s AND evaluation_version_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()["n"]
            assert items == row["n"], f"version {out.value}: {row['n']} items in its document, {items} stored"

    check_function(w, "import_evaluation_version", search)


def test_upsert_assignment(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, assignment_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "upsert_assignment",
            "SELECT scoreledger.upsert_assignment(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            assert w.admin.execute(
                "SELECT 1 FROM scoreledger_private.assignments WHERE tenant_id = %s AND assignment_id = %s",
                [w.a.tenant, out.value],
            ).fetchone(), f"upsert_assignment returned {out.value} but stored no such assignment"

    check_function(w, "upsert_assignment", search)


def test_record_submission(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, submission_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_submission",
            "SELECT scoreledger.record_submission(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT score, max_score FROM scoreledger_private.submissions WHERE tenant_id = %s AND submission_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()
            assert row is not None and row["score"] is not None, f"record_submission returned {out.value}: stored {row}"

    check_function(w, "record_submission", search)


def test_record_submissions(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(sqlnull_or(documents(w, st.lists(submission_docs(w), max_size=3))), label="docs")
        ctx = data.draw(contexts(w, weight=12), label="context")
        before = rows_in(w, "submissions", w.a.tenant)
        out = w.call(
            "record_submissions",
            "SELECT scoreledger.record_submissions(%s::jsonb) AS n",
            [jparam(docs)],
            context=ctx,
            document=doc_of(docs, {"submissions"}),
        )
        if out.ok:
            added = rows_in(w, "submissions", w.a.tenant) - before
            assert out.value == added, f"record_submissions returned {out.value} but {added} submissions were added"
            assert isinstance(docs, list) and out.value <= len(docs)

    check_function(w, "record_submissions", search)


def test_recording_refuses_exactly_what_the_diagnosis_names(world):
    """Recording checks documents in bulk and asks the diagnosis
    (submission_document_errors, then submission_answer_errors) for the
    message only when a bulk check fails. The two must agree: a document the
    diagnosis faults is refused with the diagnosis's own error, and one it
    passes is never refused as invalid."""
    w = world

    def diagnosis(docs) -> tuple[str, str] | None:
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

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(documents(w, st.lists(submission_docs(w), min_size=1, max_size=3)), label="docs")
        assume(isinstance(docs, list) and docs)
        expected = diagnosis(docs)
        note(f"diagnosis: {expected}")
        out = w.call(
            "record_submissions",
            "SELECT scoreledger.record_submissions(%s::jsonb) AS n",
            [jparam(docs)],
            document=doc_of(docs, {"submissions"}),
        )
        if expected is None:
            assert out.ok or out.sqlstate not in ("SL422", "SL404"), (
                f"recording refused documents the diagnosis passes: {out.sqlstate}: {out.message}"
            )
        else:
            assert not out.ok, f"recording accepted documents the diagnosis faults: {expected}"
            assert (out.sqlstate, out.message) == expected, (
                f"recording raised {out.sqlstate}: {out.message!r}; the diagnosis names {expected}"
            )

    check_function(w, "record_submissions (bulk checks = diagnosis)", search)


def test_create_correction_batch(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        reason = data.draw(st.one_of(st.just(None), titles, titles, text_values()), label="reason")
        corrections = data.draw(sqlnull_or(documents(w, correction_docs(w))), label="corrections")
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "create_correction_batch",
            "SELECT scoreledger.create_correction_batch(%s, %s::jsonb) AS id",
            [reason, jparam(corrections)],
            context=ctx,
            document=doc_of(corrections, {"corrections"}),
        )
        if out.ok:
            row, stored = batch_row(w, out.value)
            assert row is not None and row["status"] == "draft", (
                f"create_correction_batch returned {out.value}: stored {row}"
            )
            assert stored == len(row["payload"]), (
                f"batch {out.value}: {len(row['payload'])} corrections, {stored} stored"
            )

    check_function(w, "create_correction_batch", search)


def test_update_correction_batch(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        batch = data.draw(uuid_args(w, w.a.draft_batch, w.a.applied_batch), label="batch_id")
        reason = data.draw(st.one_of(st.just(None), titles, text_values()), label="reason")
        corrections = data.draw(st.one_of(st.just(SQLNULL), documents(w, correction_docs(w))), label="corrections")
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "update_correction_batch",
            "SELECT scoreledger.update_correction_batch(%s::uuid, %s, %s::jsonb) AS r",
            [batch, reason, jparam(corrections)],
            context=ctx,
            document=doc_of(corrections, {"corrections"}),
        )
        if out.ok:
            row, stored = batch_row(w, batch)
            assert row is not None and row["status"] == "draft", f"update_correction_batch({batch}): stored {row}"
            assert stored == len(row["payload"]), f"batch {batch}: {len(row['payload'])} corrections, {stored} stored"

    check_function(w, "update_correction_batch", search)


names = st.one_of(
    st.sampled_from(["grader", " grader\t", "grader2", "Évaluateur 😀", "triage", "new-one"]),
    text_values(),
    st.just(None),
)


def test_register_evaluator(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        name = data.draw(names, label="name")
        schema = data.draw(sqlnull_or(documents(w, schema_docs())), label="output_schema")
        ctx = data.draw(contexts(w, weight=12), label="context")
        w.call(
            "register_evaluator",
            "SELECT scoreledger.register_evaluator(%s, %s::jsonb) AS id",
            [name, jparam(schema)],
            context=ctx,
        )

    check_function(w, "register_evaluator", search)


def test_create_review_queue(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        name = data.draw(names, label="name")
        schema = data.draw(sqlnull_or(documents(w, schema_docs())), label="form_schema")
        ctx = data.draw(contexts(w, weight=12), label="context")
        w.call(
            "create_review_queue",
            "SELECT scoreledger.create_review_queue(%s, %s::jsonb) AS id",
            [name, jparam(schema)],
            context=ctx,
        )

    check_function(w, "create_review_queue", search)


def test_record_evaluation_result(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        evaluator = data.draw(
            st.one_of(st.just("grader"), st.just("grader"), st.just(" grader "), names), label="evaluator"
        )
        submission = data.draw(uuid_args(w, *w.a.submissions), label="submission_id")
        payload = data.draw(sqlnull_or(documents(w, payload_docs())), label="payload")
        error = data.draw(st.one_of(st.just(None), st.just(None), st.just("timeout"), text_values()), label="error")
        result_id = data.draw(st.one_of(st.just(None), uuid_args(w, w.a.result_id)), label="result_id")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_evaluation_result",
            "SELECT scoreledger.record_evaluation_result(%s, %s::uuid, %s::jsonb, %s, %s::uuid) AS id",
            [evaluator, submission, jparam(payload), error, result_id],
            context=ctx,
        )
        if out.ok:
            assert w.admin.execute(
                "SELECT 1 FROM scoreledger_private.evaluation_results WHERE tenant_id = %s AND result_id = %s",
                [w.a.tenant, out.value],
            ).fetchone(), f"record_evaluation_result returned {out.value} but stored nothing"

    check_function(w, "record_evaluation_result", search)


def test_record_evaluation_results(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(sqlnull_or(documents(w, st.lists(result_docs(w), max_size=3))), label="docs")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_evaluation_results",
            "SELECT scoreledger.record_evaluation_results(%s::jsonb) AS n",
            [jparam(docs)],
            context=ctx,
            document=doc_of(docs, {"docs"}),
        )
        if out.ok:
            assert isinstance(docs, list) and out.value == len(docs), (
                f"record_evaluation_results is all or nothing, yet returned {out.value} for {len(docs)} documents"
            )

    check_function(w, "record_evaluation_results", search)


def test_save_annotation(world):
    w = world
    a = w.a

    @FUZZ
    @given(data=st.data())
    def search(data):
        item = data.draw(uuid_args(w, a.review_item, a.message_item), label="review_item_id")
        annotation_data = data.draw(sqlnull_or(documents(w, payload_docs())), label="data")
        status = data.draw(
            st.one_of(
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["SUBMITTED", " draft", "deleted"]),
                text_values(),
                st.just(None),
            ),
            label="status",
        )
        authoritative = data.draw(st.sampled_from([False, True, False, True, None]), label="is_authoritative")
        annotation_id = data.draw(
            st.one_of(st.just(None), st.just(None), uuid_args(w, a.annotation, a.foreign_annotation)),
            label="annotation_id",
        )
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "save_annotation",
            "SELECT scoreledger.save_annotation(%s::uuid, %s::jsonb, %s, %s::boolean, %s::uuid) AS id",
            [item, jparam(annotation_data), status, authoritative, annotation_id],
            context=ctx,
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT reviewer_id::text AS reviewer, item_id::text AS item FROM scoreledger_private.annotations "
                "WHERE tenant_id = %s AND annotation_id = %s",
                [a.tenant, out.value],
            ).fetchone()
            assert row is not None, f"save_annotation returned {out.value} but stored nothing"
            assert ctx is not None and row["reviewer"] == ctx[1] and row["item"] == item, (
                f"save_annotation stored {row} for actor {ctx} and item {item}"
            )

    check_function(w, "save_annotation", search)


def test_harness_sees_both_outcomes(world):
    """The harness itself: a valid document succeeds, broken ones fail with
    the right SQLSTATE, and a write that fails leaves every table as it was
    — so a property above that never fails is not vacuous."""
    w = world
    good = evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), standard_items())
    before = w.fingerprint()
    assert w.call(
        "import_evaluation_version", "SELECT scoreledger.import_evaluation_version(%s::jsonb)", [to_json(good)]
    ).ok
    assert w.fingerprint() != before, "a successful import changed no table: the fingerprint sees nothing"
    out = w.call(
        "import_evaluation_version",
        "SELECT scoreledger.import_evaluation_version(%s::jsonb)",
        [to_json(dict(good, items=Deep("array", 250)))],
    )
    assert not out.ok and out.sqlstate == "SL422", out
    out = w.call(
        "record_submission", "SELECT scoreledger.record_submission(%s::jsonb)", [to_json({"x": 1})], context=None
    )
    assert not out.ok and out.sqlstate == "SL401", out
    assert {label for label, _ in w.calls} == {"import_evaluation_version", "record_submission"}
