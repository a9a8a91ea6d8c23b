"""The CLI end to end on a real database: exit codes, one-line errors, --json."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from scoreledger.cli import main
from terminal import in_terminal


def evaluation_doc(version_no=1):
    return {
        "evaluation_id": "11111111-0000-4000-8000-000000000001",
        "evaluation_version_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"v{version_no}")),
        "evaluation_title": "Final Safety Exam",
        "version_no": version_no,
        "pass_mark": 0.5,
        "items": [
            {
                "question_id": "22222222-0000-4000-8000-000000000001",
                "question_version_id": "33333333-0000-4000-8000-000000000001",
                "kind": "single_choice",
                "prompt": "Which?",
                "options": ["A", "B", "C", "D"],
                "correct": ["B"],
                "points": 1,
            },
            {
                "question_id": "22222222-0000-4000-8000-000000000002",
                "question_version_id": "33333333-0000-4000-8000-000000000002",
                "kind": "multiple_choice",
                "prompt": "Which ones?",
                "options": ["A", "B", "C"],
                "correct": ["A", "B"],
                "points": 2,
                "scoring": "partial",
            },
        ],
    }


def submission_line(n: int, version_id: str, q1: list[str], q2: list[str]) -> str:
    return json.dumps(
        {
            "submission_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"s{n}")),
            "evaluation_version_id": version_id,
            "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"u{n % 3}")),
            "submitted_at": f"2026-11-01T10:{n:02d}:00Z",
            "answers": [
                {"question_version_id": "33333333-0000-4000-8000-000000000001", "selected": q1},
                {"question_version_id": "33333333-0000-4000-8000-000000000002", "selected": q2},
            ],
        }
    )


@pytest.fixture
def loaded(run, tmp_path, actor):
    """A tenant with one evaluation and six submissions, loaded through the CLI."""
    name = f"cli-{uuid.uuid4().hex[:6]}"
    assert run("tenant", "create", name).exit_code == 0
    evaluation = tmp_path / "evaluation.json"
    evaluation.write_text(json.dumps(evaluation_doc()))
    result = run("--json", "import", "evaluation", str(evaluation), tenant=name, actor=actor)
    assert result.exit_code == 0, result.output
    version_id = json.loads(result.output)["evaluation_version_ids"][0]
    lines = [
        submission_line(n, version_id, ["B"] if n % 2 else ["C"], ["A", "B"] if n < 3 else ["A"]) for n in range(6)
    ]
    path = tmp_path / "submissions.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return {"tenant": name, "actor": actor, "version_id": version_id, "submissions": path, "lines": lines}


def test_import_submissions_reports_counts_and_is_idempotent(run, loaded):
    first = run(
        "--json", "import", "submissions", str(loaded["submissions"]), tenant=loaded["tenant"], actor=loaded["actor"]
    )
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"documents": 6, "recorded": 6, "already_recorded": 0, "rejected": 0}
    again = run(
        "--json", "import", "submissions", "--batch-size", "4", str(loaded["submissions"]), tenant=loaded["tenant"]
    )
    assert json.loads(again.output) == {"documents": 6, "recorded": 0, "already_recorded": 6, "rejected": 0}


def test_bad_line_is_one_line_error_naming_the_line(run, loaded, tmp_path):
    bad = tmp_path / "bad.jsonl"
    doc = json.loads(loaded["lines"][0])
    doc["answers"][0]["selected"] = ["Z"]
    bad.write_text(loaded["lines"][1] + "\n" + json.dumps(doc) + "\n")
    result = run("import", "submissions", str(bad), tenant=loaded["tenant"])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.output.count("\n") == 1
    assert "SL422" in result.output and "line 2: answers[0].selected" in result.output
    # The line before it is committed, and the message says so.
    assert "lines 1-1 are committed" in result.output and "--skip 1" in result.output
    listed = run(
        "--json", "submission", "history", json.loads(loaded["lines"][1])["submission_id"], tenant=loaded["tenant"]
    )
    assert listed.exit_code == 0, listed.output


def test_batch_lifecycle_through_the_cli(run, loaded):
    tenant, actor = loaded["tenant"], loaded["actor"]
    assert run("import", "submissions", str(loaded["submissions"]), tenant=tenant).exit_code == 0
    target = f"{loaded['version_id']}:33333333-0000-4000-8000-000000000001"
    created = run(
        "--json", "batch", "create", "--reason", "key was C", "--replace-key", f"{target}=C", tenant=tenant, actor=actor
    )
    assert created.exit_code == 0, created.output
    batch = json.loads(created.output)["batch_id"]

    applied = json.loads(run("--json", "batch", "apply", batch, "--yes", tenant=tenant, actor=actor).output)
    assert applied["submissions_rescored"] == 6 and applied["already_applied"] is False
    # Odd submissions chose B (was right, now wrong), even chose C: every score moves by one point.
    assert applied["scores_changed"] == 6
    again = json.loads(run("--json", "batch", "apply", batch, "--yes", tenant=tenant, actor=actor).output)
    assert again["already_applied"] is True

    shown = run("batch", "show", batch, tenant=tenant, actor=actor)
    assert "key was C" in shown.output and "draft -> applied" in shown.output

    submission = json.loads(loaded["lines"][0])["submission_id"]
    history = json.loads(run("--json", "submission", "history", submission, tenant=tenant).output)
    assert [h["reason"] for h in history["history"]] == [None, "key was C"]
    assert [h["score"] for h in history["history"]] == [2, 3]

    reverted = run("--json", "batch", "revert", batch, "--reason", "board said no", "--yes", tenant=tenant, actor=actor)
    assert reverted.exit_code == 0, reverted.output
    history = json.loads(run("--json", "submission", "history", submission, tenant=tenant).output)
    assert [h["score"] for h in history["history"]] == [2, 3, 2]

    twice = run("batch", "revert", batch, "--reason", "again", tenant=tenant, actor=actor)
    assert twice.exit_code == 1 and twice.output.startswith("Error: SL409")

    listing = json.loads(run("--json", "batch", "list", tenant=tenant).output)
    assert [b["status"] for b in listing] == ["applied", "reverted"]


def test_usage_errors_exit_2(run, loaded):
    assert run("batch", "create", "--reason", "x", tenant=loaded["tenant"], actor=loaded["actor"]).exit_code == 2
    bad_ref = run(
        "batch", "create", "--reason", "x", "--drop-item", "v1:", tenant=loaded["tenant"], actor=loaded["actor"]
    )
    assert bad_ref.exit_code == 2
    assert run("batch", "list").exit_code == 2  # no tenant
    assert run("nonsense").exit_code == 2


def test_unknown_tenant_and_missing_actor_are_one_line_errors(run, loaded):
    result = run("batch", "list", tenant="no-such-tenant")
    assert result.exit_code == 1 and "does not exist" in result.output
    target = f"{loaded['version_id']}:33333333-0000-4000-8000-000000000001"
    result = run("batch", "create", "--reason", "r", "--drop-item", target, tenant=loaded["tenant"])
    # A missing actor is bad usage (exit 2) with the hint where to give one.
    assert result.exit_code == 2 and "SL401" in result.output and "--actor UUID or SCORELEDGER_ACTOR" in result.output


def test_db_status_and_check(run):
    status = json.loads(run("--json", "db", "status").output)
    assert {m["state"] for m in status["migrations"]} == {"applied"}
    assert {d["state"] for d in status["definitions"]} == {"loaded"}
    checked = run("--json", "check")
    assert checked.exit_code == 0 and json.loads(checked.output)["ok"] is True


def test_check_exits_1_and_names_a_breach(run, loaded, dsn):
    import psycopg

    assert run("import", "submissions", str(loaded["submissions"]), tenant=loaded["tenant"]).exit_code == 0
    with psycopg.connect(dsn) as conn:
        # As the owner, write a history row that disagrees with the scoring rules:
        # the score follows it (that is the legitimate path), the rules do not.
        conn.execute("SET ROLE scoreledger_owner")
        tenant_id = conn.execute(
            "SELECT tenant_id FROM scoreledger.tenants WHERE name = %s", [loaded["tenant"]]
        ).fetchone()[0]
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [str(tenant_id)])
        conn.execute(
            "INSERT INTO scoreledger_private.score_history (tenant_id, submission_id, score, max_score) VALUES (%s, %s, 99, 3)",
            [tenant_id, json.loads(loaded["lines"][0])["submission_id"]],
        )
    result = run("check")
    assert result.exit_code == 1
    assert "FAIL" in result.output and "stored score = scoring rules" in result.output


def test_migrate_is_idempotent_and_creates_missing_database(run, dsn):
    import psycopg
    from psycopg.conninfo import make_conninfo

    fresh = f"scoreledger_cli_{uuid.uuid4().hex[:8]}"
    fresh_dsn = make_conninfo(dsn, dbname=fresh)
    runner = CliRunner()
    try:
        first = runner.invoke(main, ["--dsn", fresh_dsn, "db", "migrate"])
        assert first.exit_code == 0 and "created database" in first.output
        second = runner.invoke(main, ["--dsn", fresh_dsn, "--json", "db", "migrate"])
        report = json.loads(second.output)
        assert report["database_created"] is False and report["migrations_applied"] == []
    finally:
        with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')


def test_concurrent_migrators_are_safe(dsn):
    """Four migrators at once — two on one new database, two on another — all
    succeed and leave both databases fully migrated (roles are server-wide)."""
    import threading

    import psycopg
    from psycopg.conninfo import make_conninfo
    from scoreledger import db

    names = [f"scoreledger_mig_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def migrate(name):
        try:
            barrier.wait()
            db.migrate(make_conninfo(dsn, dbname=name))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate, args=(n,)) for n in names * 2]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for name in names:
            state = db.status(make_conninfo(dsn, dbname=name))
            assert {m["state"] for m in state["migrations"]} == {"applied"}
            assert {d["state"] for d in state["definitions"]} == {"loaded"}
    finally:
        with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_preview_then_confirmed_apply(run, loaded, tmp_path, dsn):
    tenant, actor = loaded["tenant"], loaded["actor"]
    assert run("import", "submissions", str(loaded["submissions"]), tenant=tenant).exit_code == 0
    target = f"{loaded['version_id']}:33333333-0000-4000-8000-000000000001"
    batch = json.loads(
        run(
            "--json",
            "batch",
            "create",
            "--reason",
            "C is right",
            "--replace-key",
            f"{target}=C",
            tenant=tenant,
            actor=actor,
        ).output
    )["batch_id"]

    csv_path = tmp_path / "changes.csv"
    preview = run("batch", "preview", batch, "--changes", str(csv_path), tenant=tenant, actor=actor)
    assert preview.exit_code == 0, preview.output
    # Submissions 0,2,4 chose C (now right), 1,3,5 chose B (now wrong): 3 up, 3 down.
    assert "6 submissions will be rescored: 3 up, 3 down, 0 unchanged" in preview.output
    assert "score distribution" in preview.output
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("submission_id,user_id") and len(lines) == 7

    # At a terminal, apply shows the preview and asks; a person says no, then yes.
    at = ["--dsn", dsn, "--tenant", tenant, "--actor", actor, "batch", "apply", batch]
    code, shown = in_terminal(at, answer="n")
    assert code == 1 and "6 submissions will be rescored" in shown and "apply this batch?" in shown
    assert json.loads(run("--json", "batch", "show", batch, tenant=tenant).output)["status"] == "draft"
    # Without a terminal (a script), nobody can be asked: refused with exit 2 unless --yes.
    refused = run("batch", "apply", batch, tenant=tenant, actor=actor, input="y\n")
    assert refused.exit_code == 2 and "needs --yes" in refused.output
    assert json.loads(run("--json", "batch", "show", batch, tenant=tenant).output)["status"] == "draft"

    code, shown = in_terminal(at, answer="y")
    assert code == 0 and "6 submissions rescored, 6 scores changed" in shown

    previewed_applied = run("batch", "preview", batch, tenant=tenant, actor=actor)
    # An applied batch previews its revert (issue 13).
    assert previewed_applied.exit_code == 0 and "reverting it would do" in previewed_applied.output


def test_a_failing_definition_leaves_the_previous_ones_in_place(dsn, tmp_path, monkeypatch):
    """sql/ is reloaded in one transaction: a broken file rolls back every file."""
    import shutil

    import psycopg
    from scoreledger import db

    broken = tmp_path / "sql"
    shutil.copytree(db.SQL_DIR, broken)
    # A changed definition early in the order, then a failure later on.
    errors = broken / "00_errors.sql"
    errors.write_text(
        errors.read_text().replace("'an invalid input document; the message names the entry'", "'changed'")
    )
    (broken / "99_broken.sql").write_text("CREATE FUNCTION scoreledger.broken( RETURNS nothing;")
    monkeypatch.setattr(db, "SQL_DIR", broken)
    with pytest.raises(db.ScoreledgerError, match="99_broken.sql"):
        db.load_sql(dsn)
    with psycopg.connect(dsn) as conn:
        meaning = conn.execute("SELECT meaning FROM scoreledger.error_codes WHERE sqlstate = 'SL422'").fetchone()[0]
        assert meaning == "an invalid input document; the message names the entry"
        loaded = {r[0] for r in conn.execute("SELECT file_name FROM scoreledger_private.sql_definitions")}
        assert "99_broken.sql" not in loaded


def test_the_loader_drops_what_sql_no_longer_defines(dsn, tmp_path, monkeypatch):
    """A function, view and trigger that a file stopped defining are gone after
    the next load, in its transaction; what the files define stays."""
    import shutil

    import psycopg
    from scoreledger import db

    extra = tmp_path / "sql"
    shutil.copytree(db.SQL_DIR, extra)
    (extra / "95_yesterday.sql").write_text(
        """
        CREATE OR REPLACE FUNCTION scoreledger_private.yesterdays_helper() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE OR REPLACE VIEW scoreledger.yesterdays_view AS SELECT 1 AS one;
        CREATE OR REPLACE FUNCTION scoreledger_private.tg_yesterday() RETURNS trigger LANGUAGE plpgsql
          AS 'BEGIN RETURN NULL; END';
        CREATE OR REPLACE TRIGGER yesterdays_trigger BEFORE TRUNCATE ON scoreledger_private.score_history
          FOR EACH STATEMENT EXECUTE FUNCTION scoreledger_private.tg_yesterday();
        SELECT scoreledger_private.declare_guard('scoreledger_private.score_history', 'yesterdays_trigger', 'gone tomorrow');
        """
    )
    monkeypatch.setattr(db, "SQL_DIR", extra)
    db.load_sql(dsn)

    def present(conn):
        return conn.execute(
            """SELECT to_regprocedure('scoreledger_private.yesterdays_helper()') IS NOT NULL,
                      to_regclass('scoreledger.yesterdays_view') IS NOT NULL,
                      EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'yesterdays_trigger'),
                      EXISTS (SELECT 1 FROM scoreledger_private.guards WHERE trigger_name = 'yesterdays_trigger'),
                      to_regprocedure('scoreledger.apply_correction_batch(uuid)') IS NOT NULL"""
        ).fetchone()

    with psycopg.connect(dsn) as conn:
        assert present(conn) == (True, True, True, True, True)

    (extra / "95_yesterday.sql").unlink()
    db.load_sql(dsn)
    with psycopg.connect(dsn) as conn:
        assert present(conn) == (False, False, False, False, True)
        clean = conn.execute(
            "SELECT count(*) FROM scoreledger.check_invariants() WHERE scope = 'database' AND breaches > 0"
        ).fetchone()[0]
        assert clean == 0
