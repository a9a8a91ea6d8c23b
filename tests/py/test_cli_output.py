"""The CLI's output and errors as a contract, and the habits of the ecosystem (issue 13).

Every test runs the real command on a real database: Click's CliRunner, or
the installed console script in a subprocess (pipes, terminals, the libpq
environment, the demo's lines pasted into a shell).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import uuid

import click
import psycopg
import pytest
from click.testing import CliRunner
from helpers import evaluation_doc, standard_items, submission_doc
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from scoreledger import api, db
from scoreledger.cli import main
from scoreledger.render import display_width
from terminal import SCORELEDGER

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def cli(dsn):
    """cli(*args, input=, env=) -> the result of `scoreledger --dsn <test database> ARGS` (stdout apart)."""
    runner = CliRunner()

    def _cli(*args, input=None, env=None, dsn_given=True):
        base = ["--dsn", dsn] if dsn_given else []
        return runner.invoke(main, base + list(args), input=input, env=env, catch_exceptions=False)

    return _cli


@pytest.fixture
def draft(dsn, tenant, actor):
    """A tenant with one evaluation (3 items, 6 points, pass mark 0.5), four submissions, one draft batch."""
    items = standard_items()
    version = str(uuid.uuid4())
    q1 = items[0].question_version_id
    with db.acting(dsn, tenant, actor) as conn:
        api.import_evaluation_version(conn, evaluation_doc(str(uuid.uuid4()), version, items))
        api.record_submissions(
            conn,
            [
                submission_doc(
                    str(uuid.uuid4()), version, str(uuid.uuid4()), {q1: {c}, items[1].question_version_id: "AB"}
                )
                for c in "ABCD"
            ],
        )
        batch = api.create_correction_batch(
            conn,
            "key of item 1 was wrong",
            [{"type": "drop_item", "evaluation_version_id": version, "question_version_id": q1}],
        )
    return {"tenant": tenant, "actor": actor, "version": version, "q1": q1, "batch": batch}


def acting_args(w: dict) -> list[str]:
    return ["--tenant", w["tenant"], "--actor", w["actor"]]


# ------------------------------------------------------------ 1. formats


def test_output_options_after_the_command_in_every_format(cli, dsn, tenant, actor):
    with db.acting(dsn, tenant, actor) as conn:
        api.set_tenant_policy(conn, True, None)
    rows = json.loads(cli("tenant", "list", "--json").stdout)
    mine = next(r for r in rows if r["tenant_id"] == tenant)
    # tenant list shows each tenant's policy (the view shows it to its own tenant only).
    assert mine["require_approval"] is True and mine["enforce_capabilities"] is False

    as_csv = cli("tenant", "list", "--csv").stdout
    assert "\r" not in as_csv and as_csv.endswith("\n")
    parsed = list(csv.DictReader(io.StringIO(as_csv)))
    assert {r["tenant_id"]: r["require_approval"] for r in parsed}[tenant] == "true"
    assert parsed[0].keys() == {"tenant_id", "name", "require_approval", "enforce_capabilities", "created_at"}

    as_tsv = cli("tenant", "list", "--tsv", "--no-headers").stdout.splitlines()
    assert len(as_tsv) == len(rows) and any(line.split("\t")[:3] == [tenant, mine["name"], "true"] for line in as_tsv)

    as_nl = cli("tenant", "list", "--nl").stdout.splitlines()
    assert [json.loads(line)["tenant_id"] for line in as_nl] == [r["tenant_id"] for r in rows]

    # Globally still works, and the option after the command wins.
    assert json.loads(cli("--json", "tenant", "list").stdout) == rows
    table = cli("--json", "tenant", "list", "--table", "--no-headers").stdout
    assert not table.startswith("tenant_id") and tenant in table


def test_every_command_takes_the_output_options():
    def leaves(group: click.Group):
        for command in group.commands.values():
            yield from leaves(command) if isinstance(command, click.Group) else [command]

    for command in leaves(main):
        options = {o for p in command.params for o in p.opts}
        missing = {"--json", "--csv", "--tsv", "--nl", "--table", "--no-headers"} - options
        assert not missing, f"{command.name} lacks {missing}"


def test_read_commands_print_rows_as_csv(cli, draft):
    w = draft
    shown = cli(*acting_args(w), "batch", "show", w["batch"], "--csv").stdout
    assert shown.splitlines()[0].split(",")[:3] == ["type", "evaluation_version_id", "question_version_id"]
    changes = list(csv.DictReader(io.StringIO(cli(*acting_args(w), "batch", "preview", w["batch"], "--csv").stdout)))
    assert len(changes) == 4 and {r["old_passed"] for r in changes} <= {"true", "false"}
    listed = [json.loads(line) for line in cli(*acting_args(w), "batch", "list", "--nl").stdout.splitlines()]
    assert [r["batch_id"] for r in listed] == [w["batch"]]
    status = cli("db", "status", "--tsv").stdout.splitlines()
    assert status[0] == "kind\tname\tstate\tloaded_at" and status[1].startswith("migration\t0001")


def test_dash_is_stdout_for_an_output_file_and_stdin_for_an_input_file(cli, draft, tmp_path):
    w = draft
    before = set(os.listdir(tmp_path))
    result = cli(*acting_args(w), "batch", "preview", w["batch"], "--changes", "-")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 4 and rows[0].keys() >= {"submission_id", "old_score", "new_score"}
    assert not os.path.exists("-") and set(os.listdir(tmp_path)) == before

    doc = evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), standard_items())
    imported = cli(*acting_args(w), "--json", "import", "evaluation", "-", input=json.dumps(doc))
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.stdout) == {"evaluation_version_ids": [doc["evaluation_version_id"]]}

    corrections = [{"type": "drop_item", "evaluation_version_id": w["version"], "question_version_id": w["q1"]}]
    created = cli(
        *acting_args(w),
        "batch",
        "create",
        "--reason",
        "from stdin",
        "--file",
        "-",
        "--json",
        input=json.dumps(corrections),
    )
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["status"] == "draft"


# ------------------------------------------------------------ 2. errors under --json


def test_errors_under_json_are_one_object_on_stdout_with_the_same_exit_code(cli, draft):
    w = draft
    missing = str(uuid.uuid4())
    plain = cli(*acting_args(w), "batch", "show", missing)
    as_json = cli(*acting_args(w), "batch", "show", missing, "--json")
    assert plain.exit_code == as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {
        "error": {"sqlstate": "SL404", "message": f"correction batch {missing} does not exist"}
    }
    assert as_json.stdout.count("\n") == 1 and as_json.stderr == ""

    for args in (
        ["--json", *acting_args(w), "batch", "show", "not-a-uuid"],  # a malformed argument
        ["--json", "no-such-command"],  # bad usage before any command
        [*acting_args(w), "batch", "list", "--status", "nonsense", "--json"],
    ):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        error = json.loads(result.stdout)["error"]
        assert error["sqlstate"] is None and error["message"]


# ------------------------------------------------------------ 3. naming


def test_the_cli_names_batches_and_corrections_the_same_everywhere(cli, draft):
    w, base = draft, acting_args(draft)
    shown = json.loads(cli(*base, "batch", "show", w["batch"], "--json").stdout)
    previewed = json.loads(cli(*base, "batch", "preview", w["batch"], "--json").stdout)
    listed = json.loads(cli(*base, "batch", "list", "--json").stdout)
    assert shown["batch_id"] == previewed["batch_id"] == listed[0]["batch_id"] == w["batch"]
    assert "id" not in shown
    assert isinstance(shown["corrections"], list) and shown["correction_count"] == 1
    assert "corrections" not in listed[0] and listed[0]["correction_count"] == 1
    # What the table shows: affected, pass<->fail, what it waits for.
    row = listed[0]
    assert row["submissions_affected"] == 4 and row["pass_to_fail"] is not None and row["fail_to_pass"] is not None
    assert row["waiting_for"] and "apply" in row["next_actions"]


# ------------------------------------------------------------ 4. --json is not --yes, closed pipes


def test_json_does_not_imply_yes(cli, draft):
    w = draft
    refused = cli(*acting_args(w), "--json", "batch", "apply", w["batch"])
    assert refused.exit_code == 2 and "needs --yes" in json.loads(refused.stdout)["error"]["message"]
    assert json.loads(cli(*acting_args(w), "--json", "batch", "show", w["batch"]).stdout)["status"] == "draft"
    applied = cli(*acting_args(w), "--json", "batch", "apply", w["batch"], "--yes")
    assert applied.exit_code == 0 and json.loads(applied.stdout)["submissions_rescored"] == 4


def test_a_closed_pipe_ends_quietly(dsn):
    with db.acting(dsn) as conn:
        conn.execute("SELECT scoreledger.create_tenant('pipe-' || g) FROM generate_series(1, 50) g")
    proc = subprocess.Popen(
        [SCORELEDGER, "--dsn", dsn, "tenant", "list", "--nl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    proc.stdout.close()  # the reader is gone before the first row is written (`| head -0`)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == b""

    shell = subprocess.run(
        f"set -o pipefail; {SCORELEDGER} --dsn '{dsn}' tenant list | head -n 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        executable="/bin/bash",
    )
    assert shell.returncode == 0 and shell.stderr == "" and shell.stdout.startswith("tenant_id")


# ------------------------------------------------------------ 5. ecosystem


def test_libpq_environment_is_honoured_and_an_empty_dsn_refused(cli, dsn):
    params = conninfo_to_dict(dsn)
    env = {
        "DATABASE_URL": None,
        "PGHOST": params["host"],
        "PGPORT": str(params["port"]),
        "PGUSER": params["user"],
        "PGDATABASE": params["dbname"],
    }
    name = f"libpq-{uuid.uuid4().hex[:8]}"
    created = cli("--json", "tenant", "create", name, env=env, dsn_given=False)
    assert created.exit_code == 0, created.output
    with db.acting(dsn) as conn:
        assert (
            conn.execute("SELECT count(*) AS n FROM scoreledger.tenants WHERE name = %s", [name]).fetchone()["n"] == 1
        )

    empty = CliRunner().invoke(main, ["--dsn", "", "tenant", "list"])
    assert empty.exit_code == 2 and "--dsn" in empty.output


def test_an_unmigrated_database_says_run_db_migrate(dsn):
    name = f"scoreledger_unmigrated_{uuid.uuid4().hex[:8]}"
    admin = make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        fresh = make_conninfo(dsn, dbname=name)
        runner = CliRunner()
        listed = runner.invoke(main, ["--dsn", fresh, "--tenant", "x", "batch", "list"])
        assert listed.exit_code == 1 and "run `scoreledger db migrate`" in listed.output
        checked = runner.invoke(main, ["--dsn", fresh, "check"])
        assert checked.exit_code == 1 and "run `scoreledger db migrate`" in checked.output
        status = runner.invoke(main, ["--dsn", fresh, "db", "status"])
        assert status.exit_code == 1 and "pending" in status.output and "scoreledger db migrate" in status.output
        assert runner.invoke(main, ["--dsn", fresh, "--json", "db", "migrate"]).exit_code == 0
        after = runner.invoke(main, ["--dsn", fresh, "--json", "db", "status"])
        assert after.exit_code == 0 and json.loads(after.stdout)["up_to_date"] is True
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_bad_usage_exits_2_with_a_hint(cli, draft):
    w = draft
    bad_uuid = cli(*acting_args(w), "batch", "show", "12345")
    assert bad_uuid.exit_code == 2 and "not a valid UUID" in bad_uuid.output and "--help" in bad_uuid.output
    status = cli(*acting_args(w), "batch", "list", "--status", "done")
    assert status.exit_code == 2
    assert "one of: pending_review, approved, draft, rejected, applied, reverted, discarded" in status.output
    no_actor = cli("--tenant", w["tenant"], "batch", "submit", w["batch"])
    assert no_actor.exit_code == 2 and "--actor UUID or SCORELEDGER_ACTOR" in no_actor.output
    bad_actor = cli("--tenant", w["tenant"], "--actor", "me", "batch", "list")
    assert bad_actor.exit_code == 2 and "not a valid UUID" in bad_actor.output


# ------------------------------------------------------------ 6. discoverability


def test_version_and_help_name_what_a_user_needs(cli):
    from scoreledger import __version__

    version = cli("--version")
    assert version.exit_code == 0 and version.stdout.strip() == f"scoreledger {__version__}"
    top = cli("--help").stdout
    assert "SCORELEDGER_TENANT" in top and "SCORELEDGER_ACTOR" in top and "PGHOST" in top
    create = cli("batch", "create", "--help").stdout
    repeatable = [p for p in main.commands["batch"].commands["create"].params if getattr(p, "multiple", False)]
    assert repeatable and create.count("(repeatable)") == len(repeatable), "every repeatable option says so"
    edit = main.commands["batch"].commands["edit"]
    assert all(p.help for p in edit.params if isinstance(p, click.Option)), "every batch edit option has help"


# ------------------------------------------------------------ 7. the demo's lines


def test_the_demos_try_it_yourself_lines_can_be_pasted(dsn):
    demo = subprocess.run(
        [SCORELEDGER, "--dsn", dsn, "demo", "--learners", "10"], capture_output=True, text=True, timeout=300
    )
    assert demo.returncode == 0, demo.stderr
    # The learner gates (issue 14): locked, remedial work, unlocked; a batch withdraws a lock, its revert restores it.
    gates = demo.stdout.split("== G1.")[1].split("== 11.")[0]
    for line in (
        "start attempt: refused: intervention_required intervention_id ",
        "learner status: outcome fail, 2 attempt(s) left; remedial: Safety refresher issued",
        "Dana passes the refresher: remedial completed, intervention resolved",
        "next start: allowed (attempt 3)",
        "interventions: 0 will open, 1 will be withdrawn; 0 remedial assignment(s) will be completed.",
        "‹Safety exam (gated)›: 1 unlocked: ",
        "applied: Eli's intervention withdrawn; start attempt: refused: already_passed",
        "interventions: 1 will open, 0 will be withdrawn",
        "reverted: start attempt: refused: intervention_required",
    ):
        assert line in gates, line
    assert gates.index("1 unlocked") < gates.index("applied:"), "the preview shows the withdrawal before apply"
    again = subprocess.run(
        [SCORELEDGER, "--dsn", dsn, "demo", "--learners", "10"], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, f"the demo runs again on the same database: {again.stderr}"
    assert "FAIL" not in demo.stdout.split("== 11.")[1]
    blocks = demo.stdout.split("Try it yourself:")[1:]
    lines = [line for block in blocks for line in block.strip().split("\n\n")[0].splitlines()]
    assert len(blocks) == 2 and len(lines) == 4
    for line in lines:
        # Pasted from another directory, without an activated venv or DATABASE_URL.
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "VIRTUAL_ENV")}
        env["PATH"] = "/usr/bin:/bin"
        pasted = subprocess.run(line.strip(), shell=True, capture_output=True, text=True, timeout=60, cwd="/", env=env)
        assert pasted.returncode == 0, (line, pasted.stderr)
        assert pasted.stdout.strip()


# ------------------------------------------------------------ 8. tables people read


def test_tables_survive_newlines_cjk_and_emoji_and_truncate_long_reasons(cli, draft):
    w = draft
    reason = "鍵が間違っていた 🎉\nsecond line of a long reason that goes on and on and on well past any column"
    base = acting_args(w)
    created = cli(*base, "batch", "edit", w["batch"], "--reason", reason)
    assert created.exit_code == 0, created.output
    lines = cli(*base, "batch", "list").stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("id "))
    row = lines[header + 2]
    assert row.startswith(w["batch"]) and "鍵が間違っていた 🎉⏎second" in row and "…" in row
    assert "second line of a long reason that goes on and on and on well past any column" not in row
    # Every column starts at the same display column in the header and in the row.
    starts = [display_width(lines[header][: m.start()]) for m in re.finditer(r"(?<=  )\S", lines[header])]
    for start in starts:
        before = next(i for i in range(len(row) + 1) if display_width(row[:i]) >= start)
        assert display_width(row[:before]) == start and row[before - 2 : before] == "  ", (start, row)
    # --json keeps the reason whole.
    assert json.loads(cli(*base, "batch", "list", "--json").stdout)[0]["reason"] == reason


def test_check_fits_100_columns_and_details_come_with_verbose(cli, dsn):
    with db.acting(dsn) as conn:
        api.create_tenant(conn, "A tenant whose name is long enough to push any table past a hundred columns, surely")
    brief = cli("check")
    assert brief.exit_code == 0
    assert max(display_width(line) for line in brief.stdout.splitlines()) <= 100
    assert "sample" not in brief.stdout
    verbose = cli("check", "--verbose")
    assert verbose.exit_code == 0 and "sample" in verbose.stdout.splitlines()[0]
