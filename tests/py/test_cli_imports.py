"""Imports an operator can run again (issue 13): truthful counts, one rule
for a refused line (what is committed, how to resume), --rejects, and a
no-op re-run that costs no more than the first."""

from __future__ import annotations

import json
import time
import uuid

import psycopg
import psycopg.types.json
import pytest
from click.testing import CliRunner
from helpers import evaluation_doc, standard_items
from scoreledger import api, db, scores
from scoreledger.cli import main


@pytest.fixture
def run(dsn):
    runner = CliRunner()

    def _run(*args, tenant=None):
        base = ["--dsn", dsn] + (["--tenant", tenant] if tenant else [])
        return runner.invoke(main, base + list(args), catch_exceptions=False)

    return _run


@pytest.fixture
def exam(dsn, tenant, actor):
    items = standard_items()
    version = str(uuid.uuid4())
    with db.acting(dsn, tenant, actor) as conn:
        api.import_evaluation_version(conn, evaluation_doc(str(uuid.uuid4()), version, items))
        scores.register_evaluator(conn, "judge")
    return {"version": version, "items": [i.question_version_id for i in items]}


def attempt(exam: dict, n: int, first_choice: str = "B") -> dict:
    """A submission document without submission_id: its id is derived."""
    q1, q2, q3 = exam["items"]
    return {
        "evaluation_version_id": exam["version"],
        "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"learner-{n}")),
        "submitted_at": f"2026-11-01T10:{n % 60:02d}:{n // 60 % 60:02d}Z",
        "answers": [
            {"question_version_id": q1, "selected": [first_choice]},
            {"question_version_id": q2, "selected": ["A", "B"]},
            {"question_version_id": q3, "selected": ["A"]},
        ],
    }


def write_lines(path, lines: list) -> str:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return str(path)


def count(dsn, tenant, view: str) -> int:
    with db.acting(dsn, tenant) as conn:
        return conn.execute(f"SELECT count(*) AS n FROM scoreledger.{view}").fetchone()["n"]


def submission_ids(dsn, tenant) -> list[str]:
    with db.acting(dsn, tenant) as conn:
        return [str(r["submission_id"]) for r in conn.execute("SELECT submission_id FROM scoreledger.submissions")]


# ------------------------------------------------------------ counts


def test_a_rerun_over_a_grown_file_reports_new_and_already_recorded(run, dsn, tenant, exam, tmp_path):
    path = tmp_path / "s.jsonl"
    first = run(
        "--json", "import", "submissions", write_lines(path, [attempt(exam, n) for n in range(4)]), tenant=tenant
    )
    assert json.loads(first.output)["recorded"] == 4
    grown = run("import", "submissions", write_lines(path, [attempt(exam, n) for n in range(6)]), tenant=tenant)
    assert grown.exit_code == 0, grown.output
    assert grown.output.strip() == "6 submissions read: 2 recorded, 4 already recorded"
    assert count(dsn, tenant, "submissions") == 6


def test_results_without_result_id_are_recorded_once_however_often_imported(run, dsn, tenant, exam, tmp_path):
    run("import", "submissions", write_lines(tmp_path / "s.jsonl", [attempt(exam, n) for n in range(3)]), tenant=tenant)
    sessions = submission_ids(dsn, tenant)
    lines = [
        {"evaluator": "judge", "submission_id": s, "payload": {"tone": "ok", "n": i}} for i, s in enumerate(sessions)
    ]
    path = write_lines(tmp_path / "r.jsonl", lines)
    first = json.loads(run("--json", "import", "results", path, tenant=tenant).output)
    assert (first["recorded"], first["already_recorded"]) == (3, 0)
    again = run("import", "results", "--batch-size", "2", path, tenant=tenant)
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "3 results read: 0 recorded, 3 already recorded"
    assert count(dsn, tenant, "evaluation_results") == 3
    # A new verdict (another payload) on the same submission is a result of its own.
    lines.append({"evaluator": "judge", "submission_id": sessions[0], "payload": {"tone": "rude"}})
    grown = json.loads(
        run("--json", "import", "results", write_lines(tmp_path / "r.jsonl", lines), tenant=tenant).output
    )
    assert (grown["recorded"], grown["already_recorded"]) == (1, 3)


# ------------------------------------------------------------ one rule for a refused line


@pytest.mark.parametrize(
    "bad_line",
    [
        "{not json",
        "UNKNOWN_VERSION",
        "BAD_OPTION",
    ],
)
def test_a_bad_line_mid_file_commits_every_line_before_it_and_says_how_to_resume(
    run, dsn, tenant, exam, tmp_path, bad_line
):
    docs = [attempt(exam, n) for n in range(9)]
    if bad_line == "UNKNOWN_VERSION":
        bad = dict(docs[5], evaluation_version_id=str(uuid.uuid4()))
    elif bad_line == "BAD_OPTION":
        bad = attempt(exam, 5, first_choice="Z")
    else:
        bad = bad_line
    path = write_lines(tmp_path / "s.jsonl", docs[:5] + [bad] + docs[6:])
    result = run("import", "submissions", "--batch-size", "4", path, tenant=tenant)
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "line 6" in result.output
    assert "lines 1-5 are committed (5 recorded by this run), nothing from line 6 on" in result.output
    assert "--skip 5" in result.output
    assert count(dsn, tenant, "submissions") == 5

    # Resume after the committed lines, leaving the bad one out.
    resumed = run("--json", "import", "submissions", "--skip", "6", path, tenant=tenant)
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.output) == {"documents": 3, "recorded": 3, "already_recorded": 0, "rejected": 0}
    # Or fix it and simply run the whole file again: the rest are no-ops.
    fixed = write_lines(tmp_path / "s.jsonl", docs)
    rerun = json.loads(run("--json", "import", "submissions", fixed, tenant=tenant).output)
    assert (rerun["recorded"], rerun["already_recorded"]) == (1, 8)


def test_the_rule_is_in_the_help_of_both_imports(run):
    for kind in ("submissions", "results"):
        shown = run("import", kind, "--help").output
        assert "every line before it is committed, nothing from it on" in shown
        assert "--rejects" in shown and "--skip" in shown
        assert '"payload"' in shown if kind == "results" else '"answers"' in shown


def test_rejects_sets_refused_lines_aside_with_the_databases_reason_and_goes_on(run, dsn, tenant, exam, tmp_path):
    docs = [attempt(exam, n) for n in range(8)]
    twin = attempt(exam, 1, first_choice="C")  # the same attempt as line 2 (an earlier chunk), other content
    changed = dict(attempt(exam, 0, first_choice="A"))  # recorded below with B
    run("import", "submissions", write_lines(tmp_path / "pre.jsonl", [docs[0]]), tenant=tenant)
    lines = [
        docs[0],
        docs[1],
        "{oops",
        dict(docs[2], evaluation_version_id=str(uuid.uuid4())),
        docs[3],
        attempt(exam, 4, first_choice="Z"),
        twin,
        changed,
        docs[5],
    ]
    rejects = tmp_path / "rejects.jsonl"
    result = run(
        "--json",
        "import",
        "submissions",
        "--batch-size",
        "3",
        "--rejects",
        str(rejects),
        write_lines(tmp_path / "s.jsonl", lines),
        tenant=tenant,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"documents": 9, "recorded": 3, "already_recorded": 1, "rejected": 5}
    refused = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["line"], r["sqlstate"]) for r in refused] == [
        (3, None),
        (4, "SL404"),
        (6, "SL422"),
        (7, "SL423"),
        (8, "SL423"),
    ]
    assert refused[0]["input"] == "{oops" and "not valid JSON" in refused[0]["message"]
    assert "answers[0].selected" in refused[2]["message"] and "line 6" in refused[2]["message"]
    assert "already recorded with other content" in refused[3]["message"]
    assert json.loads(refused[4]["input"]) == changed
    assert count(dsn, tenant, "submissions") == 4


def test_result_rejects_come_from_the_database(run, dsn, tenant, exam, tmp_path):
    run("import", "submissions", write_lines(tmp_path / "s.jsonl", [attempt(exam, 0)]), tenant=tenant)
    session = submission_ids(dsn, tenant)[0]
    rejects = tmp_path / "rejects.jsonl"
    lines = [
        {"evaluator": "judge", "submission_id": session, "payload": {"a": 1}},
        {"evaluator": "nobody", "submission_id": session, "payload": {"a": 1}},
        {"evaluator": "judge", "submission_id": str(uuid.uuid4()), "payload": {"a": 1}},
        {"evaluator": "judge", "submission_id": session, "payload": {"a": 2}},
    ]
    result = run(
        "import", "results", "--rejects", str(rejects), write_lines(tmp_path / "r.jsonl", lines), tenant=tenant
    )
    assert result.exit_code == 0, result.output
    assert "4 results read: 2 recorded, 0 already recorded, 2 rejected" in result.output
    refused = [json.loads(x) for x in rejects.read_text().splitlines()]
    assert [(r["line"], r["sqlstate"]) for r in refused] == [(2, "SL404"), (3, "SL404")]
    assert refused[0]["message"].startswith("line 2: evaluator: no evaluator named 'nobody'")


# ------------------------------------------------------------ a no-op re-run is not the slow path


def test_a_noop_reimport_is_not_slower_than_the_first(run, dsn, tenant, exam, tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [attempt(exam, n) for n in range(3000)])

    def timed() -> tuple[float, dict]:
        start = time.perf_counter()
        result = run("--json", "import", "submissions", path, tenant=tenant)
        return time.perf_counter() - start, json.loads(result.output)

    first_seconds, first = timed()
    again_seconds, again = timed()
    assert (first["recorded"], again["already_recorded"]) == (3000, 3000)
    # Before the set-based comparison, the re-run took about twice as long as the first import.
    assert again_seconds < first_seconds, (first_seconds, again_seconds)


# ------------------------------------------------------------ content arrays


def test_an_array_of_evaluations_saves_beside_a_busy_writer_and_names_a_refused_document(
    run, dsn, tenant, actor, exam, tmp_path
):
    """One writing call per transaction: while another transaction of the
    tenant is inside a writing call, a second call in one transaction is
    refused (SL409), so the CLI saves each document in its own transaction.
    A refused document is named, and the ones before it stay saved."""
    items = standard_items()
    good = [evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), items) for _ in range(2)]
    busy = db.connect(dsn)
    try:
        busy.execute("SET LOCAL ROLE scoreledger_app")
        busy.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])
        busy.execute("SELECT scoreledger.record_submission(%s)", [psycopg.types.json.Jsonb(attempt(exam, 1))])
        both = tmp_path / "both.json"
        both.write_text(json.dumps(good))
        result = run("--json", "import", "evaluation", str(both), tenant=tenant)
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["evaluation_version_ids"] == [d["evaluation_version_id"] for d in good]
    finally:
        busy.rollback()
        busy.close()
    bad = evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), items)
    bad["pass_mark"] = 7
    third = evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), items)
    mixed = tmp_path / "mixed.json"
    mixed.write_text(json.dumps([third, bad]))
    result = run("import", "evaluation", str(mixed), tenant=tenant)
    assert result.exit_code == 1, result.output
    assert "document 1 (counting from 0): " in result.output and "the 1 before it were saved" in result.output
    assert count(dsn, tenant, "evaluation_versions") == 1 + 2 + 1  # the exam, the two, the third
