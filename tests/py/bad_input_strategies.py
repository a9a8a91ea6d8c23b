"""Hypothesis strategies for the bad-input properties (bad_input.py):
nasty values, mutations of valid documents, and the valid documents of
every JSON-taking API function."""

from __future__ import annotations

import json
import random
import uuid

from bad_input import SQLNULL, Deep, DupKeys, World, copy_json
from helpers import drop_item, mark_correct, replace_key
from hypothesis import strategies as st

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


names = st.one_of(
    st.sampled_from(["grader", " grader\t", "grader2", "Évaluateur 😀", "triage", "new-one"]),
    text_values(),
    st.just(None),
)
