"""Recording goes on while a batch is applied (issue 16: "recording does not
stall while a big batch is applied"), with real connections interleaved on
purpose, in the style of test_concurrency.py.

Apply and revert rescore in two passes (rescore_batch, sql/49_rescoring.sql):
a bulk pass over the submissions recorded before it started, beside
recording, then a catch-up under the evaluation versions' exclusive locks
over those recorded meanwhile, and the batch takes effect at the commit.
The contract's rule holds: a submission recorded while a batch is applied
ends scored under the corrections active when it commits, with exactly one
history row of the batch.

To hold an apply inside its bulk pass, the test locks (as the superuser,
outside the API) one submission row the bulk pass must rescore: the apply
is then seen waiting on that row, after its floor and before its catch-up.
Before the two passes, the apply held the version's lock exclusively all
along, and every recording on the version waited for its commit.
"""

from __future__ import annotations

import time
import uuid
from fractions import Fraction

import pytest
from helpers import (
    Correction,
    Model,
    Submission,
    acting_on,
    begin_acting,
    connect,
    invariant_breaches,
    lock_waits,
    submission_doc,
    waiting_on_lock,
)
from scoreledger import db
from test_attempts_concurrency import gate  # noqa: F401  (the fixture, for the rule's test)
from test_concurrency import (
    WAIT_TIMEOUT,
    Worker,
    add_version,
    apply_call,
    assert_scores_match_model,
    create_batch,
    history,
    join_all,
    record_call,
    wait_until_waiting,
)


@pytest.fixture
def world(dsn, tenant, actor):
    """One evaluation version with 24 submissions, and a model of it."""
    world = {"dsn": dsn, "tenant": tenant, "actor": actor, "model": Model()}
    world["version_id"], world["q"] = add_version(world, 24)
    return world


def hold_rows(dsn: str, table: str, where: str, params: list):
    """A superuser's transaction holding rows of a private table FOR UPDATE
    (the test's way to stop a call at a known point); roll it back to let go."""
    holder = db.connect(dsn, application_name="row-holder")
    held = holder.execute(f"SELECT 1 FROM scoreledger_private.{table} WHERE {where} FOR UPDATE", params).fetchall()
    assert held, f"no {table} row to hold"
    return holder


def wait_for_events(dsn: str, expected: dict[str, str]) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    seen: dict[str, str] = {}
    while time.monotonic() < deadline:
        seen = lock_waits(dsn, list(expected))
        if seen == expected:
            return
        time.sleep(0.02)
    pytest.fail(f"expected the backends to wait on {expected}, saw {seen}")


def changed_by(model: Model, batch_id: str, q1: str) -> str:
    """A submission whose score the batch changes (q1 answered B, whose key
    the batches below move): the bulk pass must update its row."""
    reached = model.reach(model.batches[batch_id])
    return next(sid for sid in sorted(reached) if model.submissions[sid].answers.get(q1) == frozenset("B"))


def record_and_commit(world, name: str, sub: Submission) -> Worker:
    doc = submission_doc(sub.submission_id, sub.version_id, str(uuid.uuid4()), sub.answers)
    recorder = Worker(world["dsn"], world["tenant"], world["actor"], name, record_call(doc))
    recorder.start()
    return recorder


def stored(world, submission_id: str) -> tuple[Fraction, Fraction]:
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        row = conn.execute(
            "SELECT score, max_score FROM scoreledger.submissions WHERE submission_id = %s", [submission_id]
        ).fetchone()
    return Fraction(row["score"]), Fraction(row["max_score"])


def test_a_recording_during_the_bulk_pass_commits_at_once_and_ends_under_the_batch(world):
    """Interleaving: an apply of replace_key(q1 -> C) is held inside its bulk
    pass (seen waiting on a submission row); a learner records a submission
    on the same version and commits while the apply still waits; the row is
    let go, the apply catches up and commits.

    Safe: the recording did not wait for the apply (before: it waited for
    the apply's commit); it was scored under the key in force when it
    committed (B), then the apply's catch-up rescored it under C: two
    history rows, the second the batch's, and the apply counts it. Every
    score matches the rules; check reports nothing."""
    q1, q2, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    batch_id = create_batch(world, "q1 key C", [Correction("replace_key", version_id, q1, frozenset("C"))])
    holder = hold_rows(world["dsn"], "submissions", "submission_id = %s", [changed_by(model, batch_id, q1)])
    applier = Worker(world["dsn"], world["tenant"], world["actor"], "apply-bulk", apply_call(batch_id))
    applier.start()
    assert wait_until_waiting(world["dsn"], ["apply-bulk"], 1) == ["apply-bulk"]

    new_sub = Submission(str(uuid.uuid4()), version_id, {q1: frozenset("C"), q2: frozenset("AB"), q3: frozenset("A")})
    recorder = record_and_commit(world, "record-beside", new_sub)
    join_all([recorder])
    assert recorder.result == new_sub.submission_id
    assert waiting_on_lock(world["dsn"], ["apply-bulk"]) == ["apply-bulk"], "the apply is still in its bulk pass"
    model.record(new_sub)
    # Committed under the key in force: q1 C is wrong under B. 0 + 2 + 1.
    assert stored(world, new_sub.submission_id) == (3, 6) == model.score(new_sub.submission_id)

    holder.rollback()
    holder.close()
    join_all([applier])
    expected_rescored, expected_changed = model.apply(batch_id)
    assert applier.result == {
        "batch_id": batch_id,
        "status": "applied",
        "submissions_rescored": expected_rescored,
        "scores_changed": expected_changed,
        "already_applied": False,
    }
    rows = [r for r in history(world) if r["submission_id"] == new_sub.submission_id]
    assert [r["batch_id"] for r in rows] == [None, batch_id]
    assert (
        (Fraction(rows[-1]["score"]), Fraction(rows[-1]["max_score"])) == (4, 6) == model.score(new_sub.submission_id)
    )
    batch_rows = history(world, batch_id)
    assert sorted(r["submission_id"] for r in batch_rows) == sorted(model.reach(model.batches[batch_id])), (
        "one history row of the batch per reached submission, the caught-up one included"
    )
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        figures = conn.execute(
            "SELECT submissions_affected FROM scoreledger.batch_next_actions WHERE batch_id = %s", [batch_id]
        ).fetchone()
    assert figures["submissions_affected"] == expected_rescored, "the stored figures count both passes"
    assert_scores_match_model(world)


def test_a_recording_during_a_revert_bulk_pass_ends_without_the_batch(world):
    """Interleaving: replace_key(q1 -> C) is applied; its revert is held
    inside its bulk pass; a learner records on the version and commits (under
    C, still in force); the revert catches up and commits.

    Safe: the recording did not wait; it ends scored without the batch (key
    B), with a history row of the compensating batch, which counts it."""
    q1, q2, _ = world["q"]
    model, version_id = world["model"], world["version_id"]
    batch_id = create_batch(world, "q1 key C", [Correction("replace_key", version_id, q1, frozenset("C"))])
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        conn.execute("SELECT scoreledger.apply_correction_batch(%s)", [batch_id])
    model.apply(batch_id)

    def revert(conn):
        return str(
            conn.execute("SELECT scoreledger.revert_correction_batch(%s, 'B was right') AS id", [batch_id]).fetchone()[
                "id"
            ]
        )

    holder = hold_rows(world["dsn"], "submissions", "submission_id = %s", [changed_by(model, batch_id, q1)])
    reverter = Worker(world["dsn"], world["tenant"], world["actor"], "revert-bulk", revert)
    reverter.start()
    assert wait_until_waiting(world["dsn"], ["revert-bulk"], 1) == ["revert-bulk"]
    new_sub = Submission(str(uuid.uuid4()), version_id, {q1: frozenset("B"), q2: frozenset("A")})
    recorder = record_and_commit(world, "record-beside", new_sub)
    join_all([recorder])
    assert waiting_on_lock(world["dsn"], ["revert-bulk"]) == ["revert-bulk"]
    model.record(new_sub)
    assert stored(world, new_sub.submission_id) == (0, 3) == model.score(new_sub.submission_id)  # under C

    holder.rollback()
    holder.close()
    join_all([reverter])
    model.revert(batch_id)
    compensating = reverter.result
    rows = [r for r in history(world) if r["submission_id"] == new_sub.submission_id]
    assert [r["batch_id"] for r in rows] == [None, compensating]
    assert stored(world, new_sub.submission_id) == (1, 3) == model.score(new_sub.submission_id)  # under B again
    assert sorted(r["submission_id"] for r in history(world, compensating)) == sorted(
        model.reach(model.batches[batch_id])
    )
    assert_scores_match_model(world)


def test_a_second_apply_on_the_version_waits_for_the_first_while_recording_goes_on(world):
    """Interleaving: apply A (replace_key q1 -> C) is held inside its bulk
    pass; apply B (drop_item q2, same version) is started and seen waiting
    on the version's rescoring lock; a recording on the version commits
    meanwhile; A is let go.

    Safe: one rescoring per version at a time (B never reads scores A is
    writing); both succeed, the recorded submission gets one history row of
    each batch, and every score matches the rules with both in force."""
    q1, q2, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    a = create_batch(world, "q1 key C", [Correction("replace_key", version_id, q1, frozenset("C"))])
    b = create_batch(world, "q2 dropped", [Correction("drop_item", version_id, q2)])
    holder = hold_rows(world["dsn"], "submissions", "submission_id = %s", [changed_by(model, a, q1)])
    first = Worker(world["dsn"], world["tenant"], world["actor"], "apply-a", apply_call(a))
    first.start()
    assert wait_until_waiting(world["dsn"], ["apply-a"], 1) == ["apply-a"]
    second = Worker(world["dsn"], world["tenant"], world["actor"], "apply-b", apply_call(b))
    second.start()
    wait_for_events(world["dsn"], {"apply-a": "transactionid", "apply-b": "advisory"})

    new_sub = Submission(str(uuid.uuid4()), version_id, {q1: frozenset("C"), q2: frozenset("AB"), q3: frozenset("ABC")})
    recorder = record_and_commit(world, "record-beside", new_sub)
    join_all([recorder])
    model.record(new_sub)
    assert sorted(waiting_on_lock(world["dsn"], ["apply-a", "apply-b"])) == ["apply-a", "apply-b"]

    holder.rollback()
    holder.close()
    join_all([first, second])
    assert first.result["already_applied"] is False and second.result["already_applied"] is False
    model.apply(a)
    model.apply(b)
    rows = [r for r in history(world) if r["submission_id"] == new_sub.submission_id]
    assert [r["batch_id"] for r in rows] == [None, a, b]
    assert model.score(new_sub.submission_id) == (4, 4)
    assert_scores_match_model(world)


def test_a_duplicate_recording_queued_behind_the_floor_skips_a_row_the_bulk_pass_holds(world, dsn):
    """The interleaving that would deadlock an apply with a recording: R1
    records submission X and stays open; R0 (another learner) too. The
    apply's floor waits for both; R2 records X again (a retried import): it
    parses before X is committed (so X is new to it) and queues behind the
    floor. R1 commits X. The learner's attempt counter is held (so R2 stops
    after taking the version's lock, before it inserts); R0 commits: the
    floor is taken, R2 gets the version's lock and waits on the counter, and
    the apply's bulk pass rescores X (its row now the apply's) and waits for
    the version's lock, which R2 holds. The counter is let go.

    Safe: R2's insert sees X committed and skips it (an identical
    re-recording, a no-op) instead of waiting for the apply's row while
    holding the lock the apply waits for: no deadlock (40P01), no error; X
    is recorded once, with one history row of the batch."""
    q1, q2, _ = world["q"]
    model, version_id = world["model"], world["version_id"]
    batch_id = create_batch(world, "q1 key C", [Correction("replace_key", version_id, q1, frozenset("C"))])
    learner = str(uuid.uuid4())
    x = Submission(str(uuid.uuid4()), version_id, {q1: frozenset("B"), q2: frozenset("AB")})
    x_doc = submission_doc(x.submission_id, version_id, learner, x.answers)
    other = Submission(str(uuid.uuid4()), version_id, {q1: frozenset("B")})

    r1 = connect(dsn, "r1")
    begin_acting(r1, world["tenant"], world["actor"])
    record_call(x_doc)(r1)
    r0 = connect(dsn, "r0")
    begin_acting(r0, world["tenant"], world["actor"])
    record_call(submission_doc(other.submission_id, version_id, str(uuid.uuid4()), other.answers))(r0)
    applier = Worker(dsn, world["tenant"], world["actor"], "apply-floor", apply_call(batch_id))
    applier.start()
    wait_for_events(dsn, {"apply-floor": "advisory"})
    r2 = Worker(dsn, world["tenant"], world["actor"], "r2", record_call(x_doc))
    r2.start()
    wait_for_events(dsn, {"apply-floor": "advisory", "r2": "advisory"})
    r1.commit()
    with db.connect(dsn, autocommit=True) as conn:
        evaluation_id = conn.execute(
            "SELECT evaluation_id FROM scoreledger_private.evaluation_versions WHERE evaluation_version_id = %s",
            [version_id],
        ).fetchone()["evaluation_id"]
    holder = hold_rows(dsn, "attempt_counters", "evaluation_id = %s AND user_id = %s", [evaluation_id, learner])
    r0.commit()
    wait_for_events(dsn, {"apply-floor": "advisory", "r2": "transactionid"})

    holder.rollback()
    for conn in (holder, r0, r1):
        conn.close()
    join_all([r2, applier])
    assert r2.result == x.submission_id
    model.record(x)
    model.record(other)
    model.apply(batch_id)
    rows = [r for r in history(world) if r["submission_id"] == x.submission_id]
    assert [r["batch_id"] for r in rows] == [None, batch_id]
    assert_scores_match_model(world)


def test_the_rule_sees_the_caught_up_scores(gate):  # noqa: F811  (the fixture imported above)
    """Interleaving: a learner has one failed attempt (the rule: an
    intervention after two); a batch making every attempt pass (q2 key C) is
    held inside its bulk pass; the learner records a second failed attempt
    (under key A) and commits: the recording opens an intervention. The
    apply catches the attempt up and re-evaluates the rule.

    Safe: the recording did not wait; the rule ran over the final scores
    (both attempts pass), so the batch withdrew the intervention, and its
    stored figures say so; check (which runs the rule over every learner)
    reports nothing."""
    gate["setup"](intervention_after_fails=2)
    user = str(uuid.uuid4())
    gate["record"](user, "C")
    batch = gate["create_key_c_batch"]()
    [first] = gate["query"]("SELECT submission_id FROM scoreledger.submissions WHERE user_id = %s", [user])
    holder = hold_rows(gate["dsn"], "submissions", "submission_id = %s", [first["submission_id"]])
    applier = Worker(gate["dsn"], gate["tenant"], gate["actor"], "apply-bulk", apply_call(batch))
    applier.start()
    assert wait_until_waiting(gate["dsn"], ["apply-bulk"], 1) == ["apply-bulk"]
    recorder = Worker(gate["dsn"], gate["tenant"], gate["actor"], "record-beside", record_call(gate["doc"](user, "C")))
    recorder.start()
    join_all([recorder])
    opened = gate["query"]("SELECT status FROM scoreledger.interventions WHERE user_id = %s", [user])
    assert [r["status"] for r in opened] == ["open"], "the recording's second failure opened one"

    holder.rollback()
    holder.close()
    join_all([applier])
    assert applier.result["submissions_rescored"] == 2
    [row] = gate["query"]("SELECT status, closed_by_batch_id FROM scoreledger.interventions WHERE user_id = %s", [user])
    assert (row["status"], str(row["closed_by_batch_id"])) == ("withdrawn", batch)
    [figures] = gate["query"](
        "SELECT interventions_opened, interventions_withdrawn FROM scoreledger.batch_next_actions WHERE batch_id = %s",
        [batch],
    )
    assert (figures["interventions_opened"], figures["interventions_withdrawn"]) == (0, 1)
    assert invariant_breaches(gate["dsn"]) == []
