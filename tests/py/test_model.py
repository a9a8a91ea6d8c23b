"""The engine against an independent model of the scoring rules (contract
section 4) under random histories of correction batches (section 5).

Hypothesis draws an evaluation (random kinds, scorings, points, options and
keys), two evaluation versions sharing one question version, a handful of
submissions, and then a random sequence of steps: create + apply a batch of
random corrections (replace_key / drop_item / mark_correct, for everyone or
scoped to listed submissions), revert an applied batch, or record a new
submission. After every step each submission's score and max_score in
scoreledger.submissions must equal the model's (within 1e-9: partial
scoring yields non-terminating fractions), the apply/revert counts must
equal the model's, and every submission must have exactly one history row
per rescoring that reached it.

One database per test function; every example gets a fresh tenant.
"""

from __future__ import annotations

import uuid
from fractions import Fraction

import psycopg
from helpers import (
    Batch,
    Correction,
    Item,
    Model,
    Submission,
    acting_on,
    connect,
    create_tenant,
    evaluation_doc,
    generated_items,
    invariant_breaches,
    score_mismatches,
    stored_scores,
    submission_doc,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb


def items(count):
    return generated_items(count, points=[Fraction(1), Fraction(2), Fraction(3), Fraction(1, 2), Fraction(5)])


def selection(item: Item):
    # Mostly plausible answers, sometimes empty, sometimes several options
    # even for a single_choice item.
    return st.sets(st.sampled_from(item.options), max_size=len(item.options)).map(frozenset)


@st.composite
def answers_for(draw, version_items: list[Item]):
    presented = draw(st.lists(st.sampled_from(version_items), min_size=1, unique_by=lambda i: i.question_version_id))
    return {i.question_version_id: draw(selection(i)) for i in presented}


def new_submission(draw, model: Model, version_ids: list[str]) -> Submission:
    version_id = draw(st.sampled_from(version_ids))
    answers = draw(answers_for(list(model.versions[version_id].values())))
    return Submission(str(uuid.uuid4()), version_id, answers)


def random_corrections(draw, model: Model) -> list[Correction]:
    targets = [(v, qv) for v, its in model.versions.items() for qv in its]
    corrections: list[Correction] = []
    seen = set()
    for _ in range(draw(st.integers(1, 3))):
        version_id, qv = draw(st.sampled_from(targets))
        kind = draw(st.sampled_from(["replace_key", "drop_item", "mark_correct"]))
        if (kind, version_id, qv) in seen:
            continue
        seen.add((kind, version_id, qv))
        item = model.versions[version_id][qv]
        if kind == "replace_key":
            correct = frozenset(draw(st.sets(st.sampled_from(item.options), min_size=1)))
            corrections.append(Correction(kind, version_id, qv, correct=correct))
        elif kind == "drop_item":
            corrections.append(Correction(kind, version_id, qv))
        else:
            holders = sorted(
                s.submission_id for s in model.submissions.values() if s.version_id == version_id and qv in s.answers
            )
            scope = None
            if holders and draw(st.booleans()):
                scope = frozenset(draw(st.sets(st.sampled_from(holders), min_size=1)))
            corrections.append(Correction(kind, version_id, qv, scope=scope))
    return corrections


def history_counts(conn) -> dict[str, int]:
    rows = conn.execute(
        "SELECT submission_id::text AS id, count(*) AS n FROM scoreledger.score_history GROUP BY submission_id"
    ).fetchall()
    return {r["id"]: r["n"] for r in rows}


def check(conn, model: Model, step: str) -> None:
    problems = score_mismatches(model.scores(), stored_scores(conn))
    assert problems == [], f"after {step}: " + "; ".join(problems)
    assert history_counts(conn) == model.history_rows, f"after {step}: history rows per submission"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_scores_follow_the_model_through_random_batches_and_reverts(dsn, data):
    draw = data.draw
    actor = str(uuid.uuid4())
    model = Model()

    # Two versions of one evaluation: version 1 has 4 items, version 2
    # reuses version 1's first question version and adds one of its own,
    # so (evaluation version, question version) is what a correction targets.
    v1_items = draw(items(4), label="version 1 items")
    v2_items = [v1_items[0], *draw(items(1), label="version 2 item")]
    evaluation_id, v1, v2 = (str(uuid.uuid4()) for _ in range(3))
    model.versions[v1] = {i.question_version_id: i for i in v1_items}
    model.versions[v2] = {i.question_version_id: i for i in v2_items}
    subs = [new_submission(draw, model, [v1, v1, v2]) for _ in range(draw(st.integers(2, 6), label="submissions"))]

    with connect(dsn, "model") as conn:
        with conn.transaction():
            tenant = create_tenant(conn, f"model-{uuid.uuid4().hex}")
        with acting_on(conn, tenant, actor):
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)", [Jsonb(evaluation_doc(evaluation_id, v1, v1_items))]
            )
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [Jsonb(evaluation_doc(evaluation_id, v2, v2_items, version_no=2))],
            )
            for n, sub in enumerate(subs):
                model.record(sub)
                conn.execute(
                    "SELECT scoreledger.record_submission(%s)",
                    [
                        Jsonb(
                            submission_doc(
                                sub.submission_id, sub.version_id, str(uuid.UUID(int=n % 3 + 1)), sub.answers
                            )
                        )
                    ],
                )
        with acting_on(conn, tenant, actor):
            check(conn, model, "recording")

        steps = draw(st.integers(1, 8), label="steps")
        for step_no in range(steps):
            revertable = sorted(b.batch_id for b in model.batches.values() if b.status == "applied")
            choices = ["batch", "batch", "record"] + (["revert", "revert"] if revertable else [])
            step = draw(st.sampled_from(choices), label=f"step {step_no}")
            with acting_on(conn, tenant, actor):
                if step == "batch":
                    corrections = random_corrections(draw, model)
                    batch_id = str(
                        conn.execute(
                            "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                            [f"step {step_no}", Jsonb([c.as_json() for c in corrections])],
                        ).fetchone()["id"]
                    )
                    model.batches[batch_id] = Batch(batch_id, corrections)
                    result = conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch_id]).fetchone()[
                        "r"
                    ]
                    rescored, changed = model.apply(batch_id)
                    label = f"step {step_no}: apply {[c.as_json() for c in corrections]}"
                    assert (result["submissions_rescored"], result["scores_changed"]) == (rescored, changed), label
                    assert result["already_applied"] is False
                elif step == "revert":
                    batch_id = draw(st.sampled_from(revertable), label=f"step {step_no} revert")
                    compensating = str(
                        conn.execute(
                            "SELECT scoreledger.revert_correction_batch(%s, 'random revert') AS id", [batch_id]
                        ).fetchone()["id"]
                    )
                    rescored, changed = model.revert(batch_id)
                    label = f"step {step_no}: revert {[c.as_json() for c in model.batches[batch_id].corrections]}"
                    doc = conn.execute("SELECT scoreledger.get_correction_batch(%s) AS d", [compensating]).fetchone()[
                        "d"
                    ]
                    assert doc["reverts_batch_id"] == batch_id, label
                    result = doc["apply_result"]
                    assert (result["submissions_rescored"], result["scores_changed"]) == (rescored, changed), label
                else:
                    sub = new_submission(draw, model, [v1, v2])
                    model.record(sub)
                    conn.execute(
                        "SELECT scoreledger.record_submission(%s)",
                        [Jsonb(submission_doc(sub.submission_id, sub.version_id, str(uuid.uuid4()), sub.answers))],
                    )
                    label = f"step {step_no}: record {sub.answers}"
                check(conn, model, label)

        # Reverting twice is refused, whatever the history.
        reverted = [b.batch_id for b in model.batches.values() if b.status == "reverted"]
        if reverted:
            with conn.transaction():
                conn.execute("SET LOCAL ROLE scoreledger_app")
                conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])
                try:
                    with conn.transaction():
                        conn.execute("SELECT scoreledger.revert_correction_batch(%s, 'again')", [reverted[0]])
                    raise AssertionError("a second revert must fail")
                except psycopg.Error as exc:
                    assert exc.sqlstate == "SL409"

    assert invariant_breaches(dsn) == []
