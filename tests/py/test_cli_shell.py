"""The shell's own parts on a real database: the one JSON-lines importer, and
the action center reading what the database stores and allows.

`batch list` must show the figures stored on each batch (never a dry run per
open batch), grouped in the order and with the texts of
scoreledger.batch_next_actions; `batch apply` previews and asks only when
apply is one of the batch's next actions.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from click.testing import CliRunner
from helpers import evaluation_doc, standard_items, submission_doc
from scoreledger import api, db
from scoreledger.cli import main
from scoreledger.importer import relabel


@pytest.fixture
def run(dsn):
    runner = CliRunner()

    def _run(*args, tenant=None, actor=None, input=None):
        base = ["--dsn", dsn] + (["--tenant", tenant] if tenant else []) + (["--actor", actor] if actor else [])
        return runner.invoke(main, base + list(args), input=input, catch_exceptions=False)

    return _run


@pytest.fixture
def exam(dsn, tenant, actor):
    """One evaluation (pass mark 0.5 of 6 points) and its first item's version id."""
    items = standard_items()
    version = str(uuid.uuid4())
    with db.acting(dsn, tenant, actor) as conn:
        api.import_evaluation_version(conn, evaluation_doc(str(uuid.uuid4()), version, items))
    return {"version": version, "items": [i.question_version_id for i in items]}


def submissions(exam: dict, count: int, first_choice: str) -> list[dict]:
    """`count` new submissions choosing `first_choice` on item 1, the key on items 2 and 3 (4-5 of 6 points)."""
    q1, q2, q3 = exam["items"]
    return [
        submission_doc(str(uuid.uuid4()), exam["version"], str(uuid.uuid4()), {q1: {first_choice}, q2: "AB", q3: "A"})
        for _ in range(count)
    ]


def record(dsn, tenant, actor, docs: list[dict]) -> None:
    with db.acting(dsn, tenant, actor) as conn:
        api.record_submissions(conn, docs)


def stored_figures(dsn, tenant, actor, batch: str) -> dict:
    with db.acting(dsn, tenant, actor) as conn:
        return conn.execute(
            """SELECT status, waiting_for, next_actions, action_order, submissions_affected, pass_to_fail,
                      fail_to_pass, figures_at
               FROM scoreledger.batch_next_actions WHERE batch_id = %s""",
            [batch],
        ).fetchone()


def listed_rows(output: str) -> dict[str, dict[str, str]]:
    """batch list's table rows by batch id, each as {column: cell}, cut at the header's column starts."""
    rows: dict[str, dict[str, str]] = {}
    columns: list[re.Match] = []
    for line in output.splitlines():
        if line.startswith("id "):
            columns = list(re.finditer(r"\S+", line))
        elif columns and re.match(r"[0-9a-f]{8}-[0-9a-f]{4}-", line):
            ends = [c.start() for c in columns[1:]] + [None]
            cells = {c.group(): line[c.start() : end].strip() for c, end in zip(columns, ends, strict=True)}
            rows[cells["id"]] = cells
    return rows


# ------------------------------------------------------------ importer


def test_relabel_names_the_file_line_in_both_message_forms():
    lines = [3, 5]
    assert relabel("SL422: submissions[1].answers[0].selected: no such option", lines) == (
        "SL422: line 5: answers[0].selected: no such option"
    )
    assert (
        relabel("SL404: [1].evaluator: no evaluator named 'x'", lines)
        == "SL404: line 5: evaluator: no evaluator named 'x'"
    )
    assert relabel("SL422: [0]: payload must be an object", lines) == "SL422: line 3: payload must be an object"


def test_a_refused_chunk_names_its_line_and_the_chunks_committed_before_it(run, dsn, tenant, actor, exam, tmp_path):
    docs = submissions(exam, 4, "B")
    docs[3]["answers"][0]["selected"] = ["Z"]
    path = tmp_path / "submissions.jsonl"
    # A blank line counts as a line of the file, not as a document.
    path.write_text("\n".join(json.dumps(d) for d in docs[:2]) + "\n\n" + "\n".join(json.dumps(d) for d in docs[2:]))
    result = run("import", "submissions", "--batch-size", "2", str(path), tenant=tenant, actor=actor)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "SL422: line 5: answers[0].selected" in result.output
    # Every line before the refused one is committed, its own chunk's too.
    assert "lines 1-4 are committed (3 recorded by this run), nothing from line 5 on" in result.output
    with db.acting(dsn, tenant, actor) as conn:
        kept = {str(r["submission_id"]) for r in conn.execute("SELECT submission_id FROM scoreledger.submissions")}
    assert kept == {d["submission_id"] for d in docs[:3]}


def test_bad_json_stops_after_committing_what_came_before(run, dsn, tenant, actor, exam, tmp_path):
    docs = submissions(exam, 2, "B")
    path = tmp_path / "submissions.jsonl"
    path.write_text("\n".join(json.dumps(d) for d in docs) + "\n{not json\n")
    result = run("import", "submissions", str(path), tenant=tenant, actor=actor)
    assert result.exit_code == 1 and "line 3: not valid JSON" in result.output
    with db.acting(dsn, tenant, actor) as conn:
        assert conn.execute("SELECT count(*) AS n FROM scoreledger.submissions").fetchone()["n"] == 2


@pytest.mark.parametrize(
    "line",
    [
        '{"submission_id": NaN}',  # Python's json reads NaN; jsonb does not
        '{"a": 1} {"b": 2}',  # two values on one line
        '{"a": 1},{"b": 2}',  # would splice into the chunk's array as two documents
        '{"submission_id": "\\u0000"}',  # Python reads a NUL escape; jsonb does not
    ],
)
def test_a_line_jsonb_cannot_read_is_named_and_nothing_after_it_recorded(run, dsn, tenant, actor, exam, tmp_path, line):
    docs = submissions(exam, 3, "B")
    path = tmp_path / "submissions.jsonl"
    path.write_text("\n".join([json.dumps(docs[0]), json.dumps(docs[1]), line, json.dumps(docs[2])]) + "\n")
    result = run("import", "submissions", str(path), tenant=tenant, actor=actor)
    assert result.exit_code == 1 and "line 3: not valid JSON" in result.output, result.output
    with db.acting(dsn, tenant, actor) as conn:
        assert conn.execute("SELECT count(*) AS n FROM scoreledger.submissions").fetchone()["n"] == 2


# ------------------------------------------------------------ action center


def test_batch_list_shows_the_stored_figures_not_a_fresh_dry_run(run, dsn, tenant, actor, exam):
    # Six learners chose C on item 1: with C as the key, those at 4 of 6 points keep passing, all gain.
    record(dsn, tenant, actor, submissions(exam, 6, "C"))
    target = f"{exam['version']}:{exam['items'][0]}=C"
    created = run(
        "--json", "batch", "create", "--reason", "C is right", "--replace-key", target, tenant=tenant, actor=actor
    )
    assert created.exit_code == 0, created.output
    batch = json.loads(created.output)["batch_id"]
    stored = stored_figures(dsn, tenant, actor, batch)
    assert stored["submissions_affected"] == 6 and stored["figures_at"] is not None

    # Four more submissions after the figures were stored: a dry run now counts ten.
    record(dsn, tenant, actor, submissions(exam, 4, "B"))
    fresh = json.loads(run("--json", "batch", "preview", batch, tenant=tenant, actor=actor).output)
    assert fresh["submissionsAffected"] == 10

    listing = run("batch", "list", tenant=tenant, actor=actor)
    assert listing.exit_code == 0, listing.output
    row = listed_rows(listing.output)[batch]
    shown = {k: row[k] for k in ("affected", "pass→fail", "fail→pass")}
    assert shown == {
        "affected": "6",
        "pass→fail": "" if stored["pass_to_fail"] is None else str(stored["pass_to_fail"]),
        "fail→pass": "" if stored["fail_to_pass"] is None else str(stored["fail_to_pass"]),
    }
    assert f"draft (1) — waiting for: {stored['waiting_for']}" in listing.output


def test_batch_list_groups_in_the_databases_order_with_its_texts(run, dsn, tenant, actor, exam):
    record(dsn, tenant, actor, submissions(exam, 3, "C"))
    target = f"{exam['version']}:{exam['items'][0]}"

    def new_batch(reason: str) -> str:
        out = run(
            "--json", "batch", "create", "--reason", reason, "--replace-key", f"{target}=C", tenant=tenant, actor=actor
        )
        assert out.exit_code == 0, out.output
        return json.loads(out.output)["batch_id"]

    draft, pending, applied = new_batch("draft"), new_batch("pending"), new_batch("applied")
    assert run("batch", "submit", pending, tenant=tenant, actor=actor).exit_code == 0
    assert run("batch", "apply", applied, "--yes", tenant=tenant, actor=actor).exit_code == 0
    listing = run("batch", "list", tenant=tenant, actor=actor)
    assert listing.exit_code == 0, listing.output
    headers = [line for line in listing.output.splitlines() if "— waiting for:" in line]
    views = sorted(
        (stored_figures(dsn, tenant, actor, b) for b in (draft, pending, applied)), key=lambda r: r["action_order"]
    )
    assert headers == [f"{v['status']} (1) — waiting for: {v['waiting_for'] or 'nothing (revertible)'}" for v in views]
    assert [v["status"] for v in views] == ["pending_review", "draft", "applied"]

    only = run("batch", "list", "--status", "applied", tenant=tenant, actor=actor)
    assert set(listed_rows(only.output)) == {applied}


def test_batch_apply_asks_only_when_apply_is_a_next_action(run, dsn, tenant, actor, exam):
    record(dsn, tenant, actor, submissions(exam, 3, "C"))
    target = f"{exam['version']}:{exam['items'][0]}"
    assert run("tenant", "policy", "--require-approval", tenant=tenant, actor=actor).exit_code == 0
    out = run("--json", "batch", "create", "--reason", "r", "--replace-key", f"{target}=C", tenant=tenant, actor=actor)
    batch = json.loads(out.output)["batch_id"]
    assert "apply" not in stored_figures(dsn, tenant, actor, batch)["next_actions"]

    # A draft that needs approval first: no dry run, no question, the database's refusal.
    refused = run("batch", "apply", batch, tenant=tenant, actor=actor)
    assert refused.exit_code == 1 and "SL409" in refused.output
    assert "will be rescored" not in refused.output and "apply this batch?" not in refused.output
