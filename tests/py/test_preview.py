"""The impact preview (contract section 6) against what apply and revert
then do, on generated data.

Hypothesis draws an evaluation with two versions (different pass marks,
shared question versions), three assignments of it (attempt policies
highest, latest and first), a few learners with 1-4 attempts each (mostly
at one assignment, sometimes at another or at none; submitted_at drawn
from a few hours so ties happen; recorded in a random order, so attempt_no
and submitted_at disagree), an applied batch already in force, and a
random batch (replace_key / drop_item / mark_correct, for everyone or
scoped to listed submissions).

Then, for the batch:
* preview_correction_batch_changes: exactly the submissions apply then
  rescores (history rows of the batch), with their scores and pass/fail
  from scoreledger.submissions before and after the apply;
* preview_correction_batch: submissionsAffected = submissions_rescored; the
  change rows that move = scores_changed; scoreUp/scoreDown/scoreUnchanged
  by score/max_score and passToFail/failToPass/outcomeUnchanged per
  submission, from the submissions before/after; per assignment, the
  learners whose outcome under the attempt policy (over ALL their attempts
  at it) changes, computed here independently;
* preview_revert (after the apply): the same against what revert then
  does, and the mirror of the preview;
* previewing writes nothing: a transaction that only previews gets no
  transaction id.

One database per test function; every example gets a fresh tenant.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from helpers import (
    Correction,
    Item,
    acting_on,
    connect,
    create_tenant,
    evaluation_doc,
    generated_items,
    invariant_breaches,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

POLICIES = ("highest", "latest", "first")
BASE_TIME = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------------------
# Generated content
# ---------------------------------------------------------------------------


def items(count):
    return generated_items(count, points=[Fraction(1), Fraction(2), Fraction(3), Fraction(1, 2)])


@dataclass
class Attempt:
    submission_id: str
    user_id: str
    version_id: str
    assignment_id: str | None
    submitted_at: datetime
    answers: dict[str, frozenset[str]]

    def as_json(self) -> dict:
        doc = {
            "submission_id": self.submission_id,
            "evaluation_version_id": self.version_id,
            "user_id": self.user_id,
            "submitted_at": self.submitted_at.isoformat(),
            "answers": [{"question_version_id": qv, "selected": sorted(sel)} for qv, sel in self.answers.items()],
        }
        if self.assignment_id is not None:
            doc["assignment_id"] = self.assignment_id
        return doc


@st.composite
def answers_for(draw, version_items: list[Item]):
    presented = draw(st.lists(st.sampled_from(version_items), min_size=1, unique_by=lambda i: i.question_version_id))
    # Half the answers are right under the original key, so scores sit
    # around the pass marks and corrections flip outcomes.
    return {
        i.question_version_id: draw(
            st.one_of(st.just(i.correct), st.sets(st.sampled_from(i.options), max_size=len(i.options)).map(frozenset))
        )
        for i in presented
    }


def random_corrections(draw, versions: dict[str, list[Item]], attempts: list[Attempt], label: str) -> list[Correction]:
    targets = [(v, item) for v, its in versions.items() for item in its]
    corrections: list[Correction] = []
    seen = set()
    for n in range(draw(st.integers(1, 3), label=f"{label}: corrections")):
        version_id, item = draw(st.sampled_from(targets), label=f"{label}[{n}] target")
        kind = draw(st.sampled_from(["replace_key", "drop_item", "mark_correct"]), label=f"{label}[{n}] type")
        if (kind, version_id, item.question_version_id) in seen:
            continue
        seen.add((kind, version_id, item.question_version_id))
        qv = item.question_version_id
        if kind == "replace_key":
            # A key that differs from the original (when the item has one).
            keys = st.sets(st.sampled_from(item.options), min_size=1).map(frozenset)
            others = keys.filter(lambda k, item=item: k != item.correct)
            correct = draw(others if item.kind == "multiple_choice" or len(item.options) > 1 else keys)
            corrections.append(Correction(kind, version_id, qv, correct=correct))
        elif kind == "drop_item":
            corrections.append(Correction(kind, version_id, qv))
        else:
            holders = sorted(a.submission_id for a in attempts if a.version_id == version_id and qv in a.answers)
            scope = None
            if holders and draw(st.booleans(), label=f"{label}[{n}] scoped"):
                scope = frozenset(draw(st.sets(st.sampled_from(holders), min_size=1)))
            corrections.append(Correction(kind, version_id, qv, scope=scope))
    return corrections


# ---------------------------------------------------------------------------
# Reading the database, and the expectations computed from it
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    submission_id: str
    user_id: str
    assignment_id: str | None
    version_id: str
    attempt_no: int
    submitted_at: datetime
    score: Decimal
    max_score: Decimal
    passed: bool


def read_submissions(conn) -> dict[str, Row]:
    rows = conn.execute(
        """SELECT submission_id::text, user_id::text, assignment_id::text, evaluation_version_id::text,
                  attempt_no, submitted_at, score, max_score, passed
           FROM scoreledger.submissions"""
    ).fetchall()
    return {
        r["submission_id"]: Row(
            r["submission_id"],
            r["user_id"],
            r["assignment_id"],
            r["evaluation_version_id"],
            r["attempt_no"],
            r["submitted_at"],
            r["score"],
            r["max_score"],
            r["passed"],
        )
        for r in rows
    }


def fraction(row: Row) -> Fraction:
    """score/max_score, exactly; 0 when max_score is 0."""
    return Fraction(row.score) / Fraction(row.max_score) if row.max_score > 0 else Fraction(0)


def passes(row: Row, pass_marks: dict[str, Fraction]) -> bool:
    """Contract section 4: max_score > 0 and score >= pass_mark x max_score."""
    return row.max_score > 0 and Fraction(row.score) >= pass_marks[row.version_id] * Fraction(row.max_score)


def outcome(policy: str, attempts: list[Row], pass_marks: dict[str, Fraction]) -> bool:
    """The learner's assignment outcome: the pass/fail of the attempt the
    policy picks. highest: highest score/max_score, ties to the lowest
    attempt_no; latest: latest submitted_at, ties to the highest attempt_no;
    first: earliest submitted_at, ties to the lowest attempt_no."""
    if policy == "highest":
        chosen = min(attempts, key=lambda r: (-fraction(r), r.attempt_no))
    elif policy == "latest":
        chosen = max(attempts, key=lambda r: (r.submitted_at, r.attempt_no))
    else:
        chosen = min(attempts, key=lambda r: (r.submitted_at, r.attempt_no))
    return passes(chosen, pass_marks)


def expected_document(
    batch_id: str,
    rescored: set[str],
    before: dict[str, Row],
    after: dict[str, Row],
    assignments: dict[str, dict],
    pass_marks: dict[str, Fraction],
) -> dict:
    up = sum(1 for s in rescored if fraction(after[s]) > fraction(before[s]))
    down = sum(1 for s in rescored if fraction(after[s]) < fraction(before[s]))
    p2f = sum(1 for s in rescored if passes(before[s], pass_marks) and not passes(after[s], pass_marks))
    f2p = sum(1 for s in rescored if not passes(before[s], pass_marks) and passes(after[s], pass_marks))
    learners = {(before[s].assignment_id, before[s].user_id) for s in rescored if before[s].assignment_id}
    per_assignment: dict[str, dict] = {}
    for assignment_id, user_id in sorted(learners):
        policy = assignments[assignment_id]["attempt_policy"]

        def attempts(state: dict[str, Row], a=assignment_id, u=user_id) -> list[Row]:
            return [r for r in state.values() if r.assignment_id == a and r.user_id == u]

        was = outcome(policy, attempts(before), pass_marks)
        now = outcome(policy, attempts(after), pass_marks)
        entry = per_assignment.setdefault(
            assignment_id,
            {
                "assignment_id": assignment_id,
                "title": assignments[assignment_id]["title"],
                "programme": assignments[assignment_id]["programme"],
                "passToFail": [],
                "failToPass": [],
                "unchanged": 0,
            },
        )
        if was and not now:
            entry["passToFail"].append(user_id)
        elif now and not was:
            entry["failToPass"].append(user_id)
        else:
            entry["unchanged"] += 1
    return {
        "batch_id": batch_id,
        "submissionsAffected": len(rescored),
        "scoreUp": up,
        "scoreDown": down,
        "scoreUnchanged": len(rescored) - up - down,
        "passToFail": p2f,
        "failToPass": f2p,
        "outcomeUnchanged": len(rescored) - p2f - f2p,
        "assignments": per_assignment,
    }


def normalised(doc: dict) -> dict:
    """The preview document with assignments keyed by id, learner lists
    sorted (the contract fixes no order), the contract's keys only."""
    result = {
        k: doc[k]
        for k in (
            "batch_id",
            "submissionsAffected",
            "scoreUp",
            "scoreDown",
            "scoreUnchanged",
            "passToFail",
            "failToPass",
            "outcomeUnchanged",
        )
    }
    result["assignments"] = {}
    for entry in doc["assignments"]:
        assert entry["assignment_id"] not in result["assignments"], f"assignment listed twice: {entry}"
        for key in ("passToFail", "failToPass"):
            assert len(set(entry[key])) == len(entry[key]), f"a learner listed twice in {key}: {entry}"
        result["assignments"][entry["assignment_id"]] = {
            "assignment_id": entry["assignment_id"],
            "title": entry["title"],
            "programme": entry["programme"],
            "passToFail": sorted(entry["passToFail"]),
            "failToPass": sorted(entry["failToPass"]),
            "unchanged": entry["unchanged"],
        }
    return result


def mirrored(doc: dict) -> dict:
    """A preview seen from the other side: up <-> down, pass <-> fail."""
    result = dict(doc, scoreUp=doc["scoreDown"], scoreDown=doc["scoreUp"])
    result.update(passToFail=doc["failToPass"], failToPass=doc["passToFail"])
    result["assignments"] = [
        dict(a, passToFail=a["failToPass"], failToPass=a["passToFail"]) for a in doc["assignments"]
    ]
    return result


def history_of(conn, batch_id: str) -> list[str]:
    rows = conn.execute(
        "SELECT submission_id::text AS id FROM scoreledger.score_history WHERE correction_batch_id = %s", [batch_id]
    ).fetchall()
    return [r["id"] for r in rows]


def check_rows(rows: list[dict], rescored: set[str], before: dict[str, Row], after: dict[str, Row], label: str):
    ids = [r["submission_id"] for r in rows]
    assert len(ids) == len(set(ids)), f"{label}: a submission previewed twice"
    assert set(ids) == rescored, f"{label}: previewed {sorted(ids)} but apply rescored {sorted(rescored)}"
    for r in rows:
        sid = r["submission_id"]
        was, now = before[sid], after[sid]
        got = (r["user_id"], r["assignment_id"], r["old_score"], r["old_max_score"], r["new_score"], r["new_max_score"])
        want = (was.user_id, was.assignment_id, was.score, was.max_score, now.score, now.max_score)
        assert got == want, f"{label}: {sid}: preview {got}, database {want}"
        assert (r["old_passed"], r["new_passed"]) == (was.passed, now.passed), f"{label}: {sid}: pass/fail"


def check_document(doc: dict, expected: dict, label: str):
    got = normalised(doc)
    for key in expected:
        if key != "assignments":
            assert got[key] == expected[key], f"{label}: {key}: preview {got[key]}, apply/independent {expected[key]}"
    assert set(got["assignments"]) == set(expected["assignments"]), (
        f"{label}: assignments listed {sorted(got['assignments'])}, expected {sorted(expected['assignments'])}"
    )
    for assignment_id, entry in expected["assignments"].items():
        assert got["assignments"][assignment_id] == entry, (
            f"{label}: assignment {assignment_id}: preview {got['assignments'][assignment_id]}, expected {entry}"
        )


# ---------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_preview_equals_what_apply_and_revert_then_do(dsn, data):
    draw = data.draw
    actor = str(uuid.uuid4())

    # Content: version 1 has 3-4 items; version 2 has the same question
    # versions (so equal score/max_score across versions is common), or
    # shares only the first two and adds one; pass marks differ.
    v1_items = draw(items(draw(st.integers(3, 4), label="version 1 size")), label="version 1 items")
    v2_items = draw(st.sampled_from([list(v1_items), [*v1_items[:2], *draw(items(1), label="version 2 item")]]))
    evaluation_id, v1, v2 = (str(uuid.uuid4()) for _ in range(3))
    versions = {v1: v1_items, v2: v2_items}
    # Different pass marks, so equal score/max_score can still differ in
    # pass/fail across versions: the highest policy's tie-break matters.
    pass_marks = {
        v1: draw(st.sampled_from([Fraction(1, 2), Fraction(3, 5)]), label="v1 pass mark"),
        v2: draw(st.sampled_from([Fraction(3, 4), Fraction(9, 10)]), label="v2 pass mark"),
    }
    assignments = {
        str(uuid.uuid4()): {
            "title": f"Assignment {policy}",
            "programme": f"Programme {n}" if n else None,
            "attempt_policy": policy,
        }
        for n, policy in enumerate(POLICIES)
    }
    assignment_ids = list(assignments)

    attempts: list[Attempt] = []
    for user_no in range(draw(st.integers(4, 6), label="learners")):
        user_id = str(uuid.uuid4())
        home = draw(st.sampled_from(assignment_ids), label=f"learner {user_no} assignment")
        for _ in range(draw(st.integers(1, 4), label=f"learner {user_no} attempts")):
            assignment_id = draw(st.sampled_from([home, home, home, home, None, *assignment_ids]))
            version_id = draw(st.sampled_from([v1, v2]))
            # Three possible times: ties in submitted_at are common.
            submitted_at = BASE_TIME + timedelta(hours=draw(st.integers(0, 2)))
            answers = draw(answers_for(versions[version_id]))
            attempts.append(Attempt(str(uuid.uuid4()), user_id, version_id, assignment_id, submitted_at, answers))
    recording_order = draw(st.permutations(attempts), label="recording order")

    with connect(dsn, "preview") as conn:
        with conn.transaction():
            tenant = create_tenant(conn, f"preview-{uuid.uuid4().hex}")
        with acting_on(conn, tenant, actor):
            for version_no, (version_id, its) in enumerate(versions.items(), start=1):
                doc = evaluation_doc(
                    evaluation_id, version_id, its, version_no=version_no, pass_mark=float(pass_marks[version_id])
                )
                conn.execute("SELECT scoreledger.import_evaluation_version(%s)", [Jsonb(doc)])
            for assignment_id, a in assignments.items():
                conn.execute(
                    "SELECT scoreledger.upsert_assignment(%s)",
                    [Jsonb({"assignment_id": assignment_id, "evaluation_id": evaluation_id, **a})],
                )
            for attempt in recording_order:
                conn.execute("SELECT scoreledger.record_submission(%s)", [Jsonb(attempt.as_json())])

        def create(reason: str, corrections: list[Correction]) -> str:
            return str(
                conn.execute(
                    "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                    [reason, Jsonb([c.as_json() for c in corrections])],
                ).fetchone()["id"]
            )

        # A batch already in force, so the preview starts from corrected scores.
        with acting_on(conn, tenant, actor):
            prior = create("prior", random_corrections(draw, versions, attempts, "prior batch"))
            conn.execute("SELECT scoreledger.apply_correction_batch(%s)", [prior])
            corrections = random_corrections(draw, versions, attempts, "batch")
            batch = create("under test", corrections)
        label = f"batch {[c.as_json() for c in corrections]}"

        # Previewing writes nothing: a transaction that only previews is
        # never assigned a transaction id.
        with acting_on(conn, tenant, actor):
            conn.execute("SELECT scoreledger.preview_correction_batch(%s)", [batch])
            conn.execute("SELECT * FROM scoreledger.preview_correction_batch_changes(%s)", [batch])
            conn.execute("SELECT scoreledger.preview_revert(%s)", [prior])
            xid = conn.execute("SELECT txid_current_if_assigned() AS x").fetchone()["x"]
            assert xid is None, f"{label}: previewing wrote something (transaction id {xid} assigned)"

        # ---- apply -------------------------------------------------------
        with acting_on(conn, tenant, actor):
            before = read_submissions(conn)
            doc = conn.execute("SELECT scoreledger.preview_correction_batch(%s) AS d", [batch]).fetchone()["d"]
            rows = conn.execute(
                """SELECT submission_id::text, user_id::text, assignment_id::text, old_score, new_score,
                          old_max_score, new_max_score, old_passed, new_passed
                   FROM scoreledger.preview_correction_batch_changes(%s)""",
                [batch],
            ).fetchall()
            result = conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch]).fetchone()["r"]
            after = read_submissions(conn)
            rescored_list = history_of(conn, batch)

        for state in (before, after):
            for row in state.values():
                assert row.passed == passes(row, pass_marks), f"{label}: view passed disagrees with section 4: {row}"
        rescored = set(rescored_list)
        assert len(rescored_list) == len(rescored) == result["submissions_rescored"], f"{label}: one history row each"
        check_rows(rows, rescored, before, after, f"{label} (apply)")
        moved = sum(1 for r in rows if (r["old_score"], r["old_max_score"]) != (r["new_score"], r["new_max_score"]))
        assert doc["submissionsAffected"] == result["submissions_rescored"], (
            f"{label}: submissionsAffected {doc} vs {result}"
        )
        assert moved == result["scores_changed"], (
            f"{label}: {moved} preview rows move, apply changed {result['scores_changed']}"
        )
        expected = expected_document(batch, rescored, before, after, assignments, pass_marks)
        check_document(doc, expected, f"{label} (apply)")

        # ---- revert ------------------------------------------------------
        with acting_on(conn, tenant, actor):
            revert_doc = conn.execute("SELECT scoreledger.preview_revert(%s) AS d", [batch]).fetchone()["d"]
            compensating = str(
                conn.execute("SELECT scoreledger.revert_correction_batch(%s, 'undo') AS id", [batch]).fetchone()["id"]
            )
            revert_result = conn.execute(
                "SELECT scoreledger.get_correction_batch(%s)->'apply_result' AS r", [compensating]
            ).fetchone()["r"]
            reverted = read_submissions(conn)
            rescored_back = history_of(conn, compensating)

        assert revert_doc["submissionsAffected"] == revert_result["submissions_rescored"] == len(rescored_back), (
            f"{label}: preview_revert {revert_doc} vs revert {revert_result}"
        )
        expected_back = expected_document(batch, set(rescored_back), after, reverted, assignments, pass_marks)
        check_document(revert_doc, expected_back, f"{label} (revert)")
        # Nothing intervened: reverting is applying seen from the other side.
        check_document(revert_doc, normalised(mirrored(doc)), f"{label} (revert mirrors apply)")

    assert invariant_breaches(dsn) == []
