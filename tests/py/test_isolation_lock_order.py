"""Isolation and lock order across calls (contract section 10; issue 12,
items 1 and 2), with real connections interleaved on purpose.

Item 1: apply, revert and recording take their locks and then rely on a
fresh snapshot per statement, which only READ COMMITTED gives. At
REPEATABLE READ or SERIALIZABLE they refuse at once with SL409 (before any
work or lock): never a silently wrong score, never 40001.

Item 2: a call made in a transaction that already holds locks never waits
for a lock: it refuses at once with SL409, so no combination of calls in one
transaction can deadlock (40P01). Each test forces the interleaving that
deadlocked (or scored wrongly) before, and checks the outcome with
scoreledger.check_invariants() and the independent model.
"""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest
from helpers import Correction, Model, Submission, begin_acting, connect, invariant_breaches, submission_doc
from psycopg.types.json import Jsonb
from test_concurrency import WAIT_TIMEOUT, add_version, assert_scores_match_model, create_batch, wait_until_waiting


@pytest.fixture
def world(dsn, tenant, actor):
    """One evaluation version with 24 submissions, and a model of it (as in
    test_concurrency)."""
    world = {"dsn": dsn, "tenant": tenant, "actor": actor, "model": Model()}
    world["version_id"], world["q"] = add_version(world, 24)
    return world


RR = psycopg.IsolationLevel.REPEATABLE_READ
SER = psycopg.IsolationLevel.SERIALIZABLE


def session(world, name, level=None) -> psycopg.Connection:
    conn = connect(world["dsn"], name)
    if level is not None:
        conn.isolation_level = level
    begin_acting(conn, world["tenant"], world["actor"])
    return conn


def new_doc(world, user: int, answers: dict) -> tuple[dict, str]:
    sid = str(uuid.uuid4())
    return submission_doc(sid, world["version_id"], str(uuid.UUID(int=user)), answers), sid


def record(conn, doc):
    return conn.execute("SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc)]).fetchone()["id"]


def apply(conn, batch_id):
    return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch_id]).fetchone()["r"]


def record_submissions_in_background(conn, docs) -> tuple[threading.Thread, dict]:
    """record_submissions(docs) then COMMIT on `conn`, on a thread: the
    outcome gets its count ("n") or its exception ("error")."""
    outcome: dict = {}

    def work():
        try:
            outcome["n"] = conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"]
            conn.commit()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


def refused_409(call, *args, like: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        call(*args)
    assert caught.value.sqlstate == "SL409", f"{caught.value.sqlstate}: {caught.value}"
    assert like in str(caught.value), str(caught.value)
    return str(caught.value)


def holds_no_advisory_lock(conn) -> bool:
    return (
        conn.execute(
            "SELECT count(*) AS n FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'"
        ).fetchone()["n"]
        == 0
    )


# ---------------------------------------------------------------------------
# Item 1: isolation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("level", [RR, SER], ids=["repeatable_read", "serializable"])
def test_applier_at_snapshot_isolation_vs_committed_recorder_is_refused(world, level):
    """Session 1 (REPEATABLE READ or SERIALIZABLE; the other side READ
    COMMITTED) takes its snapshot; session 2 records a submission answering
    q1 and commits; session 1 applies drop_item(q1). On main the apply
    succeeds and the new submission keeps its point (check reports it);
    now the apply refuses at once with SL409 naming the levels, and a retry
    at READ COMMITTED scores it under the rules."""
    q1, _, _ = world["q"]
    batch_id = create_batch(world, "drop q1", [Correction("drop_item", world["version_id"], q1)])
    applier = session(world, "rr-applier", level)
    applier.execute("SELECT count(*) FROM scoreledger.submissions").fetchone()  # the snapshot
    with connect(world["dsn"], "recorder") as recorder:
        begin_acting(recorder, world["tenant"], world["actor"])
        doc, sid = new_doc(world, 1, {q1: {"B"}})
        record(recorder, doc)
        recorder.commit()
    world["model"].record(Submission(sid, world["version_id"], {q1: frozenset("B")}))
    name = "REPEATABLE READ" if level == RR else "SERIALIZABLE"
    refused_409(apply, applier, batch_id, like=f"needs READ COMMITTED isolation; this transaction is {name}")
    applier.rollback()
    applier.close()
    with connect(world["dsn"], "rc-applier") as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        apply(conn, batch_id)
        conn.commit()
    world["model"].apply(batch_id)
    assert_scores_match_model(world)


@pytest.mark.parametrize("level", [RR, SER], ids=["repeatable_read", "serializable"])
def test_recorder_whose_snapshot_predates_a_committed_apply_is_refused(world, level):
    """The other direction: the recorder's snapshot predates a committed
    drop_item(q1); on main it scores under the old key (1/1 where the rules
    give 0/0). Now: SL409 at once, no lock taken."""
    q1, _, _ = world["q"]
    batch_id = create_batch(world, "drop q1", [Correction("drop_item", world["version_id"], q1)])
    recorder = session(world, "rr-recorder", level)
    recorder.execute("SELECT count(*) FROM scoreledger.submissions").fetchone()
    with connect(world["dsn"], "applier") as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        apply(conn, batch_id)
        conn.commit()
    world["model"].apply(batch_id)
    doc, _ = new_doc(world, 2, {q1: {"B"}})
    refused_409(record, recorder, doc, like="scoreledger.record_submission needs READ COMMITTED isolation")
    recorder.rollback()
    recorder.close()
    assert_scores_match_model(world)


def test_two_repeatable_read_appliers_are_refused_at_once_never_40001(world):
    """Two REPEATABLE READ appliers of batches on overlapping submissions got
    40001 on main (the second after waiting for the first). Now both refuse
    at once with SL409, holding no lock; the same applies at READ COMMITTED
    both succeed."""
    q1, q2, _ = world["q"]
    a = create_batch(world, "q1 key C", [Correction("replace_key", world["version_id"], q1, frozenset("C"))])
    b = create_batch(world, "drop q2", [Correction("drop_item", world["version_id"], q2)])
    s1, s2 = session(world, "rr-1", RR), session(world, "rr-2", RR)
    for conn, batch in ((s1, a), (s2, b)):
        refused_409(apply, conn, batch, like="needs READ COMMITTED isolation; this transaction is REPEATABLE READ")
        conn.rollback()
        begin_acting(conn, world["tenant"], world["actor"])
        assert holds_no_advisory_lock(conn)
        conn.rollback()
        conn.close()
    for batch in (a, b):
        with connect(world["dsn"], "rc") as conn:
            begin_acting(conn, world["tenant"], world["actor"])
            apply(conn, batch)
            conn.commit()
        world["model"].apply(batch)
    assert_scores_match_model(world)


# ---------------------------------------------------------------------------
# Item 2: no deadlock across calls in one transaction
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["t1", "t2"])
def test_record_then_apply_in_two_transactions_never_deadlocks(world, first):
    """Two clients each run record_submission(V) then apply(batch on V) in
    one transaction. On main one of them got 40P01 (each waited for the
    other's shared version lock). Now the first later-call apply refuses at
    once with SL409 (in either order); once it rolls back, the other's apply
    goes through, and the scores follow the rules."""
    q1, q2, _ = world["q"]
    batches = {
        "t1": create_batch(world, "q1 key C", [Correction("replace_key", world["version_id"], q1, frozenset("C"))]),
        "t2": create_batch(world, "drop q2", [Correction("drop_item", world["version_id"], q2)]),
    }
    conns = {name: session(world, name) for name in ("t1", "t2")}
    recorded = {}
    for n, name in enumerate(("t1", "t2")):
        doc, sid = new_doc(world, 20 + n, {q1: {"B"}, q2: {"A", "B"}})
        record(conns[name], doc)
        recorded[name] = Submission(sid, world["version_id"], {q1: frozenset("B"), q2: frozenset("AB")})
    second = "t2" if first == "t1" else "t1"
    refused_409(
        apply, conns[first], batches[first], like="made in a transaction that already holds locks; another transaction"
    )
    conns[first].rollback()
    apply(conns[second], batches[second])
    conns[second].commit()
    world["model"].record(recorded[second])
    world["model"].apply(batches[second])
    for conn in conns.values():
        conn.close()
    assert_scores_match_model(world)


def test_apply_a_then_b_against_apply_b_then_a_never_deadlocks(world):
    """T1 applies A, T2 applies B (both on V: T2 waits on the version lock,
    holding B's row), then T1 applies B. On main: 40P01. Now T1's later call
    refuses at once with SL409 (T2 holds the tenant's writer lock); T1 rolls
    back, T2 goes on to apply A too."""
    q1, q2, _ = world["q"]
    a = create_batch(world, "q1 key C", [Correction("replace_key", world["version_id"], q1, frozenset("C"))])
    b = create_batch(world, "drop q2", [Correction("drop_item", world["version_id"], q2)])
    t1 = session(world, "ab-t1")
    apply(t1, a)
    t2 = session(world, "ab-t2")
    outcome: dict = {}

    def t2_work():
        try:
            outcome["b"] = apply(t2, b)
            outcome["a"] = apply(t2, a)
            t2.commit()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=t2_work, daemon=True)
    thread.start()
    wait_until_waiting(world["dsn"], ["ab-t2"], 1)
    refused_409(apply, t1, b, like="already holds locks; another transaction holds the tenant's writer lock")
    t1.rollback()
    thread.join(WAIT_TIMEOUT * 3)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    world["model"].apply(b)
    world["model"].apply(a)
    t1.close()
    t2.close()
    assert_scores_match_model(world)


def test_recording_overlapping_learners_in_opposite_orders_never_deadlocks(world):
    """T1 records learner 1 then learner 2, T2 learner 2 then learner 1, one
    call each (the attempt counters are row locks). On main T1's second call
    waited for T2 and T2's for T1: 40P01. Now T1's second call refuses with
    SL409 within the short lock_timeout; T1 rolls back, T2's second call
    goes through."""
    q1, _, _ = world["q"]
    t1, t2 = session(world, "opp-t1"), session(world, "opp-t2")
    d11, _ = new_doc(world, 31, {q1: {"B"}})
    d22, s22 = new_doc(world, 32, {q1: {"C"}})
    d12, _ = new_doc(world, 32, {q1: {"A"}})
    d21, s21 = new_doc(world, 31, {q1: {"D"}})
    record(t1, d11)
    record(t2, d22)
    outcome: dict = {}

    def t2_second():
        try:
            outcome["id"] = record(t2, d21)
        except BaseException as exc:
            outcome["error"] = exc

    refused_409(record, t1, d12, like="made in a transaction that already holds locks")
    thread = threading.Thread(target=t2_second, daemon=True)
    thread.start()
    t1.rollback()
    thread.join(WAIT_TIMEOUT * 3)
    if "error" in outcome:
        # T2's later call may also have met T1's counter row before T1 rolled
        # back: then it is refused the same way, never a deadlock.
        assert outcome["error"].sqlstate == "SL409", outcome["error"]
        t2.rollback()
    else:
        t2.commit()
        world["model"].record(Submission(s22, world["version_id"], {q1: frozenset("C")}))
        world["model"].record(Submission(s21, world["version_id"], {q1: frozenset("D")}))
    t1.close()
    t2.close()
    assert_scores_match_model(world)
    assert invariant_breaches(world["dsn"]) == []


def test_two_recorders_of_the_same_attempts_in_opposite_orders_never_deadlock(world):
    """Derived ids (no submission_id): two recorders of the same two attempts,
    listed in opposite orders, insert the same keys. Inserted in key order,
    the second waits for the first instead of deadlocking on the unique
    index; it then finds them recorded (a no-op)."""
    q1, _, _ = world["q"]
    docs = []
    for user in (41, 42):
        doc, _ = new_doc(world, user, {q1: {"B"}})
        del doc["submission_id"]
        docs.append(doc)
    t1, t2 = session(world, "same-t1"), session(world, "same-t2")
    n1 = t1.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"]
    thread, outcome = record_submissions_in_background(t2, list(reversed(docs)))
    wait_until_waiting(world["dsn"], ["same-t2"], 1)
    t1.commit()
    thread.join(WAIT_TIMEOUT * 3)
    assert "error" not in outcome, outcome
    assert (n1, outcome["n"]) == (2, 0)
    with connect(world["dsn"]) as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        rows = conn.execute(
            "SELECT count(*) AS n FROM scoreledger.submissions WHERE user_id = ANY(%s::uuid[])",
            [[str(uuid.UUID(int=41)), str(uuid.UUID(int=42))]],
        ).fetchone()["n"]
    assert rows == 2  # one copy of each attempt
    t1.close()
    t2.close()
    assert invariant_breaches(world["dsn"]) == []


def test_workflow_actions_on_two_batches_in_opposite_orders_never_deadlock(world):
    """T1 submits A then discards B; T2 submits B then discards A, each in one
    transaction. Each first call holds its batch row; the later calls would
    wait on each other's row (40P01 before). Now a later call refuses at once
    with SL409 instead of waiting (the other transaction holds the tenant's
    writer lock): T1's discard of B is refused, T1 rolls back, and T2 goes
    on."""
    q1, q2, _ = world["q"]
    a = create_batch(world, "q1 key C", [Correction("replace_key", world["version_id"], q1, frozenset("C"))])
    b = create_batch(world, "drop q2", [Correction("drop_item", world["version_id"], q2)])

    def act(conn, action, batch_id):
        return conn.execute(f"SELECT scoreledger.{action}_correction_batch(%s) AS r", [batch_id]).fetchone()["r"]

    t1 = session(world, "wf-t1")
    act(t1, "submit", a)
    t2 = session(world, "wf-t2")
    act(t2, "submit", b)
    refused_409(act, t1, "discard", b, like="already holds locks; another transaction holds the tenant's writer lock")
    t1.rollback()
    assert act(t2, "discard", a)["status"] == "discarded"
    t2.commit()
    t1.close()
    t2.close()
    with connect(world["dsn"]) as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        statuses = {
            r["id"]: r["status"]
            for r in conn.execute("SELECT id::text, status FROM scoreledger.list_correction_batches()").fetchall()
        }
    assert statuses[a] == "discarded" and statuses[b] == "pending_review", statuses


def test_score_writers_in_opposite_orders_never_deadlock(world):
    """T1 records evaluation result R1, T2 result R2; then T1 records R2 and
    T2 R1, each in the same transaction. Before, T1's later call waited for
    T2's uncommitted R2 and T2's for T1's R1: 40P01. Now T1's later call is
    refused at once (T2 holds the tenant's writer lock); once T1 has rolled
    back, T2's later call goes through."""
    q1, _, _ = world["q"]
    subs = []
    with connect(world["dsn"]) as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        for user in (51, 52):
            doc, sid = new_doc(world, user, {q1: {"B"}})
            record(conn, doc)
            subs.append(sid)
        conn.execute("SELECT scoreledger.register_evaluator('judge', '{}')")
        conn.commit()
    r1, r2 = str(uuid.uuid4()), str(uuid.uuid4())

    def result(conn, rid, sid, score):
        doc = {"evaluator": "judge", "submission_id": sid, "result_id": rid, "payload": {"score": score}}
        return conn.execute("SELECT scoreledger.record_evaluation_results(%s) AS n", [Jsonb([doc])]).fetchone()["n"]

    t1, t2 = session(world, "sw-t1"), session(world, "sw-t2")
    result(t1, r1, subs[0], 0.1)
    result(t2, r2, subs[1], 0.2)
    outcome: dict = {}
    t1_done = threading.Event()

    def t1_later():
        try:
            outcome["t1"] = result(t1, r2, subs[1], 0.3)
        except psycopg.Error as exc:
            outcome["t1"] = exc
            t1.rollback()
        finally:
            t1_done.set()

    thread = threading.Thread(target=t1_later, daemon=True)
    thread.start()
    # Before the fix T1 waited here for T2 until T2's later call closed the cycle.
    t1_done.wait(2)
    try:
        outcome["t2"] = result(t2, r1, subs[0], 0.4)
        t2.commit()
    except psycopg.Error as exc:
        outcome["t2"] = exc
        t2.rollback()
    thread.join(WAIT_TIMEOUT * 3)
    assert not thread.is_alive()
    t1.close()
    t2.close()
    states = {k: getattr(v, "sqlstate", v) for k, v in outcome.items()}
    assert states == {"t1": "SL409", "t2": 1}, outcome
    assert "another transaction holds the tenant's writer lock" in str(outcome["t1"])
    with connect(world["dsn"]) as conn:
        begin_acting(conn, world["tenant"], world["actor"])
        stored = conn.execute("SELECT result_id::text AS id FROM scoreledger.evaluation_results ORDER BY 1").fetchall()
    assert [r["id"] for r in stored] == sorted([r1, r2])
    assert invariant_breaches(world["dsn"]) == []


def test_a_later_call_never_waits_so_no_deadlock_check_can_catch_it(world):
    """The residual window of the short lock_timeout, made certain: T2, in a
    first call, records learner 1 then learner 2 and waits on learner 2's
    row, which T1 is recording; T1 then records learner 1 again in the same
    transaction, whose row T2 holds. Before, T1's later call waited up to
    10 ms, and a deadlock check falling in that wait -- here T1's own, its
    deadlock_timeout set to 1 ms -- reported 40P01. Now T1's later call
    refuses with SL409 before it waits on anything; T1 rolls back and T2
    records both."""
    q1, _, _ = world["q"]
    low, _ = new_doc(world, 61, {q1: {"B"}})
    high, _ = new_doc(world, 62, {q1: {"C"}})
    low["submission_id"] = str(uuid.UUID(int=0x61))
    high["submission_id"] = str(uuid.UUID(int=0x62))
    t1 = connect(world["dsn"], "dl-t1")
    t1.execute("SET deadlock_timeout = '1ms'")
    t1.commit()
    begin_acting(t1, world["tenant"], world["actor"])
    t2 = session(world, "dl-t2")
    record(t1, high)
    thread, outcome = record_submissions_in_background(t2, [low, high])
    wait_until_waiting(world["dsn"], ["dl-t2"], 1)
    with pytest.raises(psycopg.Error) as caught:
        record(t1, low)
    assert caught.value.sqlstate == "SL409", f"{caught.value.sqlstate}: {caught.value}"
    t1.rollback()
    thread.join(WAIT_TIMEOUT * 3)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    assert outcome["n"] == 2
    t1.close()
    t2.close()
    assert invariant_breaches(world["dsn"]) == []


def writer_lock_mode(conn, dsn: str, tenant: str) -> list[str]:
    """The modes in which `conn` holds `tenant`'s writer lock."""
    with connect(dsn) as admin:
        key = admin.execute("SELECT scoreledger_private.writer_lock_key(%s) AS k", [tenant]).fetchone()["k"]
    return [
        r["mode"]
        for r in conn.execute(
            """SELECT l.mode FROM pg_locks l
               WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory' AND l.objsubid = 1
                 AND (l.classid::bigint << 32 | l.objid::bigint) = %s
               ORDER BY 1""",
            [key],
        ).fetchall()
    ]


def test_first_calls_share_the_writer_lock_and_a_later_call_runs_alone(world):
    """Writers of one tenant in separate transactions never wait on the
    writer lock (each holds it shared); a transaction's later call takes it
    exclusively when no other writer of the tenant is open, else refuses;
    another tenant's writers do not count."""
    q1, _, _ = world["q"]
    t1, t2 = session(world, "wl-t1"), session(world, "wl-t2")
    record(t1, new_doc(world, 71, {q1: {"B"}})[0])
    record(t2, new_doc(world, 72, {q1: {"B"}})[0])  # a first call: not refused, not waiting
    assert writer_lock_mode(t1, world["dsn"], world["tenant"]) == ["ShareLock"]
    refused_409(
        record, t1, new_doc(world, 73, {q1: {"B"}})[0], like="another transaction holds the tenant's writer lock"
    )
    t1.rollback()
    t2.commit()
    begin_acting(t1, world["tenant"], world["actor"])
    record(t1, new_doc(world, 74, {q1: {"B"}})[0])
    # A writer of another tenant is open meanwhile: it holds that tenant's lock, not this one's.
    other = str(uuid.uuid4())
    with connect(world["dsn"]) as admin:
        admin.execute("SELECT scoreledger.create_tenant(%s, %s)", [f"other {other[:8]}", other])
        admin.commit()
    begin_acting(t2, other, world["actor"])
    t2.execute("SELECT scoreledger.register_evaluator('judge', '{}')")
    record(t1, new_doc(world, 75, {q1: {"B"}})[0])
    assert writer_lock_mode(t1, world["dsn"], world["tenant"]) == ["ExclusiveLock", "ShareLock"]
    t1.commit()
    t2.rollback()
    t1.close()
    t2.close()
    assert invariant_breaches(world["dsn"]) == []


def test_a_later_create_tenant_never_waits_on_a_policy_change(world):
    """set_tenant_policy updates the tenant's registry row; a later
    create_tenant naming that tenant met the update in its unique check and
    waited for its commit (the registry's writer lock was not the policy
    change's). Now both take the registry's lock: the later create_tenant
    refuses at once."""
    with connect(world["dsn"]) as admin:
        name = admin.execute(
            "SELECT name FROM scoreledger_private.tenants WHERE tenant_id = %s", [world["tenant"]]
        ).fetchone()["name"]
    policy = session(world, "pol-t1")
    policy.execute("SELECT scoreledger.set_tenant_policy(true, false)")
    creator = connect(world["dsn"], "pol-t2")
    creator.execute("SELECT scoreledger.create_tenant(%s)", [f"first {uuid.uuid4()}"])
    outcome: dict = {}
    done = threading.Event()

    def create_again():
        try:
            outcome["id"] = creator.execute("SELECT scoreledger.create_tenant(%s) AS id", [name]).fetchone()["id"]
        except psycopg.Error as exc:
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=create_again, daemon=True)
    thread.start()
    finished = done.wait(3)  # before the fix it waited here for the policy change's commit
    policy.rollback()
    thread.join(WAIT_TIMEOUT)
    creator.rollback()
    policy.close()
    creator.close()
    assert finished, "the later create_tenant waited for the policy change"
    assert getattr(outcome.get("error"), "sqlstate", None) == "SL409", outcome
    assert "tenant registry" in str(outcome["error"])


def test_a_migrations_top_up_is_not_refused_beside_an_open_writer(world):
    """top_up_scores runs in a migration's transaction, which has written
    already: as a later call it was refused (SL409) whenever a create_tenant
    was open elsewhere. It skips every locked row and never waits, so it
    takes no writer lock."""
    other = connect(world["dsn"], "top-t1")
    other.execute("SELECT scoreledger.create_tenant(%s)", [f"open {uuid.uuid4()}"])
    migration = connect(world["dsn"], "top-t2")
    migration.execute("SELECT scoreledger.create_tenant(%s)", [f"migrating {uuid.uuid4()}"])
    try:
        held = other.execute(
            """SELECT count(*) AS n FROM pg_locks l WHERE l.pid = pg_backend_pid() AND l.locktype = 'advisory'
                 AND (l.classid::bigint << 32 | l.objid::bigint) = scoreledger_private.writer_lock_key(NULL)"""
        ).fetchone()["n"]
        assert held == 1, "the other transaction holds the registry's writer lock"
        # Before, this raised SL409 (a later call, the registry's lock held elsewhere).
        migration.execute("SELECT * FROM scoreledger.top_up_scores()").fetchall()
    finally:
        migration.rollback()
        other.rollback()
        migration.close()
        other.close()


def test_a_call_after_a_writing_call_is_later_even_without_a_transaction_id(world):
    """holds_locks() reads the marker begin_writing_call leaves: a call that
    follows a writing call is later though nothing was written (no
    transaction id), and a marker set by hand with another transaction's
    start is not taken for it."""
    with connect(world["dsn"]) as conn:
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [world["tenant"], world["actor"]])

        def later() -> bool:
            return conn.execute("SELECT scoreledger_private.holds_locks() AS h").fetchone()["h"]

        assert later() is False
        conn.execute("SELECT scoreledger_private.begin_writing_call('scoreledger.test_first')")
        assert later() is False, "the call under way is a first call"
        conn.execute("SELECT scoreledger_private.begin_writing_call('scoreledger.test_second')")
        assert later() is True, "the next call is later"
        assert conn.execute("SELECT pg_current_xact_id_if_assigned() AS x").fetchone()["x"] is None
        conn.rollback()
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [world["tenant"], world["actor"]])
        conn.execute("SET LOCAL scoreledger.call = 'tx:0/first'")
        conn.execute("SELECT scoreledger_private.begin_writing_call('scoreledger.test_spoofed')")
        assert later() is False, "a hand-set marker of another start does not make the first call later"
        conn.rollback()
