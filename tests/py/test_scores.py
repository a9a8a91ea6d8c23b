"""The score layer end to end (contract section 8, issue 5): failure isolation
with an injected writer failure, repair by backfill, a backfill killed
half-way and restarted, two backfills at once, and the CLI.

Rows that predate the score layer are simulated by inserting results as the
table owner (bypassing the writers), the way a deploy would find them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import evaluation_doc, standard_items, submission_doc
from psycopg.types.json import Jsonb
from scoreledger import db, scores
from scoreledger.cli import main

CLI = str(Path(sys.executable).with_name("scoreledger"))
KEYS = 5


@pytest.fixture
def run(dsn):
    runner = CliRunner()

    def _run(*args, tenant=None, actor=None):
        base = ["--dsn", dsn]
        if tenant:
            base += ["--tenant", tenant]
        if actor:
            base += ["--actor", actor]
        return runner.invoke(main, base + list(args), catch_exceptions=False)

    return _run


@pytest.fixture
def sessions(acting):
    """Ten recorded submissions of one evaluation, and an evaluator."""
    items = standard_items()
    version = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(10)]
    with acting() as conn:
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version, items))],
        )
        docs = [
            submission_doc(sid, version, str(uuid.uuid4()), {i.question_version_id: {"B"} for i in items})
            for sid in ids
        ]
        conn.execute("SELECT scoreledger.record_submissions(%s)", [Jsonb(docs)])
        scores.register_evaluator(conn, "judge", {"tone": {"type": "choice", "choices": ["ok", "rude"]}})
    return ids


def payload(n: int) -> dict:
    return {"correct": n % 2 == 0, "score": n / 10, "label": f"l{n % 3}", "tone": "ok", "confidence": 0.5}


def superuser(dsn):
    return db.connect(dsn, autocommit=True)


def inject_failure(dsn) -> None:
    """A trigger on the scores table that refuses every score: a failing writer."""
    with superuser(dsn) as conn:
        conn.execute(
            """CREATE FUNCTION public.tg_injected_failure() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'injected: the scores table is unavailable'; END $$"""
        )
        conn.execute(
            """CREATE TRIGGER injected_failure BEFORE INSERT ON scoreledger_private.scores
               FOR EACH ROW EXECUTE FUNCTION public.tg_injected_failure()"""
        )


def remove_failure(dsn) -> None:
    with superuser(dsn) as conn:
        conn.execute("DROP TRIGGER injected_failure ON scoreledger_private.scores")
        conn.execute("DROP FUNCTION public.tg_injected_failure()")


def stage_old_results(dsn, tenant: str, submission_ids: list[str], count: int) -> None:
    """`count` results inserted as the owner, without scores (pre-layer rows)."""
    with superuser(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [tenant])
        conn.execute(
            """INSERT INTO scoreledger_private.evaluation_results (tenant_id, result_id, evaluator_id, submission_id, payload)
               SELECT %(t)s, gen_random_uuid(), (SELECT evaluator_id FROM scoreledger_private.evaluators WHERE name = 'judge'),
                      (%(s)s::uuid[])[1 + g %% cardinality(%(s)s::uuid[])],
                      jsonb_build_object('correct', g %% 2 = 0, 'score', g / 10.0, 'label', 'l' || g %% 3,
                                         'tone', 'ok', 'confidence', 0.5)
               FROM generate_series(1, %(n)s) g""",
            {"t": tenant, "s": submission_ids, "n": count},
        )


def score_state(dsn, tenant: str) -> dict:
    """Counts an operator would check after a backfill (as the owner, one tenant)."""
    with superuser(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [tenant])
        return conn.execute(
            """SELECT (SELECT count(*) FROM scoreledger_private.evaluation_results) AS results,
                      (SELECT count(*) FROM scoreledger_private.scores) AS scores,
                      (SELECT count(*) FROM (SELECT DISTINCT evaluation_result_id, name FROM scoreledger_private.scores) d)
                        AS distinct_scores,
                      (SELECT count(*) FROM scoreledger_private.evaluation_results r
                        WHERE NOT EXISTS (SELECT 1 FROM scoreledger_private.scores s
                                          WHERE s.tenant_id = r.tenant_id AND s.evaluation_result_id = r.result_id))
                        AS results_without_scores,
                      (SELECT count(*) FROM scoreledger_private.score_write_failures WHERE resolved_at IS NULL)
                        AS open_failures"""
        ).fetchone()


# ---------------------------------------------------------------------------
# Failure isolation, then repair
# ---------------------------------------------------------------------------


def test_a_failing_writer_never_loses_the_producers_write_and_backfill_repairs_it(
    dsn, tenant, actor, acting, sessions, run
):
    inject_failure(dsn)
    with acting() as conn:
        single = scores.record_evaluation_result(conn, "judge", sessions[0], payload(1))
        written = scores.record_evaluation_results(
            conn,
            [{"evaluator": "judge", "submission_id": sid, "payload": payload(n)} for n, sid in enumerate(sessions)],
        )
        queue = scores.create_review_queue(conn, "review")
        item = scores.add_review_item(conn, queue, sessions[0])
        annotation = scores.save_annotation(conn, item, {"tone": "rude", "correct": False}, "submitted", True)
    assert written == 10, "the bulk call reports every result written"

    with acting() as conn:
        results = conn.execute("SELECT count(*) AS n FROM scoreledger.evaluation_results").fetchone()["n"]
        annotations = conn.execute("SELECT data FROM scoreledger.annotations").fetchall()
        stored = conn.execute("SELECT count(*) AS n FROM scoreledger.scores").fetchone()["n"]
        failures = scores.failures(conn)
    assert results == 11, "the producers' rows survive the writer failure (committed)"
    assert [a["data"] for a in annotations] == [{"tone": "rude", "correct": False}], "the reviewer's work is kept"
    assert stored == 0, "no score could be written"
    assert len(failures) == 12, "every artefact's failure is logged: 11 results and 1 annotation"
    assert {f["source_kind"] for f in failures} == {"evaluation_result", "annotation"}
    assert all("injected: the scores table is unavailable" in f["error"] for f in failures)
    assert any(str(f["source_id"]) == single for f in failures)
    assert any(str(f["source_id"]) == annotation for f in failures)

    listed = run("--json", "scores", "failures", tenant=tenant)
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == 12, "the CLI lists the unresolved failures"

    # A backfill while the failure persists: every artefact fails again,
    # is recorded (attempts 2) and skipped; the run itself completes.
    still_failing = run("--json", "scores", "backfill", "--batch-size", "4", tenant=tenant)
    assert still_failing.exit_code == 0, still_failing.output
    report = json.loads(still_failing.output)["tenants"][0]
    assert (report["artefacts"], report["failed"], report["scores_written"]) == (12, 12, 0)
    with acting() as conn:
        assert {f["attempts"] for f in scores.failures(conn)} == {2}

    remove_failure(dsn)
    repaired = run("scores", "backfill", "--batch-size", "4", tenant=tenant)
    assert repaired.exit_code == 0, repaired.output
    assert "backfill done: 12 artefact(s) written, none failed" in repaired.output
    with acting() as conn:
        assert scores.failures(conn) == [], "the next successful write resolves every failure"
        assert len(scores.failures(conn, include_resolved=True)) == 12, "resolved failures stay on record"
        counts = conn.execute(
            "SELECT source, count(*) AS n FROM scoreledger.scores GROUP BY source ORDER BY source"
        ).fetchall()
    assert [(c["source"], c["n"]) for c in counts] == [("automated", 11 * KEYS), ("human", 2)]
    assert run("scores", "failures", tenant=tenant).output.strip() == "no unresolved score write failures"


def test_one_failing_artefact_in_a_bulk_call_is_isolated(dsn, acting, sessions):
    """Only the culprit fails; its neighbours' scores are written in the same call."""
    with superuser(dsn) as conn:
        conn.execute(
            """CREATE FUNCTION public.tg_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN IF NEW.name = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; RETURN NEW; END $$"""
        )
        conn.execute(
            """CREATE TRIGGER refuse_poison BEFORE INSERT ON scoreledger_private.scores
               FOR EACH ROW EXECUTE FUNCTION public.tg_refuse_poison()"""
        )
    docs = [{"evaluator": "judge", "submission_id": sid, "payload": payload(n)} for n, sid in enumerate(sessions)]
    docs[4]["payload"] = {"poison": 1, "score": 0.4}
    docs[4]["result_id"] = culprit = str(uuid.uuid4())
    with acting() as conn:
        assert scores.record_evaluation_results(conn, docs) == 10
    with acting() as conn:
        by_result = conn.execute(
            "SELECT evaluation_result_id::text AS r, count(*) AS n FROM scoreledger.scores GROUP BY 1"
        ).fetchall()
        failures = scores.failures(conn)
    assert len(by_result) == 9 and all(r["n"] == KEYS for r in by_result)
    assert [str(f["source_id"]) for f in failures] == [culprit]


def test_two_workers_recording_the_same_new_result_ids_at_once(dsn, acting, sessions):
    """Both calls succeed: the second waits, finds the ids taken and overwrites them (upsert retry)."""
    ids = [str(uuid.uuid4()) for _ in range(60)]
    docs = [
        {"evaluator": "judge", "submission_id": sessions[n % 10], "payload": payload(n), "result_id": rid}
        for n, rid in enumerate(ids)
    ]
    barrier = threading.Barrier(2)
    outcomes: list = []

    def worker():
        try:
            with acting() as conn:
                barrier.wait()
                outcomes.append(scores.record_evaluation_results(conn, docs))
        except BaseException as exc:  # pragma: no cover - reported below
            outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes == [60, 60], outcomes
    with acting() as conn:
        results = conn.execute("SELECT count(*) AS n FROM scoreledger.evaluation_results").fetchone()["n"]
        stored = conn.execute(
            "SELECT count(*) AS n, count(DISTINCT (evaluation_result_id, name)) AS d FROM scoreledger.scores"
        ).fetchone()
        assert scores.failures(conn) == []
    assert results == 60
    assert (stored["n"], stored["d"]) == (60 * KEYS, 60 * KEYS), "each result has its scores once"


# ---------------------------------------------------------------------------
# Backfill: interrupted, restarted, concurrent
# ---------------------------------------------------------------------------


def _backfill_cmd(dsn, tenant, batch_size):
    return [CLI, "--dsn", dsn, "--tenant", tenant, "--json", "scores", "backfill", "--batch-size", str(batch_size)]


def test_a_backfill_killed_half_way_and_restarted_ends_complete_and_duplicate_free(dsn, tenant, sessions):
    total = 30_000
    stage_old_results(dsn, tenant, sessions, total)
    assert score_state(dsn, tenant)["scores"] == 0

    process = subprocess.Popen(_backfill_cmd(dsn, tenant, 100), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    with superuser(dsn) as watcher:
        # Kill it as soon as a few chunks have committed (a cheap count, so
        # the watcher keeps up with a fast machine).
        while time.monotonic() < deadline and process.poll() is None:
            if watcher.execute("SELECT count(*) FROM scoreledger_private.scores").fetchone()["count"] >= 5 * 100 * KEYS:
                break
            time.sleep(0.01)
    assert process.poll() is None, "the backfill finished before it could be interrupted (make the data larger)"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    interrupted = score_state(dsn, tenant)
    assert 0 < interrupted["scores"] < total * KEYS, "killed half-way: some chunks committed, not all"
    assert interrupted["scores"] % KEYS == 0, "a chunk commits whole: every result has all of its scores or none"
    assert interrupted["scores"] == interrupted["distinct_scores"]

    restarted = subprocess.run(_backfill_cmd(dsn, tenant, 1000), capture_output=True, text=True, timeout=300)
    assert restarted.returncode == 0, restarted.stderr
    report = json.loads(restarted.stdout)["tenants"][0]
    assert report["artefacts"] == total - interrupted["scores"] // KEYS, "the rerun does only what was left"

    final = score_state(dsn, tenant)
    assert final["scores"] == total * KEYS, "complete"
    assert final["distinct_scores"] == final["scores"], "duplicate-free"
    assert (final["results_without_scores"], final["open_failures"]) == (0, 0)


def test_two_backfills_at_once_share_the_work_and_end_complete(dsn, tenant, sessions):
    total = 20_000
    stage_old_results(dsn, tenant, sessions, total)
    first = subprocess.Popen(_backfill_cmd(dsn, tenant, 200), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(
        _backfill_cmd(dsn, tenant, 200), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    outputs = [p.communicate(timeout=300) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), outputs
    reports = [json.loads(out)["tenants"][0] for out, _ in outputs]
    assert all(r["failed"] == 0 for r in reports), "neither run records a failure: they skip each other's rows"
    assert sum(r["artefacts"] for r in reports) >= total, "together they wrote every result"

    final = score_state(dsn, tenant)
    assert final["scores"] == total * KEYS
    assert final["distinct_scores"] == final["scores"]
    assert (final["results_without_scores"], final["open_failures"]) == (0, 0)


def test_a_backfill_runs_beside_live_writers(dsn, tenant, acting, sessions):
    """Live overwrites of the very results being backfilled: the final scores are the latest payload's."""
    stage_old_results(dsn, tenant, sessions, 5_000)
    with superuser(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [tenant])
        targets = [
            str(r["result_id"])
            for r in conn.execute(
                "SELECT result_id FROM scoreledger_private.evaluation_results ORDER BY random() LIMIT 300"
            )
        ]
    errors: list[BaseException] = []

    def overwrite():
        try:
            for start in range(0, len(targets), 30):
                with acting() as conn:
                    scores.record_evaluation_results(
                        conn,
                        [
                            {"evaluator": "judge", "submission_id": sessions[0], "payload": {"live": 1}, "result_id": r}
                            for r in targets[start : start + 30]
                        ],
                    )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=overwrite)
    writer.start()
    reports = scores.backfill(dsn, tenant, batch_size=100)
    writer.join()
    assert not errors, errors
    assert reports[0].failed == 0
    scores.backfill(dsn, tenant, batch_size=1000)  # whatever the live writer made lacking in between

    with acting() as conn:
        live = conn.execute(
            "SELECT name, count(*) AS n FROM scoreledger.scores WHERE evaluation_result_id = ANY(%s::uuid[]) GROUP BY name",
            [targets],
        ).fetchall()
    assert [(r["name"], r["n"]) for r in live] == [("live", 300)], "overwritten results have their latest scores only"
    final = score_state(dsn, tenant)
    assert final["distinct_scores"] == final["scores"]
    assert (final["results_without_scores"], final["open_failures"]) == (0, 0)


def test_forced_backfill_rewrites_everything_and_resumes_after_an_interruption(dsn, tenant, acting, sessions, run):
    with acting() as conn:
        scores.record_evaluation_results(
            conn,
            [{"evaluator": "judge", "submission_id": sid, "payload": payload(n)} for n, sid in enumerate(sessions)],
        )
        before = {r["id"] for r in conn.execute("SELECT id FROM scoreledger.scores")}
    plain = run("--json", "scores", "backfill", tenant=tenant)
    assert json.loads(plain.output)["tenants"][0]["artefacts"] == 0, "nothing lacks scores"

    # A forced pass interrupted after its first chunk (one call of the API).
    with acting() as conn:
        first = conn.execute("SELECT * FROM scoreledger.backfill_scores('evaluation_result', NULL, 4, true)").fetchone()
    assert first["artefacts"] == 4
    forced = run("--json", "scores", "backfill", "--force", "--batch-size", "3", tenant=tenant)
    report = json.loads(forced.output)["tenants"][0]
    assert report["resumed_after"] == {"evaluation_result": str(first["last_id"])}
    assert report["artefacts"] == 6, "the rerun resumes after the interrupted pass's last chunk"
    with acting() as conn:
        after = {r["id"] for r in conn.execute("SELECT id FROM scoreledger.scores")}
    assert len(after) == len(before) == 10 * KEYS and not (after & before), "every score rewritten, none duplicated"
    again = run("--json", "scores", "backfill", "--force", tenant=tenant)
    assert json.loads(again.output)["tenants"][0]["artefacts"] == 10, "a finished forced pass starts over next time"


def test_backfill_covers_every_tenant_unless_one_is_given(dsn, run):
    names = [f"bf-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for name in names:
        assert run("tenant", "create", name).exit_code == 0
    everyone = run("--json", "scores", "backfill")
    assert everyone.exit_code == 0, everyone.output
    assert set(names) <= {t["tenant"] for t in json.loads(everyone.output)["tenants"]}
    one = run("--json", "scores", "backfill", tenant=names[0])
    assert [t["tenant"] for t in json.loads(one.output)["tenants"]] == [names[0]]


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def test_import_results_then_list_a_submissions_scores(dsn, tenant, actor, acting, sessions, run, tmp_path):
    lines = [
        json.dumps({"evaluator": "judge", "submission_id": sid, "payload": payload(n)})
        for n, sid in enumerate(sessions)
    ]
    lines.insert(3, "")
    lines.append(json.dumps({"evaluator": "judge", "submission_id": sessions[0], "payload": {"skip": None}}))
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(lines) + "\n")
    imported = run("--json", "import", "results", str(path), "--batch-size", "4", tenant=tenant)
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output) == {
        "documents": 11,
        "recorded": 11,
        "already_recorded": 0,
        "rejected": 0,
        "open_score_failures": 0,
    }

    with acting() as conn:
        queue = scores.create_review_queue(conn, "review", {"tone": {"type": "choice"}})
        item = scores.add_review_item(conn, queue, sessions[0])
        scores.save_annotation(conn, item, {"tone": "rude", "correct": True}, "submitted", True)

    shown = run("scores", "list", sessions[0], tenant=tenant)
    assert shown.exit_code == 0, shown.output
    assert "automated vs authoritative human:" in shown.output
    assert "NO" in shown.output, "tone: ok (automated) vs rude (human) disagree"
    assert "skipped keys:" in shown.output and "skip" in shown.output
    as_json = json.loads(run("--json", "scores", "list", sessions[0], tenant=tenant).output)
    assert len(as_json["scores"]) == KEYS + 2
    assert {(c["name"], c["agree"]) for c in as_json["concordance"] if c["annotation_id"]} == {
        ("tone", False),
        ("correct", True),
    }
    only = json.loads(run("--json", "scores", "list", "--authoritative", sessions[0], tenant=tenant).output)
    assert len(only["scores"]) == KEYS + 2

    summary = json.loads(run("--json", "scores", "concordance", tenant=tenant).output)["summary"]
    assert {s["name"]: (s["agree"], s["disagree"]) for s in summary}["tone"] == (0, 1)

    missing = run("scores", "list", str(uuid.uuid4()), tenant=tenant)
    assert missing.exit_code == 1 and "SL404" in missing.output


def test_import_results_names_the_bad_line(dsn, tenant, sessions, run, tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"evaluator": "judge", "submission_id": sessions[0], "payload": {"a": 1}}),
                "",
                json.dumps({"evaluator": "nobody", "submission_id": sessions[0], "payload": {"a": 1}}),
            ]
        )
        + "\n"
    )
    result = run("import", "results", str(path), tenant=tenant)
    assert result.exit_code == 1
    assert "SL404: line 3: evaluator: no evaluator named 'nobody'" in result.output
    assert "Traceback" not in result.output


def test_scores_commands_need_a_tenant(run):
    result = run("scores", "failures")
    assert result.exit_code == 2 and "needs a tenant" in result.output
