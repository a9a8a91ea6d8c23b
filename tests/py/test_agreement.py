"""Agreement between raters (contract section 13, issue 15 part 2).

The property: on random ratings (any number of raters, missing values,
ties) `scoreledger.score_agreement` equals an independent implementation
written here from the textbook definition -- every ordered pair of values
within a unit, exact fractions, the ordinal distance summed value by value
as in Krippendorff's table -- at all four levels, with Cohen's kappa per
pair. Then the CLI: the pairwise matrix, --json, and the errors.
"""

from __future__ import annotations

import itertools
import json
import uuid
from fractions import Fraction

import pytest
from helpers import evaluation_doc, standard_items, submission_doc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from scoreledger import db, scores

LEVELS = ("nominal", "ordinal", "interval", "ratio")

# ----------------------------------------------------------------- the model


def distance(level: str, c: Fraction, k: Fraction, marginals: dict[Fraction, Fraction]) -> Fraction:
    """Krippendorff's squared distance of two values, straight from the definitions."""
    if c == k:
        return Fraction(0)
    if level == "nominal":
        return Fraction(1)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        return ((c - k) / (c + k)) ** 2
    low, high = min(c, k), max(c, k)
    between = sum(n for g, n in marginals.items() if low <= g <= high)
    return (between - (marginals[c] + marginals[k]) / 2) ** 2


def model_alpha(units: dict[int, dict[int, Fraction]], level: str) -> dict:
    coincidences: dict[tuple[Fraction, Fraction], Fraction] = {}
    for values in units.values():
        vs = list(values.values())
        if len(vs) < 2:
            continue
        for i, j in itertools.permutations(range(len(vs)), 2):
            key = (vs[i], vs[j])
            coincidences[key] = coincidences.get(key, Fraction(0)) + Fraction(1, len(vs) - 1)
    marginals: dict[Fraction, Fraction] = {}
    for (c, _), o in coincidences.items():
        marginals[c] = marginals.get(c, Fraction(0)) + o
    n = sum(marginals.values(), Fraction(0))
    observed = sum((o * distance(level, c, k, marginals) for (c, k), o in coincidences.items()), Fraction(0))
    expected = sum(
        (marginals[c] * marginals[k] * distance(level, c, k, marginals) for c in marginals for k in marginals),
        Fraction(0),
    )
    return {
        "pairable_values": n,
        "alpha": 1 - (n - 1) * observed / expected if expected else None,
        "observed_agreement": sum((o for (c, k), o in coincidences.items() if c == k), Fraction(0)) / n if n else None,
    }


def model_pairs(units: dict[int, dict[int, Fraction]]) -> dict[tuple[int, int], dict]:
    raters = sorted({r for values in units.values() for r in values})
    result = {}
    for a, b in itertools.combinations(raters, 2):
        both = [(v[a], v[b]) for v in units.values() if a in v and b in v]
        if not both:
            continue
        n = len(both)
        p_o = Fraction(sum(x == y for x, y in both), n)
        categories = {x for x, _ in both} | {y for _, y in both}
        p_e = sum(
            (Fraction(sum(x == c for x, _ in both), n) * Fraction(sum(y == c for _, y in both), n) for c in categories),
            Fraction(0),
        )
        result[(a, b)] = {"units": n, "agreement": p_o, "kappa": (p_o - p_e) / (1 - p_e) if p_e != 1 else None}
    return result


def close(have, want) -> bool:
    if want is None or have is None:
        return have is None and want is None
    return abs(Fraction(str(have)) - want) < Fraction(1, 10**9)


# ------------------------------------------------------------ the database

UNITS = 8
RATERS = 4


@pytest.fixture
def panel(acting, tenant):
    """Eight submissions, each an item of one review queue, and four reviewers."""
    items = standard_items()
    version = str(uuid.uuid4())
    submission_ids = [str(uuid.uuid4()) for _ in range(UNITS)]
    with acting() as conn:
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version, items))],
        )
        docs = [
            submission_doc(sid, version, str(uuid.uuid4()), {i.question_version_id: {"B"} for i in items})
            for sid in submission_ids
        ]
        conn.execute("SELECT scoreledger.record_submissions(%s)", [Jsonb(docs)])
        queue = scores.create_review_queue(conn, "panel")
        item_ids = [scores.add_review_item(conn, queue, sid) for sid in submission_ids]
    reviewers = [str(uuid.UUID(int=r + 1)) for r in range(RATERS)]
    return {"tenant": tenant, "queue": queue, "items": item_ids, "submissions": submission_ids, "reviewers": reviewers}


def rate(dsn: str, panel: dict, name: str, units: dict[int, dict[int, object]]) -> None:
    """Each reviewer saves one annotation {name: value} per unit they rate, in one transaction."""
    with db.connect(dsn) as conn:
        conn.execute("SET ROLE scoreledger_app")
        for r, reviewer in enumerate(panel["reviewers"]):
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [panel["tenant"], reviewer])
            for u, values in units.items():
                if r in values:
                    scores.save_annotation(conn, panel["items"][u], {name: values[r]})


def ratings(values):
    """Unit -> {rater -> value}: each rater rates each unit or not."""
    return st.dictionaries(
        st.integers(0, UNITS - 1),
        st.dictionaries(st.integers(0, RATERS - 1), values, max_size=RATERS),
        min_size=1,
        max_size=UNITS,
    )


# Small domains so that ties and equal values are common; halves so that
# the numeric levels see non-integers; never negative (ratio).
numbers = st.integers(0, 8).map(lambda n: Fraction(n, 2))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ratings(numbers), level=st.sampled_from(LEVELS))
def test_alpha_and_kappa_equal_an_independent_implementation(dsn, panel, data, level):
    name = f"s{uuid.uuid4().hex[:12]}"
    rate(dsn, panel, name, {u: {r: float(v) for r, v in vs.items()} for u, vs in data.items()})
    units = {u: vs for u, vs in data.items() if vs}
    with db.acting(dsn, panel["tenant"], None) as conn:
        if not units:
            with pytest.raises(Exception, match="SL404|no score named"):
                scores.agreement(conn, name, level)
            return
        doc = scores.agreement(conn, name, level)
    want = model_alpha(units, level)
    assert doc["level"] == level
    assert doc["units"] == len(units)
    assert doc["raters"] == len({r for vs in units.values() for r in vs})
    assert doc["pairable_values"] == want["pairable_values"]
    assert close(doc["alpha"], want["alpha"]), (doc["alpha"], want["alpha"])
    assert close(doc["observed_agreement"], want["observed_agreement"])
    reviewer_no = {rid: i for i, rid in enumerate(panel["reviewers"])}
    have_pairs = {tuple(sorted((reviewer_no[p["rater_a"]], reviewer_no[p["rater_b"]]))): p for p in doc["pairs"]}
    want_pairs = model_pairs(units)
    assert set(have_pairs) == set(want_pairs)
    for key, want_pair in want_pairs.items():
        assert have_pairs[key]["units"] == want_pair["units"]
        assert close(have_pairs[key]["agreement"], want_pair["agreement"])
        assert close(have_pairs[key]["kappa"], want_pair["kappa"]), (key, have_pairs[key], want_pair)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ratings(st.sampled_from(["ok", "rude", "terse"])))
def test_categories_default_to_nominal(dsn, panel, data):
    name = f"c{uuid.uuid4().hex[:12]}"
    rate(dsn, panel, name, data)
    units = {u: vs for u, vs in data.items() if vs}
    if not units:
        return
    with db.acting(dsn, panel["tenant"], None) as conn:
        doc = scores.agreement(conn, name)
    # The model compares values only for equality at nominal level: any
    # distinct numbers stand for the categories.
    code = {"ok": Fraction(0), "rude": Fraction(1), "terse": Fraction(2)}
    want = model_alpha({u: {r: code[v] for r, v in vs.items()} for u, vs in units.items()}, "nominal")
    assert doc["level"] == "nominal"
    assert close(doc["alpha"], want["alpha"])


def test_a_read_at_every_isolation_level(dsn, panel):
    rate(dsn, panel, "tone", {0: {0: "ok", 1: "ok"}, 1: {0: "ok", 1: "rude"}})
    for level in ("REPEATABLE READ", "SERIALIZABLE"):
        with db.connect(dsn) as conn:
            conn.execute(f"SET TRANSACTION ISOLATION LEVEL {level}")
            conn.execute("SET ROLE scoreledger_app")
            conn.execute("SELECT scoreledger.set_context(%s)", [panel["tenant"]])
            assert scores.agreement(conn, "tone")["pairable_values"] == 4


# ------------------------------------------------------------------- the CLI


@pytest.fixture
def rated(dsn, panel, acting):
    """Krippendorff's example for units 1-8 of coders 1-3 plus an evaluator that copies coder 1."""
    example = {
        0: [1, 1, None],
        1: [2, 2, 3],
        2: [3, 3, 3],
        3: [3, 3, 3],
        4: [2, 2, 2],
        5: [1, 2, 3],
        6: [4, 4, 4],
        7: [1, 1, 2],
    }
    rate(dsn, panel, "grade", {u: {r: v for r, v in enumerate(vs) if v is not None} for u, vs in example.items()})
    with acting() as conn:
        scores.register_evaluator(conn, "judge")
        for u, vs in example.items():
            scores.record_evaluation_result(conn, "judge", panel["submissions"][u], {"grade": vs[0]})
    return panel


def test_cli_prints_the_pairwise_matrix(run, rated):
    result = run("scores", "agreement", "grade", "--level", "ordinal", tenant=rated["tenant"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("grade at ordinal level: 8 units (8 with two or more values), 3 raters")
    assert "Krippendorff's alpha" in lines[1]
    header = next(line for line in lines if line.startswith("#"))
    assert header.split()[:4] == ["#", "rater", "source", "units"]
    assert header.split()[4:] == ["1", "2", "3"]
    first = next(line for line in lines if line.startswith("1 "))
    assert rated["reviewers"][0] in first and " - " in first
    # coder 1 and coder 2 rated units 0-7 both and differ on unit 5 only.
    assert "/ 88% (8)" in first


def test_cli_include_automated_lists_the_evaluator_by_name(run, rated):
    result = run("scores", "agreement", "grade", "--include-automated", tenant=rated["tenant"])
    assert result.exit_code == 0, result.output
    judge = next(line for line in result.output.splitlines() if "judge" in line)
    assert "automated" in judge
    assert "1.000 / 100% (8)" in result.output  # the judge copies coder 1


def test_cli_json_is_the_sql_document(run, rated, acting):
    result = run("--json", "scores", "agreement", "grade", "--queue", rated["queue"], tenant=rated["tenant"])
    assert result.exit_code == 0, result.output
    with acting(rated["tenant"]) as conn:
        assert json.loads(result.output) == json.loads(
            json.dumps(scores.agreement(conn, "grade", None, rated["queue"]))
        )


def test_cli_errors_are_one_line(run, rated):
    unknown = run("scores", "agreement", "nothing", tenant=rated["tenant"])
    assert unknown.exit_code == 1
    assert "SL404" in unknown.output and "no score named 'nothing'" in unknown.output
    bad_level = run("scores", "agreement", "grade", "--level", "cardinal", tenant=rated["tenant"])
    assert bad_level.exit_code == 1 and "SL422" in bad_level.output and "level" in bad_level.output
    bad_queue = run("scores", "agreement", "grade", "--queue", "not-a-uuid", tenant=rated["tenant"])
    assert bad_queue.exit_code == 2
