"""Phase 5 under concurrency, with real connections interleaved on purpose
(contract section 11; the style of test_concurrency.py): each test names the
interleaving it proves safe."""

from __future__ import annotations

import threading
import uuid

import pytest
from helpers import acting_on, connect, invariant_breaches, replace_key
from psycopg.types.json import Jsonb
from test_concurrency import Worker, join_all, wait_until_waiting


@pytest.fixture
def gate(dsn, tenant, actor):
    """An evaluation of two one-point items (q1 key B, q2 key A; pass: both
    right) and an assignment with the given rules; record(user, q2) records
    a submission failing or passing on q2."""
    evaluation_id, version_id, q1, q2, a_id = (str(uuid.uuid4()) for _ in range(5))
    item = {"kind": "single_choice", "options": ["A", "B", "C"], "points": 1, "prompt": "?"}

    def setup(**rules):
        with connect(dsn) as conn, acting_on(conn, tenant, actor):
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [
                    Jsonb(
                        {
                            "evaluation_id": evaluation_id,
                            "evaluation_title": "Gate",
                            "evaluation_version_id": version_id,
                            "version_no": 1,
                            "pass_mark": 0.75,
                            "items": [
                                item | {"question_id": str(uuid.uuid4()), "question_version_id": q1, "correct": ["B"]},
                                item | {"question_id": str(uuid.uuid4()), "question_version_id": q2, "correct": ["A"]},
                            ],
                        }
                    )
                ],
            )
            conn.execute(
                "SELECT scoreledger.upsert_assignment(%s)",
                [Jsonb({"assignment_id": a_id, "title": "Exam", "evaluation_id": evaluation_id} | rules)],
            )

    def doc(user, q2_answer):
        return {
            "submission_id": str(uuid.uuid4()),
            "evaluation_version_id": version_id,
            "assignment_id": a_id,
            "user_id": user,
            "submitted_at": "2026-11-01T10:00:00Z",
            "answers": [
                {"question_version_id": q1, "selected": ["B"]},
                {"question_version_id": q2, "selected": [q2_answer]},
            ],
        }

    def record(user, q2_answer):
        with connect(dsn) as conn, acting_on(conn, tenant, actor):
            conn.execute("SELECT scoreledger.record_submission(%s)", [Jsonb(doc(user, q2_answer))])

    def create_key_c_batch():
        with connect(dsn) as conn, acting_on(conn, tenant, actor):
            return str(
                conn.execute(
                    "SELECT scoreledger.create_correction_batch('q2 key is C', %s) AS id",
                    [Jsonb([replace_key(version_id, q2, "C")])],
                ).fetchone()["id"]
            )

    def query(sql, params=()):
        with connect(dsn) as conn, acting_on(conn, tenant, actor):
            return conn.execute(sql, params).fetchall()

    return {
        "dsn": dsn,
        "tenant": tenant,
        "actor": actor,
        "assignment": a_id,
        "setup": setup,
        "doc": doc,
        "record": record,
        "create_key_c_batch": create_key_c_batch,
        "query": query,
    }


def test_two_starts_for_the_last_allowed_attempt_allow_exactly_one(gate):
    """Interleaving: two transactions pass a barrier together and call
    start_attempt for a learner with one attempt left; the first holds its
    transaction open, the second is seen waiting on the learner's lock.

    Safe: exactly one start is allowed and recorded; the other is refused
    with max_attempts_reached, counting the first's start."""
    gate["setup"](max_attempts=2)
    user = str(uuid.uuid4())
    gate["record"](user, "C")  # one attempt used, one left
    barrier = threading.Barrier(2)

    def start(conn):
        return conn.execute("SELECT scoreledger.start_attempt(%s, %s) AS r", [gate["assignment"], user]).fetchone()["r"]

    workers = [
        Worker(
            gate["dsn"],
            gate["tenant"],
            gate["actor"],
            f"start-{n}",
            start,
            barrier,
            hold=1.0,
            hold_when=lambda r: r["allowed"],
        )
        for n in range(2)
    ]
    for w in workers:
        w.start()
    wait_until_waiting(gate["dsn"], [w.name for w in workers], 1)
    join_all(workers)

    results = sorted((w.result for w in workers), key=lambda r: not r["allowed"])
    assert results[0]["allowed"] is True and results[0]["attempt_no"] == 2
    assert results[1] == {
        "allowed": False,
        "reasons": [{"code": "max_attempts_reached", "attempts_used": 2, "max_attempts": 2}],
    }
    [status] = gate["query"]("SELECT scoreledger.learner_status(%s, %s) AS s", [gate["assignment"], user])
    assert status["s"]["attempts_used"] == 2, "one start recorded, beside the submission"


@pytest.mark.parametrize("first", ["record", "apply"])
def test_a_recording_and_an_apply_changing_one_learners_outcome_keep_the_rule(gate, first):
    """Interleaving: a learner has one failed attempt (the rule: an
    intervention after two). One transaction records a second failed
    attempt; another applies a batch that makes every attempt pass; `first`
    holds its transaction open and the other is seen waiting.

    Safe: both commit; after both the rule holds exactly (no intervention:
    the outcome is pass) and check (which runs the rule over every learner)
    reports nothing."""
    gate["setup"](intervention_after_fails=2)
    user = str(uuid.uuid4())
    gate["record"](user, "C")
    batch = gate["create_key_c_batch"]()
    doc = gate["doc"](user, "C")

    def record(conn):
        return conn.execute("SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc)]).fetchone()["id"]

    def apply(conn):
        return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch]).fetchone()["r"]

    works = {"record": record, "apply": apply}
    second = "apply" if first == "record" else "record"
    w1 = Worker(gate["dsn"], gate["tenant"], gate["actor"], f"{first}-first", works[first], hold=1.0)
    w1.start()
    w1.finished_call.wait(10)
    w2 = Worker(gate["dsn"], gate["tenant"], gate["actor"], f"{second}-second", works[second])
    w2.start()
    wait_until_waiting(gate["dsn"], [w2.name], 1)
    join_all([w1, w2])

    rows = gate["query"]("SELECT status FROM scoreledger.interventions WHERE user_id = %s ORDER BY opened_at", [user])
    # Recorded first: the second failure opened one, the batch withdrew it.
    assert [r["status"] for r in rows] == (["withdrawn"] if first == "record" else [])
    assert invariant_breaches(gate["dsn"]) == []


@pytest.mark.parametrize("first", ["resolve", "apply"])
def test_a_resolve_racing_a_batch_that_withdraws_the_same_intervention(gate, first):
    """Interleaving: a learner's two failed attempts opened a rule
    intervention. An instructor resolves it while a batch that makes both
    attempts pass (so withdraws it) is applied; `first` holds its
    transaction open, the other is seen waiting on the learner's lock.

    Safe: resolve first -> it is resolved and the batch leaves it alone
    (resolved interventions are never changed by a batch); apply first ->
    it is withdrawn and the resolve is refused with SL409 (only an open
    intervention is resolved). No other error; one event per move."""
    gate["setup"](intervention_after_fails=2)
    user = str(uuid.uuid4())
    gate["record"](user, "C")
    gate["record"](user, "C")
    [opened] = gate["query"]("SELECT intervention_id FROM scoreledger.interventions WHERE user_id = %s", [user])
    batch = gate["create_key_c_batch"]()

    def resolve(conn):
        conn.execute("SAVEPOINT r")
        try:
            return conn.execute(
                "SELECT scoreledger.resolve_intervention(%s, 'reviewed') AS r", [opened["intervention_id"]]
            ).fetchone()["r"]
        except Exception as exc:  # noqa: BLE001 - the documented refusal is the result
            conn.execute("ROLLBACK TO SAVEPOINT r")
            return {"sqlstate": exc.sqlstate}

    def apply(conn):
        return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch]).fetchone()["r"]

    works = {"resolve": resolve, "apply": apply}
    second = "apply" if first == "resolve" else "resolve"
    w1 = Worker(gate["dsn"], gate["tenant"], gate["actor"], f"{first}-first", works[first], hold=1.0)
    w1.start()
    w1.finished_call.wait(10)
    w2 = Worker(gate["dsn"], gate["tenant"], gate["actor"], f"{second}-second", works[second])
    w2.start()
    wait_until_waiting(gate["dsn"], [w2.name], 1)
    join_all([w1, w2])

    resolve_result = (w1 if first == "resolve" else w2).result
    [row] = gate["query"]("SELECT status, closed_by_batch_id FROM scoreledger.interventions WHERE user_id = %s", [user])
    events = gate["query"](
        "SELECT to_status FROM scoreledger.intervention_events WHERE intervention_id = %s ORDER BY event_id",
        [opened["intervention_id"]],
    )
    if first == "resolve":
        assert resolve_result["status"] == "resolved"
        assert (row["status"], row["closed_by_batch_id"]) == ("resolved", None)
        assert [e["to_status"] for e in events] == ["open", "resolved"]
    else:
        assert resolve_result == {"sqlstate": "SL409"}
        assert (row["status"], str(row["closed_by_batch_id"])) == ("withdrawn", batch)
        assert [e["to_status"] for e in events] == ["open", "withdrawn"]
    assert invariant_breaches(gate["dsn"]) == []
