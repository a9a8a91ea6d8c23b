"""The learner commands of contract section 11 through the CLI on a real database: attempts, learner
status, interventions (table and --json), the rules in `import assignment`, and the intervention
effects a batch preview and the apply prompt show."""

from __future__ import annotations

import json
import uuid

import pytest
from helpers import evaluation_doc, standard_items, submission_doc
from scoreledger import api, db
from terminal import in_terminal

# Standard items: q1 key B (1 pt), q2 key A,B (2 pts), q3 partial key A,B,C (3 pts); pass mark 0.5 of 6.
FAIL = {"q1": {"C"}, "q2": "AB", "q3": ""}  # 2/6: fails; with C as q1's key 3/6, passes
PASS = {"q1": {"B"}, "q2": "AB", "q3": "ABC"}


@pytest.fixture
def course(dsn, tenant, actor, run, tmp_path):
    """An evaluation, a remedial assignment and a gated one imported by `import assignment` with its rules."""
    items = standard_items()
    evaluation, version = str(uuid.uuid4()), str(uuid.uuid4())
    with db.acting(dsn, tenant, actor) as conn:
        api.import_evaluation_version(conn, evaluation_doc(evaluation, version, items))
    remedial, gated = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "assignments.json"
    path.write_text(
        json.dumps(
            [
                {"assignment_id": remedial, "title": "Refresher", "evaluation_id": evaluation},
                {
                    "assignment_id": gated,
                    "title": "Safety",
                    "evaluation_id": evaluation,
                    "attempt_policy": "highest",
                    "max_attempts": 3,
                    "retake_cooldown": None,
                    "retake_after_pass": False,
                    "intervention_after_fails": 2,
                    "remedial_assignment_id": remedial,
                },
            ]
        )
    )
    saved = run("--json", "import", "assignment", str(path), tenant=tenant, actor=actor)
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.output)["assignment_ids"] == [remedial, gated]
    qv = {f"q{n + 1}": item.question_version_id for n, item in enumerate(items)}
    return {"evaluation": evaluation, "version": version, "qv": qv, "gated": gated, "remedial": remedial}


def record(dsn, tenant, actor, course, user, answers, assignment=None, attempt_id=None) -> str:
    doc = submission_doc(
        str(uuid.uuid4()), course["version"], user, {course["qv"][q]: set(sel) for q, sel in answers.items()}
    )
    doc["assignment_id"] = assignment or course["gated"]
    if attempt_id:
        doc["attempt_id"] = attempt_id
    with db.acting(dsn, tenant, actor) as conn:
        api.record_submissions(conn, [doc])
    return doc["submission_id"]


def test_import_assignment_takes_the_rules_and_refuses_a_bad_one(run, tenant, actor, course, tmp_path):
    listed = json.loads(run("--json", "assignment", "list", tenant=tenant).output)
    gated = next(a for a in listed if a["assignment_id"] == course["gated"])
    assert (gated["max_attempts"], gated["retake_after_pass"], gated["intervention_after_fails"]) == (3, False, 2)
    assert gated["remedial_assignment_id"] == course["remedial"]

    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "assignment_id": course["gated"],
                "title": "Safety",
                "evaluation_id": course["evaluation"],
                "max_attempts": 0,
            }
        )
    )
    refused = run("--json", "import", "assignment", str(bad), tenant=tenant, actor=actor)
    assert refused.exit_code == 1
    error = json.loads(refused.output)["error"]
    assert error["sqlstate"] == "SL422" and "max_attempts" in error["message"]
    itself = tmp_path / "itself.json"
    itself.write_text(
        json.dumps(
            {
                "assignment_id": course["gated"],
                "title": "Safety",
                "evaluation_id": course["evaluation"],
                "remedial_assignment_id": course["gated"],
            }
        )
    )
    refused = run("import", "assignment", str(itself), tenant=tenant, actor=actor)
    assert refused.exit_code == 1 and "remedial_assignment_id" in refused.output
    after = json.loads(run("--json", "assignment", "list", tenant=tenant).output)
    assert after == listed, "a refused document changes nothing"


def test_attempt_gate_learner_status_and_interventions_table_and_json(run, dsn, tenant, actor, course):
    user, gated = str(uuid.uuid4()), course["gated"]

    checked = json.loads(run("--json", "attempt", "check", gated, user, tenant=tenant, actor=actor).output)
    assert checked["allowed"] is True and "attempt_id" not in checked
    assert run("attempt", "check", gated, user, tenant=tenant, actor=actor).output.startswith("allowed (attempt 1)")

    started = json.loads(run("--json", "attempt", "start", gated, user, tenant=tenant, actor=actor).output)
    assert started["allowed"] is True and started["attempt_no"] == 1
    record(dsn, tenant, actor, course, user, FAIL, attempt_id=started["attempt_id"])
    shown = run("attempt", "start", gated, user, tenant=tenant, actor=actor).output
    assert shown.startswith("allowed (attempt 2): attempt_id ")
    record(dsn, tenant, actor, course, user, FAIL, attempt_id=shown.split()[-1])

    # Two failures: the rule locks the learner and issues the remedial assignment.
    refused = json.loads(run("--json", "attempt", "start", gated, user, tenant=tenant, actor=actor).output)
    assert refused["allowed"] is False and [r["code"] for r in refused["reasons"]] == ["intervention_required"]
    lock = refused["reasons"][0]["intervention_id"]
    table = run("attempt", "check", gated, user, tenant=tenant, actor=actor).output
    assert table.splitlines()[:2] == ["not allowed:", f"  intervention_required (intervention_id {lock})"]

    status = json.loads(run("--json", "learner", "status", gated, user, tenant=tenant, actor=actor).output)
    assert (status["outcome"], status["attempts_used"], status["attempts_left"]) == ("fail", 2, 1)
    assert status["open_intervention"]["intervention_id"] == lock
    assert [(w["assignment_id"], w["status"]) for w in status["remedial_work"]] == [(course["remedial"], "issued")]
    shown = run("learner", "status", gated, user, tenant=tenant, actor=actor).output
    for line in ("outcome: fail", "attempts_used: 2", "attempts_left: 1", "allowed: False"):
        assert line in shown.splitlines()
    assert f"open intervention: {lock}" in shown
    assert f"remedial assignment {course['remedial']}: issued" in shown

    listed = json.loads(run("--json", "intervention", "list", "--status", "open", tenant=tenant).output)
    assert [(r["intervention_id"], r["origin"], r["user_id"]) for r in listed] == [(lock, "rule", user)]
    table = run("intervention", "list", "--assignment", gated, tenant=tenant).output.splitlines()
    assert table[0].split() == [
        "intervention_id",
        "assignment_id",
        "user_id",
        "status",
        "origin",
        "reason",
        "opened_at",
        "note",
    ]
    assert table[2].startswith(lock) and " open " in table[2] and " rule " in table[2]
    assert json.loads(run("--json", "intervention", "list", "--status", "resolved", tenant=tenant).output) == []
    assert run("intervention", "list", "--assignment", course["remedial"], tenant=tenant).output.strip() == "(none)"

    # An instructor resolves it: the learner may start again, the remedial work is withdrawn.
    resolved = run("intervention", "resolve", lock, "--note", "talked it through", tenant=tenant, actor=actor)
    assert resolved.exit_code == 0 and resolved.output.strip() == f"intervention {lock} resolved"
    again = run("--json", "intervention", "resolve", lock, "--note", "twice", tenant=tenant, actor=actor)
    assert again.exit_code == 1 and json.loads(again.output)["error"]["sqlstate"] == "SL409"
    listed = json.loads(run("--json", "intervention", "list", "--status", "resolved", tenant=tenant).output)
    assert [(r["intervention_id"], r["note"]) for r in listed] == [(lock, "talked it through")]
    status = json.loads(run("--json", "learner", "status", gated, user, tenant=tenant, actor=actor).output)
    assert status["allowed"] is True and status["open_intervention"] is None
    assert [w["status"] for w in status["remedial_work"]] == ["withdrawn"]

    # A manual lock, by hand, with its reason; a second open one for the same pair is refused.
    opened = run(
        "--json", "intervention", "open", gated, user, "--reason", "copied answers", tenant=tenant, actor=actor
    )
    manual = json.loads(opened.output)["intervention_id"]
    listed = json.loads(run("--json", "intervention", "list", "--status", "open", tenant=tenant).output)
    assert [(r["intervention_id"], r["origin"], r["reason"]) for r in listed] == [(manual, "manual", "copied answers")]
    shown = run("intervention", "open", gated, user, "--reason", "again", tenant=tenant, actor=actor)
    assert shown.exit_code == 1 and "SL409" in shown.output
    blocked = json.loads(run("--json", "attempt", "start", gated, user, tenant=tenant, actor=actor).output)
    assert blocked["reasons"] == [{"code": "intervention_required", "intervention_id": manual}]
    plain = run("intervention", "open", gated, str(uuid.uuid4()), "--reason", "x", tenant=tenant, actor=actor)
    assert plain.exit_code == 0 and plain.output.startswith("intervention ") and plain.output.strip().endswith("open")


def test_preview_and_the_apply_prompt_show_the_interventions_a_batch_withdraws(run, dsn, tenant, actor, course):
    gated, locked, passing = course["gated"], str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(2):
        record(dsn, tenant, actor, course, locked, FAIL)
    record(dsn, tenant, actor, course, passing, PASS)
    lock = json.loads(run("--json", "intervention", "list", "--status", "open", tenant=tenant).output)[0]
    assert lock["user_id"] == locked

    created = run(
        "--json",
        "batch",
        "create",
        "--reason",
        "q1 key is C",
        "--replace-key",
        f"{course['version']}:{course['qv']['q1']}=C",
        tenant=tenant,
        actor=actor,
    )
    batch = json.loads(created.output)["batch_id"]

    preview = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)
    assert preview["interventions"] == {"opened": 0, "withdrawn": 1, "remedialCompleted": 0}
    safety = next(a for a in preview["assignments"] if a["assignment_id"] == gated)
    assert (safety["interventionsOpened"], safety["interventionsWithdrawn"]) == ([], [locked])
    shown = run("batch", "preview", batch, tenant=tenant, actor=actor).output
    assert "interventions: 0 will open, 1 will be withdrawn; 0 remedial assignment(s) will be completed." in shown
    assert f"  ‹Safety›: 1 unlocked: {locked}" in shown

    at = ["--dsn", dsn, "--tenant", tenant, "--actor", actor, "batch", "apply", batch]
    code, prompt = in_terminal(at, answer="n")
    assert code == 1 and "1 will be withdrawn" in prompt and "apply this batch?" in prompt
    assert run("batch", "apply", batch, "--yes", tenant=tenant, actor=actor).exit_code == 0
    assert json.loads(run("--json", "intervention", "list", "--status", "open", tenant=tenant).output) == []

    # Reverting brings the lock back: its preview (and the revert prompt) says so first.
    reverting = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)
    assert reverting["previewOf"] == "revert"
    assert reverting["interventions"] == {"opened": 1, "withdrawn": 0, "remedialCompleted": 0}
    at = ["--dsn", dsn, "--tenant", tenant, "--actor", actor, "batch", "revert", batch, "--reason", "board said no"]
    code, prompt = in_terminal(at, answer="n")
    assert code == 1 and "interventions: 1 will open" in prompt and f"1 locked: {locked}" in prompt
    assert run("batch", "revert", batch, "--reason", "no", "--yes", tenant=tenant, actor=actor).exit_code == 0
    reopened = json.loads(run("--json", "intervention", "list", "--status", "open", tenant=tenant).output)
    assert [(r["user_id"], r["origin"]) for r in reopened] == [(locked, "rule")]


def test_a_preview_without_intervention_effects_says_so_in_one_line(run, dsn, tenant, actor, course):
    record(dsn, tenant, actor, course, str(uuid.uuid4()), PASS)
    created = run(
        "--json", "batch", "create", "--reason", "q2 free", "--mark-correct",
        f"{course['version']}:{course['qv']['q2']}", tenant=tenant, actor=actor,
    )  # fmt: skip
    shown = run("batch", "preview", json.loads(created.output)["batch_id"], tenant=tenant, actor=actor).output
    assert "interventions: none opened, none withdrawn, no remedial work completed." in shown


def test_batch_list_carries_the_stored_intervention_effects(run, dsn, tenant, actor, course):
    """The action center shows, stored on each batch, what the intervention rule does: the preview's
    totals while the batch is open, what apply or revert did once done (one compact table column)."""
    locked = str(uuid.uuid4())
    for _ in range(2):
        record(dsn, tenant, actor, course, locked, FAIL)
    quiet = run(
        "--json", "batch", "create", "--reason", "q3 free", "--mark-correct",
        f"{course['version']}:{course['qv']['q3']}", tenant=tenant, actor=actor,
    )  # fmt: skip
    created = run(
        "--json", "batch", "create", "--reason", "q1 key is C", "--replace-key",
        f"{course['version']}:{course['qv']['q1']}=C", tenant=tenant, actor=actor,
    )  # fmt: skip
    batch, without = json.loads(created.output)["batch_id"], json.loads(quiet.output)["batch_id"]

    def listed() -> dict[str, tuple]:
        rows = json.loads(run("--json", "batch", "list", tenant=tenant, actor=actor).output)
        return {
            r["batch_id"]: (r["interventions_opened"], r["interventions_withdrawn"], r["remedial_completed"])
            for r in rows
        }

    def table_line(batch_id: str) -> str:
        return next(
            line for line in run("batch", "list", tenant=tenant, actor=actor).output.splitlines() if batch_id in line
        )

    # q3 free lifts the locked learner to 3/6, a pass: the lock would be withdrawn by either batch.
    preview = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)["interventions"]
    assert listed()[batch] == (preview["opened"], preview["withdrawn"], preview["remedialCompleted"]) == (0, 1, 0)
    assert "locks +0/-1" in table_line(batch)

    assert run("batch", "apply", batch, "--yes", tenant=tenant, actor=actor).exit_code == 0
    assert listed()[batch] == (0, 1, 0)  # what apply did
    # The other draft's figures were stored at its creation, when the lock was still open.
    assert listed()[without] == (0, 1, 0)
    assert run("batch", "revert", batch, "--reason", "no", "--yes", tenant=tenant, actor=actor).exit_code == 0
    compensating = next(
        r["batch_id"]
        for r in json.loads(run("--json", "batch", "list", tenant=tenant, actor=actor).output)
        if r["reverts_batch_id"] == batch
    )
    assert listed()[compensating] == (1, 0, 0)
    assert "locks +1/-0" in table_line(compensating)


def test_batch_list_leaves_the_interventions_cell_blank_without_effects(run, dsn, tenant, actor, course):
    record(dsn, tenant, actor, course, str(uuid.uuid4()), PASS)
    created = run(
        "--json", "batch", "create", "--reason", "q2 free", "--mark-correct",
        f"{course['version']}:{course['qv']['q2']}", tenant=tenant, actor=actor,
    )  # fmt: skip
    batch = json.loads(created.output)["batch_id"]
    row = next(r for r in json.loads(run("--json", "batch", "list", tenant=tenant).output) if r["batch_id"] == batch)
    assert (row["interventions_opened"], row["interventions_withdrawn"], row["remedial_completed"]) == (0, 0, 0)
    table = run("batch", "list", tenant=tenant).output
    assert "interventions" in table and "locks" not in table and "done" not in table
