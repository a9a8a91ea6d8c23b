"""Concurrency of apply and record, with real connections interleaved on
purpose (contract section 5, "Apply"): concurrent applies of one batch do
the work once; concurrent applies of batches on overlapping submissions
both succeed and leave every score equal to the rules; a submission
recorded while a batch is applied ends scored under the corrections active
when it commits. No caller ever sees a deadlock or serialization error.

Each test opens its own connections (as scoreledger_app, tenant context
set), forces the interleaving it names (a barrier, and transactions held
open after the call), proves that the interleaving really happened (the
other backend is seen waiting on a lock in pg_stat_activity), and then
checks the outcome against an independent computation and
scoreledger.check_invariants().
"""

from __future__ import annotations

import threading
import time
import uuid
from fractions import Fraction

import pytest
from helpers import (
    Batch,
    Correction,
    Model,
    Submission,
    acting_on,
    begin_acting,
    connect,
    evaluation_doc,
    invariant_breaches,
    score_mismatches,
    standard_items,
    stored_scores,
    submission_doc,
    waiting_on_lock,
)
from psycopg.types.json import Jsonb

HOLD_SECONDS = 0.5  # how long a transaction stays open after its call
WAIT_TIMEOUT = 10.0


def wait_until_waiting(dsn: str, names: list[str], count: int) -> list[str]:
    """Poll until `count` of the named backends wait on a lock; fail otherwise."""
    deadline = time.monotonic() + WAIT_TIMEOUT
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = waiting_on_lock(dsn, names)
        if len(seen) >= count:
            return seen
        time.sleep(0.02)
    pytest.fail(f"expected {count} of {names} to be waiting on a lock, saw {seen}")


class Worker(threading.Thread):
    """Runs `work(conn)` in its own transaction as the application and
    records its result or exception; `hold` keeps the transaction open for a
    while after the call (so the others run into its locks)."""

    def __init__(self, dsn, tenant, actor, name, work, barrier=None, hold=0.0, hold_when=None):
        super().__init__(name=name, daemon=True)
        self.dsn, self.tenant, self.actor, self.work = dsn, tenant, actor, work
        self.barrier, self.hold, self.hold_when = barrier, hold, hold_when
        self.result = None
        self.error: BaseException | None = None
        self.finished_call = threading.Event()

    def run(self):
        try:
            with connect(self.dsn, self.name) as conn:
                begin_acting(conn, self.tenant, self.actor)
                if self.barrier is not None:
                    self.barrier.wait(timeout=WAIT_TIMEOUT)
                self.result = self.work(conn)
                self.finished_call.set()
                if self.hold_when is None or self.hold_when(self.result):
                    time.sleep(self.hold)
                conn.commit()
        except BaseException as exc:  # reported by the test
            self.error = exc
            self.finished_call.set()


def join_all(workers):
    for w in workers:
        w.join(timeout=WAIT_TIMEOUT * 3)
        assert not w.is_alive(), f"{w.name} did not finish"
    errors = {w.name: w.error for w in workers if w.error is not None}
    assert not errors, f"no caller may see an error (deadlock, serialization, ...): {errors!r}"


def apply_call(batch_id):
    def work(conn):
        return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch_id]).fetchone()["r"]

    return work


def record_call(doc):
    def work(conn):
        return str(conn.execute("SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc)]).fetchone()["id"])

    return work


CHOICES = [
    ("B", "AB", "ABC"),
    ("A", "A", "AD"),
    ("C", "ABC", "AB"),
    ("B", "", "D"),
    ("D", None, "BC"),
    ("C", "AB", None),
    (None, "B", "ABCD"),
    ("A", "AC", ""),
]


def add_version(world, submissions: int) -> tuple[str, tuple[str, str, str]]:
    """Imports an evaluation version with the pgTAP suite's three items and
    records `submissions` submissions over 12 users (so two attempts each
    for 24; a few items not presented). Returns (version id, item ids)."""
    model = world["model"]
    items = standard_items()
    version_id = str(uuid.uuid4())
    model.versions[version_id] = {i.question_version_id: i for i in items}
    qvs = tuple(i.question_version_id for i in items)
    docs = []
    for n in range(submissions):
        picks = CHOICES[n % len(CHOICES)]
        answers = {qv: frozenset(sel) for qv, sel in zip(qvs, picks, strict=True) if sel is not None}
        sub = Submission(str(uuid.uuid4()), version_id, answers)
        model.record(sub)
        docs.append(submission_doc(sub.submission_id, version_id, str(uuid.UUID(int=n % 12 + 1)), answers))
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version_id, items))],
        )
        assert (
            conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"] == submissions
        )
    return version_id, qvs


@pytest.fixture
def world(dsn, tenant, actor):
    """One evaluation version with 24 submissions, and a model of it."""
    world = {"dsn": dsn, "tenant": tenant, "actor": actor, "model": Model()}
    world["version_id"], world["q"] = add_version(world, 24)
    return world


def create_batch(world, reason, corrections: list[Correction]) -> str:
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        batch_id = str(
            conn.execute(
                "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                [reason, Jsonb([c.as_json() for c in corrections])],
            ).fetchone()["id"]
        )
    world["model"].batches[batch_id] = Batch(batch_id, corrections)
    return batch_id


def history(world, batch_id=None) -> list[dict]:
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        return conn.execute(
            "SELECT submission_id::text AS submission_id, correction_batch_id::text AS batch_id, score, max_score"
            " FROM scoreledger.score_history WHERE %s::uuid IS NULL OR correction_batch_id = %s::uuid ORDER BY id",
            [batch_id, batch_id],
        ).fetchall()


def assert_scores_match_model(world):
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        stored = stored_scores(conn)
    assert score_mismatches(world["model"].scores(), stored) == []
    assert invariant_breaches(world["dsn"]) == []


def test_eight_concurrent_applies_of_one_batch_do_the_work_once(world):
    """Interleaving: 8 transactions pass a barrier together and call
    apply_correction_batch on the same draft; the first holds its
    transaction open, the other 7 are seen blocked on the batch's lock, then
    each proceeds after the first commits.

    Safe: exactly one apply does the work (already_applied false), the other
    7 return the same result with already_applied true, no error; exactly
    one history row per reached submission carries the batch id."""
    q1, _, _ = world["q"]
    batch_id = create_batch(world, "q1 key is C", [Correction("replace_key", world["version_id"], q1, frozenset("C"))])
    expected_rescored, expected_changed = world["model"].apply(batch_id)

    barrier = threading.Barrier(8)
    # Only the apply that does the work holds its transaction open (long
    # enough for all 7 others to queue up behind it, even on a busy machine).
    workers = [
        Worker(
            world["dsn"],
            world["tenant"],
            world["actor"],
            f"apply-{n}",
            apply_call(batch_id),
            barrier,
            hold=1.5,
            hold_when=lambda result: not result["already_applied"],
        )
        for n in range(8)
    ]
    for w in workers:
        w.start()
    # While the winner holds its transaction open, the 7 others are blocked.
    assert len(wait_until_waiting(world["dsn"], [w.name for w in workers], 7)) == 7
    join_all(workers)

    results = [w.result for w in workers]
    assert sorted(r["already_applied"] for r in results) == [False] + [True] * 7
    for r in results:
        assert {k: v for k, v in r.items() if k != "already_applied"} == {
            "batch_id": batch_id,
            "status": "applied",
            "submissions_rescored": expected_rescored,
            "scores_changed": expected_changed,
        }
    rows = history(world, batch_id)
    assert len(rows) == expected_rescored == 21  # every submission presenting q1
    assert len({r["submission_id"] for r in rows}) == len(rows), "one history row per submission"
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        events = conn.execute("SELECT scoreledger.get_correction_batch(%s) -> 'events' AS e", [batch_id]).fetchone()[
            "e"
        ]
    assert [e["to"] for e in events] == ["draft", "applied"], "one apply event, not eight"
    assert_scores_match_model(world)


def test_concurrent_applies_of_batches_on_overlapping_submissions_both_succeed(world):
    """Interleaving: three drafts on different items of the same evaluation
    version (replace_key q1, drop_item q2, mark_correct q3 scoped to some
    submissions) reach most submissions in common; three transactions pass a
    barrier and apply one each at the same moment, each holding its
    transaction open after the call; two are seen blocked while the first
    holds.

    Safe: all three succeed (already_applied false), each writes exactly one
    history row per submission it reaches, and every final score equals the
    model's scoring under all three batches (and check_invariants is clean)."""
    q1, q2, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    scoped = frozenset(
        sid for n, (sid, sub) in enumerate(model.submissions.items()) if q3 in sub.answers and n % 2 == 0
    )
    batches = [
        create_batch(world, "q1 key C", [Correction("replace_key", version_id, q1, frozenset("C"))]),
        create_batch(world, "q2 dropped", [Correction("drop_item", version_id, q2)]),
        create_batch(world, "q3 for some", [Correction("mark_correct", version_id, q3, scope=scoped)]),
    ]
    reach = {b: model.reach(model.batches[b]) for b in batches}
    assert reach[batches[0]] & reach[batches[1]] & reach[batches[2]], "the batches overlap"

    barrier = threading.Barrier(3)
    workers = [
        Worker(world["dsn"], world["tenant"], world["actor"], f"apply-{n}", apply_call(b), barrier, HOLD_SECONDS)
        for n, b in enumerate(batches)
    ]
    for w in workers:
        w.start()
    wait_until_waiting(world["dsn"], [w.name for w in workers], 2)
    join_all(workers)

    for w, b in zip(workers, batches, strict=True):
        assert w.result["already_applied"] is False
        assert w.result["status"] == "applied"
        assert w.result["submissions_rescored"] == len(reach[b])
        rows = history(world, b)
        assert sorted(r["submission_id"] for r in rows) == sorted(reach[b]), "one row per reached submission"
    # The applies happened in some order; the final scores do not depend on
    # it here (different items), so apply them to the model in any order.
    for b in batches:
        model.apply(b)
    assert_scores_match_model(world)
    # Explicitly: q2 dropped for everyone, q3 full marks for the scoped ones.
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        stored = stored_scores(conn)
    for sid in scoped:
        sub = model.submissions[sid]
        expected_max = sum(
            (i.points for qv, i in model.versions[version_id].items() if qv in sub.answers and qv != q2), Fraction(0)
        )
        assert Fraction(stored[sid][1]) == expected_max


def test_submission_recorded_while_a_batch_is_being_applied_is_scored_under_it(world):
    """Interleaving: apply's transaction calls apply_correction_batch and
    stays open; another transaction then calls record_submission for the
    same evaluation version and is seen blocked; the apply commits; the
    record proceeds and commits.

    Safe: the recorded submission ends scored under the batch's corrections
    (its first and only history row is already under them), and every score
    matches the rules."""
    q1, q2, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    batch_id = create_batch(
        world,
        "q1 key C, q3 key D",
        [
            Correction("replace_key", version_id, q1, frozenset("C")),
            Correction("replace_key", version_id, q3, frozenset("D")),
        ],
    )
    answers = {q1: frozenset("C"), q2: frozenset("AB"), q3: frozenset("D")}
    new_sub = Submission(str(uuid.uuid4()), version_id, answers)
    doc = submission_doc(new_sub.submission_id, version_id, str(uuid.uuid4()), answers)

    with connect(world["dsn"], "apply-first") as apply_conn:
        begin_acting(apply_conn, world["tenant"], world["actor"])
        result = apply_call(batch_id)(apply_conn)
        assert result["already_applied"] is False
        recorder = Worker(world["dsn"], world["tenant"], world["actor"], "record-second", record_call(doc))
        recorder.start()
        assert wait_until_waiting(world["dsn"], ["record-second"], 1) == ["record-second"]
        assert not recorder.finished_call.is_set(), "record_submission must wait for the apply"
        apply_conn.commit()
    join_all([recorder])
    assert recorder.result == new_sub.submission_id

    model.apply(batch_id)
    model.record(new_sub)
    rows = [r for r in history(world) if r["submission_id"] == new_sub.submission_id]
    assert len(rows) == 1 and rows[0]["batch_id"] is None
    # Under the batch: q1 (key C) 1 + q2 2 + q3 (key D) 3 = 6 of 6; under
    # the original keys it would have been 0 + 2 + 0.
    assert (Fraction(rows[0]["score"]), Fraction(rows[0]["max_score"])) == (6, 6) == model.score(new_sub.submission_id)
    assert_scores_match_model(world)


def test_apply_started_while_a_submission_is_being_recorded_includes_it(world):
    """Interleaving: a transaction calls record_submission and stays open;
    another transaction then calls apply_correction_batch on a batch for
    that evaluation version and is seen blocked; the record commits; the
    apply proceeds and commits.

    Safe: the apply includes the new submission (it is counted in
    submissions_rescored and gets a history row with the batch id), which
    ends scored under the batch's corrections; every score matches the
    rules."""
    q1, q2, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    batch_id = create_batch(world, "q2 for everyone", [Correction("mark_correct", version_id, q2)])
    answers = {q1: frozenset("B"), q2: frozenset("C"), q3: frozenset("AB")}
    new_sub = Submission(str(uuid.uuid4()), version_id, answers)
    doc = submission_doc(new_sub.submission_id, version_id, str(uuid.uuid4()), answers)
    reach_before = len(model.reach(model.batches[batch_id]))

    with connect(world["dsn"], "record-first") as record_conn:
        begin_acting(record_conn, world["tenant"], world["actor"])
        assert record_call(doc)(record_conn) == new_sub.submission_id
        applier = Worker(world["dsn"], world["tenant"], world["actor"], "apply-second", apply_call(batch_id))
        applier.start()
        assert wait_until_waiting(world["dsn"], ["apply-second"], 1) == ["apply-second"]
        assert not applier.finished_call.is_set(), "apply must wait for the recording"
        record_conn.commit()
    join_all([applier])

    model.record(new_sub)
    expected_rescored, expected_changed = model.apply(batch_id)
    assert expected_rescored == reach_before + 1
    assert applier.result == {
        "batch_id": batch_id,
        "status": "applied",
        "submissions_rescored": expected_rescored,
        "scores_changed": expected_changed,
        "already_applied": False,
    }
    rows = [r for r in history(world) if r["submission_id"] == new_sub.submission_id]
    assert [r["batch_id"] for r in rows] == [None, batch_id]
    # q1 1 + q2 (marked correct) 2 + q3 3·(2−0)/3 = 2 → 5 of 6.
    assert (
        (Fraction(rows[-1]["score"]), Fraction(rows[-1]["max_score"])) == (5, 6) == model.score(new_sub.submission_id)
    )
    assert_scores_match_model(world)


def test_revert_and_apply_on_the_same_item_at_the_same_moment(world):
    """Interleaving: batch A (replace_key q1) is applied; then, at the same
    moment (barrier), one transaction reverts A while another applies a
    draft B (drop_item q1 plus replace_key q3) on the same item and the same
    submissions; each holds its transaction open after the call; one is seen
    blocked.

    Safe: both succeed, no error; A ends reverted, B applied, and every
    score equals the rules under B alone."""
    q1, _, q3 = world["q"]
    model, version_id = world["model"], world["version_id"]
    a = create_batch(world, "q1 key A", [Correction("replace_key", version_id, q1, frozenset("A"))])
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        conn.execute("SELECT scoreledger.apply_correction_batch(%s)", [a])
    model.apply(a)
    b = create_batch(
        world,
        "q1 dropped, q3 key D",
        [Correction("drop_item", version_id, q1), Correction("replace_key", version_id, q3, frozenset("D"))],
    )

    def revert_a(conn):
        return str(
            conn.execute("SELECT scoreledger.revert_correction_batch(%s, 'A was wrong') AS id", [a]).fetchone()["id"]
        )

    barrier = threading.Barrier(2)
    workers = [
        Worker(world["dsn"], world["tenant"], world["actor"], "revert-a", revert_a, barrier, HOLD_SECONDS),
        Worker(world["dsn"], world["tenant"], world["actor"], "apply-b", apply_call(b), barrier, HOLD_SECONDS),
    ]
    for w in workers:
        w.start()
    wait_until_waiting(world["dsn"], [w.name for w in workers], 1)
    join_all(workers)

    assert workers[1].result["already_applied"] is False
    model.revert(a)
    model.apply(b)
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        statuses = {
            str(r["id"]): r["status"]
            for r in conn.execute("SELECT id, status FROM scoreledger.list_correction_batches()").fetchall()
        }
    assert statuses[a] == "reverted" and statuses[b] == "applied" and statuses[workers[0].result] == "applied"
    assert_scores_match_model(world)


def test_batches_over_two_versions_and_a_bulk_record_at_the_same_moment_do_not_deadlock(world):
    """Interleaving: two evaluation versions; batch X corrects items of
    version 1 then version 2, batch Y lists version 2's item before version
    1's, and a bulk record_submissions call lists a version 2 document
    before a version 1 document. The three transactions pass a barrier and
    call at the same moment, each holding its transaction open after the
    call; two are seen blocked.

    Safe: locks are taken in one order whatever the order in the documents,
    so there is no deadlock and no error; all three succeed and every score
    equals the rules with both batches in force."""
    model = world["model"]
    v1, (a1, a2, a3) = world["version_id"], world["q"]
    v2, (b1, b2, b3) = add_version(world, 12)
    x = create_batch(world, "X", [Correction("replace_key", v1, a1, frozenset("C")), Correction("drop_item", v2, b2)])
    y = create_batch(
        world, "Y", [Correction("mark_correct", v2, b3), Correction("replace_key", v1, a3, frozenset("AD"))]
    )
    new_subs = [
        Submission(str(uuid.uuid4()), v2, {b1: frozenset("B"), b2: frozenset("AB"), b3: frozenset("A")}),
        Submission(str(uuid.uuid4()), v1, {a1: frozenset("C"), a2: frozenset("A"), a3: frozenset("AD")}),
    ]
    docs = [submission_doc(s.submission_id, s.version_id, str(uuid.uuid4()), s.answers) for s in new_subs]

    def record_both(conn):
        return conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"]

    barrier = threading.Barrier(3)
    workers = [
        Worker(world["dsn"], world["tenant"], world["actor"], "apply-x", apply_call(x), barrier, HOLD_SECONDS),
        Worker(world["dsn"], world["tenant"], world["actor"], "apply-y", apply_call(y), barrier, HOLD_SECONDS),
        Worker(world["dsn"], world["tenant"], world["actor"], "record-both", record_both, barrier, HOLD_SECONDS),
    ]
    for w in workers:
        w.start()
    wait_until_waiting(world["dsn"], [w.name for w in workers], 2)
    join_all(workers)

    assert workers[0].result["already_applied"] is False and workers[1].result["already_applied"] is False
    assert workers[2].result == 2
    for sub in new_subs:
        model.record(sub)
    model.apply(x)
    model.apply(y)
    assert_scores_match_model(world)


def test_two_reverts_of_one_batch_at_the_same_moment(world):
    """Interleaving: a batch is applied; two transactions pass a barrier and
    revert it at the same moment; the first holds its transaction open after
    the call and the second is seen blocked on the batch.

    Safe: exactly one revert succeeds (one compensating batch, one history
    row per reached submission); the other sees the batch already reverted
    and gets SL409 (never a deadlock or serialization error); the scores are
    back to the rules without the batch."""
    q1, _, _ = world["q"]
    model = world["model"]
    batch_id = create_batch(world, "q1 key D", [Correction("replace_key", world["version_id"], q1, frozenset("D"))])
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        conn.execute("SELECT scoreledger.apply_correction_batch(%s)", [batch_id])
    model.apply(batch_id)

    def revert(conn):
        return str(
            conn.execute("SELECT scoreledger.revert_correction_batch(%s, 'wrong key') AS id", [batch_id]).fetchone()[
                "id"
            ]
        )

    barrier = threading.Barrier(2)
    workers = [
        Worker(world["dsn"], world["tenant"], world["actor"], f"revert-{n}", revert, barrier, HOLD_SECONDS)
        for n in range(2)
    ]
    for w in workers:
        w.start()
    wait_until_waiting(world["dsn"], [w.name for w in workers], 1)
    for w in workers:
        w.join(timeout=WAIT_TIMEOUT * 3)
        assert not w.is_alive()
    succeeded = [w for w in workers if w.error is None]
    failed = [w for w in workers if w.error is not None]
    assert len(succeeded) == 1 and len(failed) == 1
    assert getattr(failed[0].error, "sqlstate", None) == "SL409", repr(failed[0].error)

    reached = model.reach(model.batches[batch_id])
    model.revert(batch_id)
    compensating = succeeded[0].result
    assert sorted(r["submission_id"] for r in history(world, compensating)) == sorted(reached)
    with connect(world["dsn"]) as conn, acting_on(conn, world["tenant"], world["actor"]):
        reverts = conn.execute(
            "SELECT id FROM scoreledger.list_correction_batches() WHERE reverts_batch_id = %s", [batch_id]
        ).fetchall()
    assert [str(r["id"]) for r in reverts] == [compensating]
    assert_scores_match_model(world)


def test_assignment_cannot_be_repointed_while_a_submission_for_it_is_being_recorded(dsn, tenant, actor):
    """Interleaving: a transaction records a submission for an assignment
    and stays open; another calls upsert_assignment to point that
    assignment at another evaluation and is seen blocked; the recording
    commits.

    Safe: submissions name their assignment without a foreign key (checked
    per statement), and the check locks the assignment as a foreign key
    would: the re-pointing waits, then sees the submission and is refused
    (SL409). The assignment keeps its evaluation; check reports nothing."""
    evaluations = {}
    for label in ("first", "second"):
        evaluation_id, version_id, items = str(uuid.uuid4()), str(uuid.uuid4()), standard_items()
        with connect(dsn) as conn, acting_on(conn, tenant, actor):
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [Jsonb(evaluation_doc(evaluation_id, version_id, items))],
            )
        evaluations[label] = (evaluation_id, version_id, items)
    assignment_id = str(uuid.uuid4())

    def assignment_doc(evaluation_id):
        return {
            "assignment_id": assignment_id,
            "title": "Homework",
            "evaluation_id": evaluation_id,
            "attempt_policy": "highest",
        }

    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        conn.execute("SELECT scoreledger.upsert_assignment(%s)", [Jsonb(assignment_doc(evaluations["first"][0]))])
    _, version_id, items = evaluations["first"]
    doc = submission_doc(str(uuid.uuid4()), version_id, str(uuid.uuid4()), {items[0].question_version_id: {"B"}})
    doc["assignment_id"] = assignment_id

    def repoint(conn):
        return conn.execute(
            "SELECT scoreledger.upsert_assignment(%s) AS id", [Jsonb(assignment_doc(evaluations["second"][0]))]
        ).fetchone()["id"]

    with connect(dsn, "record-for-assignment") as record_conn:
        begin_acting(record_conn, tenant, actor)
        record_call(doc)(record_conn)
        upserter = Worker(dsn, tenant, actor, "repoint-assignment", repoint)
        upserter.start()
        assert wait_until_waiting(dsn, ["repoint-assignment"], 1) == ["repoint-assignment"]
        assert not upserter.finished_call.is_set(), "re-pointing must wait for the recording"
        record_conn.commit()
    upserter.join(timeout=WAIT_TIMEOUT * 3)
    assert not upserter.is_alive()
    assert upserter.error is not None and getattr(upserter.error, "sqlstate", None) == "SL409", (
        f"re-pointing an assignment with a submission must be refused with SL409, got {upserter.error!r}"
    )
    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        evaluation = conn.execute(
            "SELECT evaluation_id::text AS e FROM scoreledger.assignments WHERE assignment_id = %s", [assignment_id]
        ).fetchone()["e"]
    assert evaluation == evaluations["first"][0]
    assert invariant_breaches(dsn) == []
