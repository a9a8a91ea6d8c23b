"""Governance (contract section 7) beyond one session: dual control when the
same person acts through two connections, concurrent approvals and applies
of one batch, and the whole maker-checker path through the CLI.

Every test runs on a real, freshly migrated database (conftest.py); nothing
is mocked. Races are forced, not hoped for: the first transaction stays open
after its call, and the test proves the second backend is waiting on a lock
(pg_stat_activity) before letting the first commit.
"""

from __future__ import annotations

import json
import threading
import time
import uuid

import psycopg
import pytest
from helpers import (
    begin_acting,
    connect,
    drop_item,
    evaluation_doc,
    invariant_breaches,
    standard_items,
    submission_doc,
    waiting_on_lock,
)
from psycopg.types.json import Jsonb
from scoreledger import db

WAIT_TIMEOUT = 10.0
# Errors no caller may ever see from these functions.
DEADLOCK_OR_SERIALIZATION = {"40P01", "40001"}


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


@pytest.fixture
def content(acting):
    """Evaluation (standard items) with three submissions in the test tenant."""
    items = standard_items()
    version_id = str(uuid.uuid4())
    admin = str(uuid.uuid4())
    with acting(as_actor=admin) as conn:
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version_id, items))],
        )
        for q1 in ("B", "C", "A"):
            doc = submission_doc(str(uuid.uuid4()), version_id, str(uuid.uuid4()), {items[0].question_version_id: {q1}})
            conn.execute("SELECT scoreledger.record_submission(%s)", [Jsonb(doc)])
    return {"version_id": version_id, "items": items, "admin": admin}


def call(conn: psycopg.Connection, sql: str, *params):
    return conn.execute(sql, list(params)).fetchone()


def sqlstate_of(fn) -> str | None:
    """Run fn(); the SQLSTATE of the psycopg error it raises, None on success."""
    try:
        fn()
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def in_transaction(dsn, tenant, actor, work, name="scoreledger-test"):
    """Run work(conn) in one committed transaction as the application."""
    with connect(dsn, name) as conn:
        begin_acting(conn, tenant, actor)
        result = work(conn)
        conn.commit()
        return result


def create_batch(dsn, tenant, maker, content, reason="drop q1", submit=True) -> str:
    corrections = [drop_item(content["version_id"], content["items"][0].question_version_id)]

    def work(conn):
        batch = str(
            call(conn, "SELECT scoreledger.create_correction_batch(%s, %s) AS id", reason, Jsonb(corrections))["id"]
        )
        if submit:
            call(conn, "SELECT scoreledger.submit_correction_batch(%s)", batch)
        return batch

    return in_transaction(dsn, tenant, maker, work)


def batch_doc(dsn, tenant, batch) -> dict:
    return in_transaction(
        dsn,
        tenant,
        str(uuid.uuid4()),
        lambda c: call(c, "SELECT scoreledger.get_correction_batch(%s) AS d", batch)["d"],
    )


def transitions(doc: dict) -> list[tuple]:
    return [(e["from"], e["to"], e["actor"]) for e in doc["events"]]


class BlockedCall(threading.Thread):
    """One API call in its own connection and transaction (committed after
    the call), run in a thread so that the test can hold a lock it needs."""

    def __init__(self, dsn, tenant, actor, name, sql, *params):
        super().__init__(name=name, daemon=True)
        self.dsn, self.tenant, self.actor, self.sql, self.params = dsn, tenant, actor, sql, params
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.result = in_transaction(
                self.dsn, self.tenant, self.actor, lambda c: call(c, self.sql, *self.params), self.name
            )
        except BaseException as exc:  # inspected by the test
            self.error = exc


def wait_until_waiting(dsn, name):
    deadline = time.monotonic() + WAIT_TIMEOUT
    while time.monotonic() < deadline:
        if waiting_on_lock(dsn, [name]) == [name]:
            return
        time.sleep(0.02)
    pytest.fail(f"{name} never waited on a lock: the race was not forced")


def race(dsn, tenant, first_actor, first_sql, second_actor, second_sql, batch):
    """first_sql runs and holds its transaction open; second_sql (in another
    connection) is proven to wait on the batch's lock; then the first
    commits. Returns (first result, the finished second call)."""
    name = f"gov-second-{uuid.uuid4().hex[:8]}"
    with connect(dsn, f"gov-first-{uuid.uuid4().hex[:8]}") as first:
        begin_acting(first, tenant, first_actor)
        first_result = call(first, first_sql, batch)
        second = BlockedCall(dsn, tenant, second_actor, name, second_sql, batch)
        second.start()
        try:
            wait_until_waiting(dsn, name)
        finally:
            first.commit()
    second.join(timeout=WAIT_TIMEOUT * 3)
    assert not second.is_alive(), "the second call never finished"
    return first_result, second


# ---------------------------------------------------------------------------
# (a) Dual control across sessions
# ---------------------------------------------------------------------------


def test_dual_control_holds_when_the_creator_uses_a_second_session(dsn, tenant, content):
    maker, checker = str(uuid.uuid4()), str(uuid.uuid4())
    with connect(dsn, "maker-session-1") as one, connect(dsn, "maker-session-2") as two:
        begin_acting(one, tenant, maker)
        batch = str(
            call(
                one,
                "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                "drop q1",
                Jsonb([drop_item(content["version_id"], content["items"][0].question_version_id)]),
            )["id"]
        )
        call(one, "SELECT scoreledger.submit_correction_batch(%s)", batch)
        one.commit()

        # Same actor id, another connection, a context of its own.
        begin_acting(two, tenant, maker)
        with pytest.raises(psycopg.Error) as refused:
            call(two, "SELECT scoreledger.approve_correction_batch(%s, %s)", batch, "looks fine to me")
        assert refused.value.sqlstate == "SL403"
        assert "dual control" in refused.value.diag.message_primary
        two.rollback()

        # And again while session 1 still has a transaction open with the same actor.
        begin_acting(one, tenant, maker)
        begin_acting(two, tenant, maker)
        assert sqlstate_of(lambda: call(two, "SELECT scoreledger.approve_correction_batch(%s, 'x')", batch)) == "SL403"
        two.rollback()
        one.rollback()

    doc = batch_doc(dsn, tenant, batch)
    assert doc["status"] == "pending_review"
    assert [e["to"] for e in doc["events"]] == ["draft", "pending_review"], "a refused approval writes no event"

    approved = in_transaction(
        dsn,
        tenant,
        checker,
        lambda c: call(c, "SELECT scoreledger.approve_correction_batch(%s, 'ok') AS r", batch)["r"],
    )
    assert approved == {"batch_id": batch, "status": "approved", "previous_status": "pending_review"}
    doc = batch_doc(dsn, tenant, batch)
    assert transitions(doc)[-1] == ("pending_review", "approved", checker)
    assert doc["events"][-1]["note"] == "ok"


def test_last_editor_cannot_approve_from_another_session(dsn, tenant, content):
    maker, editor, checker = (str(uuid.uuid4()) for _ in range(3))
    batch = create_batch(dsn, tenant, maker, content, submit=False)

    def edit_and_submit(conn):
        call(conn, "SELECT scoreledger.update_correction_batch(%s, %s, NULL)", batch, "reworded by the editor")
        call(conn, "SELECT scoreledger.submit_correction_batch(%s)", batch)

    in_transaction(dsn, tenant, editor, edit_and_submit, "editor-session-1")
    for who in (editor, maker):
        state = sqlstate_of(
            lambda who=who: in_transaction(
                dsn,
                tenant,
                who,
                lambda c: call(c, "SELECT scoreledger.approve_correction_batch(%s, 'x')", batch),
                "second-session",
            )
        )
        assert state == "SL403", f"{'editor' if who == editor else 'creator'} approved: {state}"
    in_transaction(
        dsn, tenant, checker, lambda c: call(c, "SELECT scoreledger.approve_correction_batch(%s, 'x')", batch)
    )
    assert batch_doc(dsn, tenant, batch)["status"] == "approved"


# ---------------------------------------------------------------------------
# (b) Concurrent approvals and applies of one batch
# ---------------------------------------------------------------------------


def test_two_concurrent_approvals_one_wins(dsn, tenant, content):
    maker, first_checker, second_checker = (str(uuid.uuid4()) for _ in range(3))
    batch = create_batch(dsn, tenant, maker, content)
    approve = "SELECT scoreledger.approve_correction_batch(%s, 'approved') AS r"
    first, second = race(dsn, tenant, first_checker, approve, second_checker, approve, batch)

    assert first["r"]["status"] == "approved"
    assert isinstance(second.error, psycopg.Error), f"the second approval did not fail: {second.result!r}"
    assert second.error.sqlstate not in DEADLOCK_OR_SERIALIZATION
    assert second.error.sqlstate == "SL409", second.error
    doc = batch_doc(dsn, tenant, batch)
    assert doc["status"] == "approved"
    assert [e for e in transitions(doc) if e[1] == "approved"] == [("pending_review", "approved", first_checker)]


def test_two_concurrent_applies_of_an_approved_batch_do_the_work_once(dsn, tenant, content):
    maker, checker, applier_1, applier_2 = (str(uuid.uuid4()) for _ in range(4))
    in_transaction(
        dsn, tenant, content["admin"], lambda c: call(c, "SELECT scoreledger.set_tenant_policy(true, false)")
    )
    batch = create_batch(dsn, tenant, maker, content)
    in_transaction(
        dsn, tenant, checker, lambda c: call(c, "SELECT scoreledger.approve_correction_batch(%s, 'x')", batch)
    )

    apply = "SELECT scoreledger.apply_correction_batch(%s) AS r"
    first, second = race(dsn, tenant, applier_1, apply, applier_2, apply, batch)

    assert second.error is None, f"the second apply failed: {second.error!r}"
    assert first["r"]["already_applied"] is False and first["r"]["submissions_rescored"] == 3
    assert second.result["r"] == first["r"] | {"already_applied": True}
    doc = batch_doc(dsn, tenant, batch)
    assert doc["status"] == "applied" and doc["applied_by"] == applier_1
    assert [e for e in transitions(doc) if e[1] == "applied"] == [("approved", "applied", applier_1)]

    def history(conn):
        return conn.execute(
            "SELECT count(*) AS n FROM scoreledger.score_history WHERE correction_batch_id = %s", [batch]
        ).fetchone()["n"]

    assert in_transaction(dsn, tenant, maker, history) == 3, "one history row per submission, written once"
    assert invariant_breaches(dsn) == []


def test_approval_racing_an_edit_never_approves_content_it_did_not_see(dsn, tenant, content):
    maker, checker = str(uuid.uuid4()), str(uuid.uuid4())
    batch = create_batch(dsn, tenant, maker, content)
    edit = "SELECT scoreledger.update_correction_batch(%s, 'changed while under review', NULL) AS r"
    approve = "SELECT scoreledger.approve_correction_batch(%s, 'ok') AS r"
    first, second = race(dsn, tenant, maker, edit, checker, approve, batch)

    assert first["r"]["status"] == "draft"
    assert isinstance(second.error, psycopg.Error) and second.error.sqlstate == "SL409", second.error or second.result
    doc = batch_doc(dsn, tenant, batch)
    assert doc["status"] == "draft" and doc["reason"] == "changed while under review"
    assert "approved" not in [e["to"] for e in doc["events"]]


# ---------------------------------------------------------------------------
# (c) The CLI path end to end
# ---------------------------------------------------------------------------


def one_line_error(result, code: str) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: {code}: "), result.output
    return result.output


def test_maker_checker_through_the_cli(run, dsn, tmp_path):
    admin, maker, checker, applier = (str(uuid.uuid4()) for _ in range(4))
    name = f"gov-cli-{uuid.uuid4().hex[:6]}"
    assert run("tenant", "create", name).exit_code == 0

    items = standard_items()
    version_id = str(uuid.uuid4())
    (tmp_path / "evaluation.json").write_text(json.dumps(evaluation_doc(str(uuid.uuid4()), version_id, items)))
    lines = [
        json.dumps(
            submission_doc(str(uuid.uuid4()), version_id, str(uuid.uuid4()), {items[0].question_version_id: {q1}})
        )
        for q1 in ("A", "B", "C", "D")
    ]
    (tmp_path / "submissions.jsonl").write_text("\n".join(lines) + "\n")
    for what, path in (("evaluation", "evaluation.json"), ("submissions", "submissions.jsonl")):
        loaded = run("import", what, str(tmp_path / path), tenant=name, actor=admin)
        assert loaded.exit_code == 0, loaded.output
    item = f"{version_id}:{items[0].question_version_id}"

    # Policy: off by default, then both on (audited).
    assert run("tenant", "policy", tenant=name, actor=admin).output.strip() == (
        "require_approval: false, enforce_capabilities: false"
    )
    # Enforcing with nobody able to administer is refused (no lock-out) ...
    locked_out = run("tenant", "policy", "--require-approval", "--enforce-capabilities", tenant=name, actor=admin)
    assert "approve_batch" in one_line_error(locked_out, "SL409")
    # ... so the administrator takes approve_batch first (allowed while not enforced).
    assert run("capability", "grant", admin, "approve_batch", tenant=name, actor=admin).exit_code == 0
    policy = run("tenant", "policy", "--require-approval", "--enforce-capabilities", tenant=name, actor=admin)
    assert policy.exit_code == 0, policy.output
    assert policy.output.strip() == "require_approval: true, enforce_capabilities: true"
    # Once enforced, nobody changes their own capabilities.
    assert "dual control" in one_line_error(
        run("capability", "grant", admin, "apply_batch", tenant=name, actor=admin), "SL403"
    )

    # Nobody holds anything yet: the maker cannot even create.
    refused = run("batch", "create", "--reason", "q1 is ambiguous", "--drop-item", item, tenant=name, actor=maker)
    assert "create_batch" in one_line_error(refused, "SL403")

    for user, capability in ((maker, "create_batch"), (checker, "approve_batch"), (applier, "apply_batch")):
        granted = run("capability", "grant", user, capability, tenant=name, actor=admin)
        assert granted.exit_code == 0 and granted.output.strip() == f"{capability} granted to {user}", granted.output
    again = run("capability", "grant", maker, "create_batch", tenant=name, actor=admin)
    assert again.output.strip() == f"create_batch already held by {maker}"
    assert run("capability", "grant", maker, "rule_the_world", tenant=name, actor=admin).exit_code == 2
    listed = json.loads(run("--json", "capability", "list", tenant=name, actor=admin).output)
    assert sorted((r["user_id"], r["capability"], r["granted_by"]) for r in listed) == sorted(
        [
            (admin, "approve_batch", admin),
            (maker, "create_batch", admin),
            (checker, "approve_batch", admin),
            (applier, "apply_batch", admin),
        ]
    )

    # The maker creates and submits.
    created = run(
        "--json", "batch", "create", "--reason", "q1 is ambiguous", "--drop-item", item, tenant=name, actor=maker
    )
    assert created.exit_code == 0, created.output
    batch = json.loads(created.output)["batch_id"]
    submitted = run("batch", "submit", batch, tenant=name, actor=maker)
    assert submitted.exit_code == 0 and submitted.output.strip() == f"batch {batch}: draft -> pending_review"

    # The maker cannot approve: first for want of the capability, then, even
    # holding it, because they made the batch (dual control).
    assert "approve_batch" in one_line_error(run("batch", "approve", batch, tenant=name, actor=maker), "SL403")
    assert run("capability", "grant", maker, "approve_batch", tenant=name, actor=admin).exit_code == 0
    assert "dual control" in one_line_error(
        run("batch", "approve", batch, "--note", "mine", tenant=name, actor=maker), "SL403"
    )
    # Not approved yet: apply is refused (require_approval).
    one_line_error(run("batch", "apply", batch, "--yes", tenant=name, actor=applier), "SL409")

    approved = run("batch", "approve", batch, "--note", "checked with the item author", tenant=name, actor=checker)
    assert approved.exit_code == 0 and approved.output.strip() == f"batch {batch}: pending_review -> approved"

    # The checker holds no apply_batch; the applier does.
    one_line_error(run("batch", "apply", batch, "--yes", tenant=name, actor=checker), "SL403")
    applied = run("batch", "apply", batch, "--yes", tenant=name, actor=applier)
    assert applied.exit_code == 0, applied.output
    assert applied.output.strip() == f"batch {batch}: 4 submissions rescored, 4 scores changed"

    # The timeline: every step, who took it, the approver's note.
    shown = run("batch", "show", batch, tenant=name, actor=admin)
    assert shown.exit_code == 0, shown.output
    assert f"batch {batch}  [applied]" in shown.output
    timeline = shown.output.split("  timeline:\n", 1)[1].splitlines()
    steps = [" ".join(line.split()[1:4]) for line in timeline]
    assert steps == ["new -> draft", "draft -> pending_review", "pending_review -> approved", "approved -> applied"]
    actors = [line.split(" by ", 1)[1].split()[0] for line in timeline]
    assert actors == [maker, maker, checker, applier]
    assert "(checked with the item author)" in timeline[2]
    assert "(4 submissions rescored, 4 scores changed)" in timeline[3]

    # More batches, in other states, for the action center.
    def new_batch(reason):
        out = run("--json", "batch", "create", "--reason", reason, "--drop-item", item, tenant=name, actor=maker)
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["batch_id"]

    draft = new_batch("still a draft")
    pending = new_batch("waiting for review")
    rejected = new_batch("to be rejected")
    for b in (pending, rejected):
        assert run("batch", "submit", b, tenant=name, actor=maker).exit_code == 0
    assert run("batch", "reject", rejected, tenant=name, actor=checker).exit_code == 2, "reject needs --note"
    rejection = run("batch", "reject", rejected, "--note", "wrong item", tenant=name, actor=checker)
    assert rejection.exit_code == 0 and rejection.output.strip() == f"batch {rejected}: pending_review -> rejected"

    listing = run("batch", "list", tenant=name, actor=admin)
    assert listing.exit_code == 0, listing.output
    headers = [line for line in listing.output.splitlines() if "— waiting for:" in line]
    assert headers == [
        "pending_review (1) — waiting for: approval by someone other than its creator",
        "draft (1) — waiting for: submit for review (this tenant requires approval)",
        "rejected (1) — waiting for: edit (back to draft) or discard",
        "applied (1) — waiting for: nothing (revertible)",
    ]
    # Each batch is listed under its own group.
    group_of, group = {}, None
    for line in listing.output.splitlines():
        if "— waiting for:" in line:
            group = line.split()[0]
        elif line.strip():
            group_of[line.split()[0]] = group
    assert {b: group_of.get(b) for b in (batch, draft, pending, rejected)} == {
        batch: "applied",
        draft: "draft",
        pending: "pending_review",
        rejected: "rejected",
    }
    as_json = json.loads(run("--json", "batch", "list", tenant=name, actor=admin).output)
    assert {r["batch_id"]: r["status"] for r in as_json} == {
        batch: "applied",
        draft: "draft",
        pending: "pending_review",
        rejected: "rejected",
    }

    # The rejected batch goes back to draft when edited, or is discarded.
    edited = run("batch", "edit", rejected, "--reason", "right item now", tenant=name, actor=maker)
    assert edited.exit_code == 0 and edited.output.strip() == f"batch {rejected} edited: rejected -> draft"
    discarded = run("batch", "discard", rejected, "--yes", tenant=name, actor=maker)
    assert discarded.exit_code == 0 and discarded.output.strip() == f"batch {rejected}: draft -> discarded"

    # Grants and the policy change are audited, with the admin as actor.
    with db.acting(dsn, name, admin) as conn:
        audit = conn.execute(
            "SELECT kind, user_id::text AS user_id, capability, actor_id::text AS actor_id, detail"
            " FROM scoreledger.governance_events ORDER BY event_id"
        ).fetchall()
    assert [(e["kind"], e["user_id"], e["capability"], e["actor_id"]) for e in audit] == [
        ("grant", admin, "approve_batch", admin),
        ("policy", None, None, admin),
        ("grant", maker, "create_batch", admin),
        ("grant", checker, "approve_batch", admin),
        ("grant", applier, "apply_batch", admin),
        ("grant", maker, "approve_batch", admin),
    ]
    assert audit[1]["detail"]["after"] == {"require_approval": True, "enforce_capabilities": True}
    revoked = run("capability", "revoke", maker, "approve_batch", tenant=name, actor=admin)
    assert revoked.exit_code == 0 and revoked.output.strip() == f"approve_batch revoked from {maker}"
    assert invariant_breaches(dsn) == []


# ---------------------------------------------------------------------------
# (d) Lowering protection is dual-controlled (issue 12 item 5, contract §10)
# ---------------------------------------------------------------------------


def policy_of(dsn, tenant) -> tuple[bool, bool]:
    row = in_transaction(
        dsn,
        tenant,
        str(uuid.uuid4()),
        lambda c: call(
            c,
            "SELECT require_approval, enforce_capabilities FROM scoreledger.tenants"
            " WHERE tenant_id = scoreledger.current_tenant()",
        ),
    )
    return row["require_approval"], row["enforce_capabilities"]


def fully_protected(dsn, tenant, admin, second_admin):
    """Both settings on; admin and second_admin hold approve_batch and
    manage_policy (each granted by the other, as enforcement requires)."""

    def setup(conn):
        for capability in ("approve_batch", "manage_policy"):
            call(conn, "SELECT scoreledger.grant_capability(%s, %s)", admin, capability)
            call(conn, "SELECT scoreledger.grant_capability(%s, %s)", second_admin, capability)
        call(conn, "SELECT scoreledger.set_tenant_policy(true, true)")

    in_transaction(dsn, tenant, admin, setup)
    assert policy_of(dsn, tenant) == (True, True)


def request_lowering(dsn, tenant, who) -> str:
    policy = in_transaction(
        dsn, tenant, who, lambda c: call(c, "SELECT scoreledger.set_tenant_policy(false, false) AS p")["p"]
    )
    assert (policy["require_approval"], policy["enforce_capabilities"]) == (True, True), "a lowering is only requested"
    return policy["pending_change"]["change_id"]


def test_one_approver_cannot_switch_dual_control_off_alone(dsn, tenant, content):
    """The issue's attack: a holder of approve_batch turns both protections
    off, creates and applies a batch alone, and turns them back on."""
    admin, other = str(uuid.uuid4()), str(uuid.uuid4())
    fully_protected(dsn, tenant, admin, other)
    change = request_lowering(dsn, tenant, admin)

    # Still protected while the change is pending: a draft is not applied.
    in_transaction(
        dsn, tenant, admin, lambda c: call(c, "SELECT scoreledger.grant_capability(%s, 'create_batch')", other)
    )
    batch = create_batch(dsn, tenant, other, content, submit=False)
    assert (
        sqlstate_of(
            lambda: in_transaction(
                dsn, tenant, admin, lambda c: call(c, "SELECT scoreledger.apply_correction_batch(%s)", batch)
            )
        )
        == "SL403"
    )
    with connect(dsn, "attacker-1") as one, connect(dsn, "attacker-2") as two:
        begin_acting(one, tenant, admin)
        assert sqlstate_of(lambda: call(one, "SELECT scoreledger.confirm_tenant_policy(%s)", change)) == "SL403"
        one.rollback()
        # A second session of the same actor is the same actor.
        begin_acting(two, tenant, admin)
        assert sqlstate_of(lambda: call(two, "SELECT scoreledger.confirm_tenant_policy(%s)", change)) == "SL403"
        two.rollback()
        # The owner's plain UPDATE of the tenant row does not lower it either.
        two.execute("SET LOCAL ROLE scoreledger_owner")
        two.execute(
            "SELECT scoreledger_private.enter_context(%s, %s)",
            [tenant, admin],
        )
        assert (
            sqlstate_of(lambda: two.execute("UPDATE scoreledger_private.tenants SET require_approval = false"))
            == "SL403"
        )
        two.rollback()
    assert policy_of(dsn, tenant) == (True, True)

    confirmed = in_transaction(
        dsn, tenant, other, lambda c: call(c, "SELECT scoreledger.confirm_tenant_policy(%s) AS p", change)["p"]
    )
    assert (confirmed["require_approval"], confirmed["enforce_capabilities"]) == (False, False)
    assert policy_of(dsn, tenant) == (False, False)

    def audit(conn):
        return conn.execute(
            "SELECT kind, actor_id::text AS actor_id FROM scoreledger.governance_events"
            " WHERE kind LIKE 'policy%%' ORDER BY event_id"
        ).fetchall()

    assert [(e["kind"], e["actor_id"]) for e in in_transaction(dsn, tenant, admin, audit)] == [
        ("policy", admin),
        ("policy_requested", admin),
        ("policy_confirmed", other),
        ("policy", other),
    ]
    assert invariant_breaches(dsn) == []


def test_two_concurrent_confirmations_one_wins(dsn, tenant, content):
    admin, first, second = (str(uuid.uuid4()) for _ in range(3))
    fully_protected(dsn, tenant, admin, first)
    in_transaction(
        dsn, tenant, admin, lambda c: call(c, "SELECT scoreledger.grant_capability(%s, 'approve_batch')", second)
    )
    in_transaction(
        dsn, tenant, admin, lambda c: call(c, "SELECT scoreledger.grant_capability(%s, 'manage_policy')", second)
    )
    change = request_lowering(dsn, tenant, admin)

    confirm = "SELECT scoreledger.confirm_tenant_policy(%s) AS r"
    winner, loser = race(dsn, tenant, first, confirm, second, confirm, change)

    assert winner["r"]["require_approval"] is False and winner["r"]["enforce_capabilities"] is False
    assert isinstance(loser.error, psycopg.Error), f"the second confirmation did not fail: {loser.result!r}"
    assert loser.error.sqlstate not in DEADLOCK_OR_SERIALIZATION
    assert loser.error.sqlstate == "SL409" and "not pending" in loser.error.diag.message_primary
    assert policy_of(dsn, tenant) == (False, False)


def test_a_confirmation_racing_a_new_request_confirms_nothing_stale(dsn, tenant, content):
    """The requester supersedes their request while another user confirms
    the old one: the confirmation waits for the tenant row, then finds the
    change superseded (SL409); the new request stays pending."""
    admin, other = str(uuid.uuid4()), str(uuid.uuid4())
    fully_protected(dsn, tenant, admin, other)
    old_change = request_lowering(dsn, tenant, admin)

    name = f"gov-confirm-{uuid.uuid4().hex[:8]}"
    with connect(dsn, "gov-request") as requester:
        begin_acting(requester, tenant, admin)
        # Only require_approval this time.
        new_change = call(requester, "SELECT scoreledger.set_tenant_policy(false, NULL) AS p")["p"]["pending_change"][
            "change_id"
        ]
        confirmation = BlockedCall(
            dsn, tenant, other, name, "SELECT scoreledger.confirm_tenant_policy(%s) AS r", old_change
        )
        confirmation.start()
        try:
            wait_until_waiting(dsn, name)
        finally:
            requester.commit()
    confirmation.join(timeout=WAIT_TIMEOUT * 3)
    assert not confirmation.is_alive()
    assert isinstance(confirmation.error, psycopg.Error), confirmation.result
    assert confirmation.error.sqlstate == "SL409" and "superseded" in confirmation.error.diag.message_primary
    assert policy_of(dsn, tenant) == (True, True)

    def changes(conn):
        return {
            r["change_id"]: r["status"]
            for r in conn.execute(
                "SELECT change_id::text AS change_id, status FROM scoreledger.policy_changes"
            ).fetchall()
        }

    assert in_transaction(dsn, tenant, admin, changes) == {old_change: "superseded", new_change: "pending"}
    in_transaction(dsn, tenant, other, lambda c: call(c, "SELECT scoreledger.confirm_tenant_policy(%s)", new_change))
    assert policy_of(dsn, tenant) == (False, True)


def test_a_confirmed_change_lowers_only_in_the_confirming_transaction(dsn, tenant, content):
    """A confirmation is no standing licence: once its transaction is over,
    the owner's UPDATE of the tenant row cannot lower the policy again."""
    admin, other = str(uuid.uuid4()), str(uuid.uuid4())
    fully_protected(dsn, tenant, admin, other)
    change = request_lowering(dsn, tenant, admin)
    in_transaction(dsn, tenant, other, lambda c: call(c, "SELECT scoreledger.confirm_tenant_policy(%s)", change))
    in_transaction(dsn, tenant, admin, lambda c: call(c, "SELECT scoreledger.set_tenant_policy(true, true)"))
    assert policy_of(dsn, tenant) == (True, True)
    with connect(dsn, "gov-owner") as owner:
        owner.execute("SET LOCAL ROLE scoreledger_owner")
        owner.execute(
            "SELECT scoreledger_private.enter_context(%s, %s)",
            [tenant, other],
        )
        assert (
            sqlstate_of(
                lambda: owner.execute(
                    "UPDATE scoreledger_private.tenants SET require_approval = false, enforce_capabilities = false"
                )
            )
            == "SL403"
        )
        owner.rollback()
    assert policy_of(dsn, tenant) == (True, True)


def test_policy_confirmation_through_the_cli(run, dsn):
    admin, other = str(uuid.uuid4()), str(uuid.uuid4())
    name = f"gov-policy-{uuid.uuid4().hex[:6]}"
    assert run("tenant", "create", name).exit_code == 0
    assert run("tenant", "policy", "--require-approval", tenant=name, actor=admin).output.strip() == (
        "require_approval: true, enforce_capabilities: false"
    )
    requested = run("tenant", "policy", "--no-require-approval", tenant=name, actor=admin)
    assert requested.exit_code == 0, requested.output
    lines = requested.output.splitlines()
    assert lines[0] == "require_approval: true, enforce_capabilities: false"
    change = lines[1].split()[2]
    assert lines[1] == f"pending: change {change} turns require_approval off (requested by {admin})"
    assert lines[2].strip() == f"another user confirms it with: scoreledger tenant confirm-policy {change}"
    # Showing the policy shows the pending change too.
    assert run("tenant", "policy", tenant=name, actor=other).output.splitlines()[1:] == lines[1:]
    assert "dual control" in one_line_error(run("tenant", "confirm-policy", change, tenant=name, actor=admin), "SL403")
    confirmed = run("tenant", "confirm-policy", change, tenant=name, actor=other)
    assert confirmed.exit_code == 0, confirmed.output
    assert confirmed.output.splitlines() == [
        f"policy change {change} confirmed",
        "require_approval: false, enforce_capabilities: false",
    ]
    assert run("tenant", "policy", tenant=name, actor=admin).output.strip() == (
        "require_approval: false, enforce_capabilities: false"
    )
