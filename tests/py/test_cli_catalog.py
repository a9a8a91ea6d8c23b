"""Discoverable ids and a revert as guarded as apply (issue 13), through the CLI on a real database."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from helpers import evaluation_doc, standard_items, submission_doc
from scoreledger import api, db
from scoreledger.cli import main
from terminal import in_terminal


@pytest.fixture
def run(dsn):
    runner = CliRunner()

    def _run(*args, tenant=None, actor=None, input=None):
        base = ["--dsn", dsn] + (["--tenant", tenant] if tenant else []) + (["--actor", actor] if actor else [])
        return runner.invoke(main, base + list(args), input=input, catch_exceptions=False)

    return _run


@pytest.fixture
def exam(dsn, tenant, actor):
    """One evaluation (pass mark 0.5 of 6 points), an assignment, and six submissions:
    three chose the key B on q1 (4/6), three chose C (3/6); q2 right, q3 one of three."""
    items = standard_items()
    evaluation, version = str(uuid.uuid4()), str(uuid.uuid4())
    q1, q2, q3 = (i.question_version_id for i in items)
    docs = [
        submission_doc(str(uuid.uuid4()), version, str(uuid.uuid4()), {q1: {"B"}, q2: "AB", q3: "A"}) for _ in range(3)
    ] + [
        submission_doc(str(uuid.uuid4()), version, str(uuid.uuid4()), {q1: {"C"}, q2: "AB", q3: "A"}) for _ in range(3)
    ]
    with db.acting(dsn, tenant, actor) as conn:
        api.import_evaluation_version(conn, evaluation_doc(evaluation, version, items))
        api.upsert_assignment(
            conn, {"assignment_id": str(uuid.uuid4()), "title": "Safety", "evaluation_id": evaluation}
        )
        api.record_submissions(conn, docs)
    return {"evaluation": evaluation, "version": version, "items": [q1, q2, q3], "docs": docs}


def replace_q1_key(run, tenant, actor, exam) -> str:
    """A batch making C the key of q1: the B-choosers lose a point (4/6 -> 3/6, still pass at 0.5), C-choosers gain."""
    created = run(
        "--json",
        "batch",
        "create",
        "--reason",
        "q1 key is C",
        "--replace-key",
        f"{exam['version']}:{exam['items'][0]}=C",
        tenant=tenant,
        actor=actor,
    )
    assert created.exit_code == 0, created.output
    return json.loads(created.output)["batch_id"]


# ------------------------------------------------------------ ids a user can find


def test_evaluation_list_and_show_give_ids_items_keys_and_the_distribution(run, tenant, exam):
    listed = json.loads(run("--json", "evaluation", "list", tenant=tenant).output)
    assert [(r["evaluation_id"], r["evaluation_version_id"], r["item_count"], r["submissions"]) for r in listed] == [
        (exam["evaluation"], exam["version"], 3, 6)
    ]
    shown = json.loads(run("--json", "evaluation", "show", exam["version"], tenant=tenant).output)
    version = shown["versions"][0]
    assert shown["evaluation_id"] == exam["evaluation"] and version["pass_mark"] == 0.5
    assert [i["question_version_id"] for i in version["items"]] == exam["items"]
    assert [(i["kind"], i["correct"], i["points"]) for i in version["items"]][0] == ("single_choice", ["B"], 1)
    hist = version["histogram"]
    assert hist["pass_marks"] == [0.5] and any(b["from"] == 0.5 for b in hist["bins"])
    assert sum(b["submissions"] for b in hist["bins"] if b["from"] >= 0.5) == 6
    human = run("evaluation", "show", exam["evaluation"], tenant=tenant)
    assert human.exit_code == 0, human.output
    assert "pass mark 50%" in human.output and exam["items"][2] in human.output
    missing = run("evaluation", "show", str(uuid.uuid4()), tenant=tenant)
    assert missing.exit_code == 1 and "SL404" in missing.output


def test_assignment_evaluator_and_queue_commands(run, tenant, exam, tmp_path):
    assignments = json.loads(run("--json", "assignment", "list", tenant=tenant).output)
    assert [(a["title"], a["evaluation_id"]) for a in assignments] == [("Safety", exam["evaluation"])]

    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"tone": {"type": "choice", "choices": ["ok", "rude"]}}))
    registered = run("--json", "evaluator", "register", "judge", "--schema", str(schema), tenant=tenant)
    assert registered.exit_code == 0, registered.output
    again = run("--json", "evaluator", "register", "judge", "--schema", str(schema), tenant=tenant)
    assert json.loads(again.output)["evaluator_id"] == json.loads(registered.output)["evaluator_id"]
    other = run("evaluator", "register", "judge", tenant=tenant)
    assert other.exit_code == 1 and "SL409" in other.output
    evaluators = json.loads(run("--json", "evaluator", "list", tenant=tenant).output)
    assert [(e["name"], e["output_schema"], e["results"]) for e in evaluators] == [
        ("judge", {"tone": {"type": "choice", "choices": ["ok", "rude"]}}, 0)
    ]
    # Now importing results needs no psql.
    path = tmp_path / "r.jsonl"
    path.write_text(
        json.dumps({"evaluator": "judge", "submission_id": exam["docs"][0]["submission_id"], "payload": {"tone": "ok"}})
    )
    assert run("import", "results", str(path), tenant=tenant).exit_code == 0

    created = run("--json", "queue", "create", "board", tenant=tenant)
    assert created.exit_code == 0, created.output
    queues = json.loads(run("--json", "queue", "list", tenant=tenant).output)
    assert [(q["queue_id"], q["name"], q["items"]) for q in queues] == [
        (json.loads(created.output)["queue_id"], "board", 0)
    ]
    assert "board" in run("queue", "list", tenant=tenant).output


def test_import_help_shows_the_document_format(run):
    for kind, field in (("evaluation", '"items"'), ("assignment", '"attempt_policy"'), ("submissions", '"answers"')):
        shown = run("import", kind, "--help").output
        assert field in shown and "docs/documents.md" in shown, kind


# ------------------------------------------------------------ revert as guarded as apply


def test_preview_of_an_applied_batch_is_its_revert_and_revert_asks(run, dsn, tenant, actor, exam):
    batch = replace_q1_key(run, tenant, actor, exam)
    assert run("batch", "apply", batch, "--yes", tenant=tenant, actor=actor).exit_code == 0

    preview = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)
    assert preview["previewOf"] == "revert" and preview["submissionsAffected"] == 6
    assert sum(b["before"] for b in preview["histogram"]["bins"]) == 6
    human = run("batch", "preview", batch, tenant=tenant, actor=actor)
    assert "reverting it would do" in human.output

    at = ["--dsn", dsn, "--tenant", tenant, "--actor", actor, "batch", "revert", batch, "--reason", "board said no"]
    code, shown = in_terminal(at, answer="n")
    assert code == 1 and "revert this batch?" in shown
    assert "6 submissions will be rescored" in shown
    listed = json.loads(run("--json", "batch", "list", tenant=tenant).output)
    assert [b["status"] for b in listed] == ["applied"], "declining wrote nothing"
    # Without a terminal nobody can be asked: refused unless --yes, like apply.
    refused = run("batch", "revert", batch, "--reason", "board said no", tenant=tenant, actor=actor, input="y\n")
    assert refused.exit_code == 2 and "needs --yes" in refused.output

    code, shown = in_terminal(at, answer="y")
    assert code == 0 and "reverted by batch" in shown

    compensating = next(
        b for b in json.loads(run("--json", "batch", "list", tenant=tenant).output) if b["reverts_batch_id"]
    )
    table = run("batch", "list", tenant=tenant).output
    line = next(x for x in table.splitlines() if x.startswith(str(compensating["batch_id"])))
    assert "revert of " + batch[:8] in line and "replace_key" not in line
    assert "compensating batch, final" in table and table.count("revertible") == 0
    shown = run("batch", "show", str(compensating["batch_id"]), tenant=tenant).output
    assert f"undoes the corrections of batch {batch}" in shown and "  corrections:" not in shown


def test_applying_twice_prints_one_truthful_line_and_discard_asks(run, dsn, tenant, actor, exam):
    batch = replace_q1_key(run, tenant, actor, exam)
    assert run("batch", "apply", batch, "--yes", tenant=tenant, actor=actor).exit_code == 0
    twice = run("batch", "apply", batch, "--yes", tenant=tenant, actor=actor)
    assert twice.exit_code == 0 and twice.output.count("\n") == 1, twice.output
    assert "already applied: nothing written now" in twice.output

    draft = replace_q1_key(run, tenant, actor, exam)
    code, shown = in_terminal(
        ["--dsn", dsn, "--tenant", tenant, "--actor", actor, "batch", "discard", draft], answer="n"
    )
    assert code == 1 and "discard this batch?" in shown
    assert run("--json", "batch", "show", draft, tenant=tenant).output.count('"status": "draft"') == 1
    assert run("batch", "discard", draft, "--yes", tenant=tenant, actor=actor).exit_code == 0


def test_preview_histogram_marks_the_pass_mark_so_a_flip_shows(run, tenant, actor, exam):
    batch = replace_q1_key(run, tenant, actor, exam)
    doc = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)
    bins = {(b["from"], b["to"]): (b["before"], b["after"]) for b in doc["histogram"]["bins"]}
    assert doc["histogram"]["pass_marks"] == [0.5]
    # B-choosers: 4/6 -> 3/6 (exactly at the pass mark: in the bin starting there); C-choosers: 3/6 -> 4/6.
    assert bins[(0.5, 0.6)] == (3, 3) and bins[(0.6, 0.7)] == (3, 3)
    human = run("batch", "preview", batch, tenant=tenant, actor=actor).output
    lines = human.splitlines()
    mark = next(i for i, x in enumerate(lines) if "pass mark 50%" in x)
    assert lines[mark - 1].strip().startswith("50-60%")


# ------------------------------------------------------------ history


def test_history_shows_actor_batch_reason_and_changed_only_hides_no_change(run, tenant, actor, exam):
    first = replace_q1_key(run, tenant, actor, exam)
    run("batch", "apply", first, "--yes", tenant=tenant, actor=actor)
    # Restating q2's key as it was: rescored, but no score changes.
    noop = run(
        "--json",
        "batch",
        "create",
        "--reason",
        "q2 key restated",
        "--replace-key",
        f"{exam['version']}:{exam['items'][1]}=A,B",
        tenant=tenant,
        actor=actor,
    )
    second = json.loads(noop.output)["batch_id"]
    run("batch", "apply", second, "--yes", tenant=tenant, actor=actor)
    submission = exam["docs"][0]["submission_id"]
    history = json.loads(run("--json", "submission", "history", submission, tenant=tenant).output)["history"]
    assert [(h["correction_batch_id"], h["actor"], h["reason"]) for h in history] == [
        (None, None, None),
        (first, actor, "q1 key is C"),
        (second, actor, "q2 key restated"),
    ]
    human = run("submission", "history", submission, tenant=tenant).output
    assert "actor" in human and "q1 key is C" in human and first in human
    changed = json.loads(run("--json", "submission", "history", submission, "--changed-only", tenant=tenant).output)
    assert [h["correction_batch_id"] for h in changed["history"]] == [None, first]
