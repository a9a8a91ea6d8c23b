"""Crash drills (issue 7, part 2): an operation cut off half-way leaves
nothing half-done, `scoreledger check` passes, and a retry completes once.

- `pg_terminate_backend` of the backend running an apply, a revert, and a
  score backfill chunk, on the shared test server (a fresh migrated
  database per test);
- `pg_ctl stop -m immediate` of a private cluster in the middle of an apply,
  then a restart (crash recovery).

Each drill proves that the cut really came in the middle of the work: the
apply or revert is terminated only once its backend is active in that
statement *and* a table's heap has grown by uncommitted rows (score_history:
history rows being inserted; submissions: after that, the history trigger
moving the scores); the backfill only while its backend is active in a chunk
*and* holds the write lock on the scores table. The termination is issued in the
same statement that observes this, so the observed transaction can never
commit. The immediate stop is checked afterwards: the client's error came
while the call was running (not at its commit), and the server log shows
crash recovery.

Scores are compared with the independent model of tests/py/helpers.py.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from helpers import (
    Batch,
    Correction,
    Item,
    Model,
    Submission,
    acting_on,
    begin_acting,
    connect,
    evaluation_doc,
    score_mismatches,
    stored_scores,
    submission_doc,
)
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from scoreledger import db, scores
from scoreledger.cli import main

SUBMISSIONS = 10_000  # an apply of these takes a second or two here
RECORD_CHUNK = 5_000
USERS = 4_000  # about four attempts per learner
UNREACHED_EVERY = 10  # every 10th submission holds only the untouched item
GROWTH = 64 * 1024  # bytes of new heap in a table: its rows are being written
POLL_SECONDS = 0.005
OBSERVE_TIMEOUT = 60.0

RESULTS = 20_000
BACKFILL_BATCH = 1_000
KEYS = 5  # scores per result payload

PG_BIN = Path("/usr/lib/postgresql/15/bin")

APPLY = "SELECT scoreledger.apply_correction_batch(%s) AS result"
REVERT = "SELECT scoreledger.revert_correction_batch(%s, %s) AS result"


# ---------------------------------------------------------------------------
# Data: one evaluation version, many submissions, a model of them
# ---------------------------------------------------------------------------


@dataclass
class Exam:
    dsn: str
    tenant: str
    actor: str
    version_id: str
    qvs: tuple[str, ...]
    model: Model


def exam_items() -> list[Item]:
    return [
        Item(str(uuid.uuid4()), "single_choice", "exact", Fraction(1), ("A", "B", "C", "D"), frozenset("B")),
        Item(str(uuid.uuid4()), "single_choice", "exact", Fraction(1), ("A", "B", "C", "D"), frozenset("B")),
        Item(str(uuid.uuid4()), "multiple_choice", "exact", Fraction(2), ("A", "B", "C"), frozenset("AB")),
        Item(str(uuid.uuid4()), "multiple_choice", "partial", Fraction(3), ("A", "B", "C", "D"), frozenset("ABC")),
        Item(str(uuid.uuid4()), "single_choice", "exact", Fraction(1), ("A", "B", "C", "D"), frozenset("B")),
    ]


CHOICES = (
    ("A", "B", "C", "D", ""),
    ("B", "C", "", "A", "D"),
    ("AB", "A", "ABC", "B", "", "C", "AC", "BC"),
    ("ABC", "AB", "ABCD", "D", "", "BC", "A", "ACD"),
    ("B", "A", "C", "", "D"),
)


def load_exam(dsn: str, submissions: int) -> Exam:
    """A new tenant with one evaluation version of five items (q4 is never
    corrected) and `submissions` submissions recorded through the API in
    committed chunks; every 10th submission contains only q4."""
    with db.acting(dsn) as conn:
        tenant = str(
            conn.execute("SELECT scoreledger.create_tenant(%s) AS id", [f"crash-{uuid.uuid4().hex[:8]}"]).fetchone()[
                "id"
            ]
        )
    items = exam_items()
    version_id = str(uuid.uuid4())
    model = Model()
    model.versions[version_id] = {i.question_version_id: i for i in items}
    exam = Exam(dsn, tenant, str(uuid.uuid4()), version_id, tuple(i.question_version_id for i in items), model)
    docs = []
    for n in range(submissions):
        if n % UNREACHED_EVERY == 0:
            answers = {exam.qvs[4]: frozenset(CHOICES[4][n % len(CHOICES[4])])}
        else:
            answers = {
                qv: frozenset(choices[(n * 7 + j * 3) % len(choices)])
                for j, (qv, choices) in enumerate(zip(exam.qvs, CHOICES, strict=True))
            }
        sub = Submission(str(uuid.uuid4()), version_id, answers)
        model.record(sub)
        docs.append(submission_doc(sub.submission_id, version_id, str(uuid.UUID(int=n % USERS + 1)), answers))
    with connect(dsn) as conn:
        with acting_on(conn, tenant, exam.actor):
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [Jsonb(evaluation_doc(str(uuid.uuid4()), version_id, items))],
            )
        for start in range(0, len(docs), RECORD_CHUNK):
            chunk = docs[start : start + RECORD_CHUNK]
            with acting_on(conn, tenant, exam.actor):
                recorded = conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(chunk)]).fetchone()
            assert recorded["n"] == len(chunk)
    return exam


def create_batch(exam: Exam) -> str:
    """Every correction type on four of the five items."""
    v, q = exam.version_id, exam.qvs
    corrections = [
        Correction("replace_key", v, q[0], correct=frozenset("C")),
        Correction("mark_correct", v, q[1]),
        Correction("drop_item", v, q[2]),
        Correction("replace_key", v, q[3], correct=frozenset("AB")),
    ]
    with connect(exam.dsn) as conn, acting_on(conn, exam.tenant, exam.actor):
        batch_id = str(
            conn.execute(
                "SELECT scoreledger.create_correction_batch(%s, %s) AS id",
                ["crash drill: four flawed items", Jsonb([c.as_json() for c in corrections])],
            ).fetchone()["id"]
        )
    exam.model.batches[batch_id] = Batch(batch_id, corrections)
    return batch_id


# ---------------------------------------------------------------------------
# Reading the state back
# ---------------------------------------------------------------------------


def read(exam: Exam, query: str, params=None) -> list[dict]:
    with connect(exam.dsn) as conn, acting_on(conn, exam.tenant, exam.actor):
        return conn.execute(query, params).fetchall()


def batches(exam: Exam) -> dict[str, dict]:
    rows = read(exam, "SELECT * FROM scoreledger.list_correction_batches()")
    return {str(r["id"]): r for r in rows}


def batch_events(exam: Exam, batch_id: str) -> list[tuple]:
    doc = read(exam, "SELECT scoreledger.get_correction_batch(%s) AS doc", [batch_id])[0]["doc"]
    return [(e["from"], e["to"]) for e in doc["events"]]


def history_of(exam: Exam, batch_id: str) -> list[str]:
    rows = read(
        exam,
        "SELECT submission_id::text AS id FROM scoreledger.score_history WHERE correction_batch_id = %s",
        [batch_id],
    )
    return [r["id"] for r in rows]


def history_count(exam: Exam) -> int:
    return read(exam, "SELECT count(*) AS n FROM scoreledger.score_history")[0]["n"]


def current_scores(exam: Exam) -> dict[str, tuple]:
    with connect(exam.dsn) as conn, acting_on(conn, exam.tenant, exam.actor):
        return stored_scores(conn)


def assert_check_passes(dsn: str) -> None:
    """`scoreledger check`, as an operator runs it after a crash."""
    result = CliRunner().invoke(main, ["--dsn", dsn, "--json", "check"], catch_exceptions=False)
    doc = json.loads(result.stdout)
    breaches = [r for r in doc["checks"] if r["breaches"]]
    assert (result.exit_code, breaches) == (0, []), f"scoreledger check failed: {breaches}"
    assert any(r["scope"].startswith("tenant ") for r in doc["checks"]), "check covered no tenant"


def assert_matches_model(exam: Exam) -> None:
    assert score_mismatches(exam.model.scores(), current_scores(exam)) == []


# ---------------------------------------------------------------------------
# A call in a thread, on its own connection, and cutting it off
# ---------------------------------------------------------------------------


class Call(threading.Thread):
    """One API call in its own transaction on its own connection, in a
    thread. `phase` says how far it got when it stopped."""

    def __init__(self, exam: Exam, name: str, query: str, params: list):
        super().__init__(name=name, daemon=True)
        self.exam, self.query, self.params = exam, query, params
        self.conn = connect(exam.dsn, name)
        self.pid = self.conn.execute("SELECT pg_backend_pid() AS pid").fetchone()["pid"]
        self.conn.commit()
        self.phase = "not started"
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.phase = "context"
            begin_acting(self.conn, self.exam.tenant, self.exam.actor)
            self.phase = "call"
            self.result = self.conn.execute(self.query, self.params).fetchone()["result"]
            self.phase = "commit"
            self.conn.commit()
            self.phase = "committed"
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            self.error = exc
        finally:
            self.conn.close()


def relation_size(dsn: str, relation: str) -> int:
    with db.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT pg_relation_size(%s::regclass) AS n", [relation]).fetchone()["n"]


# The backend is running the call and has written at least GROWTH bytes of
# new rows into `relation` (uncommitted: the heap grows all the same).
# score_history grows while the history rows are inserted; submissions grows
# after that, while the history trigger moves the scores.
WRITING = """
  FROM pg_stat_activity a
  WHERE a.pid = %(pid)s AND a.state = 'active' AND strpos(a.query, %(call)s) > 0
    AND pg_relation_size(%(relation)s::regclass) >= %(baseline)s + %(growth)s"""


def wait_for(monitor: psycopg.Connection, call: Call, query: str, params: dict) -> dict:
    """Polls `query` until it returns a row; fails if the call ends first."""
    deadline = time.monotonic() + OBSERVE_TIMEOUT
    while time.monotonic() < deadline:
        row = monitor.execute(query, params).fetchone()
        if row is not None:
            return row
        if not call.is_alive():
            pytest.fail(
                f"{call.name} ended (phase {call.phase}, error {call.error!r}) before it could be cut off"
                " mid-write: make the data larger"
            )
        time.sleep(POLL_SECONDS)
    pytest.fail(f"{call.name} never reached the point to cut it off")


def terminate_mid_write(call: Call, function: str, relation: str, baseline: int) -> int:
    """pg_terminate_backend of the call's backend, issued by the statement
    that sees it writing rows of `relation` inside `function`. Returns the
    bytes it had written there."""
    with db.connect(call.exam.dsn, autocommit=True) as monitor:
        row = wait_for(
            monitor,
            call,
            "SELECT pg_terminate_backend(a.pid) AS terminated,"
            " pg_relation_size(%(relation)s::regclass) - %(baseline)s AS written" + WRITING,
            {"pid": call.pid, "call": function, "relation": relation, "baseline": baseline, "growth": GROWTH},
        )
        assert row["terminated"] is True
        wait_until_gone(monitor, [call.pid])
    call.join(30)
    assert not call.is_alive()
    assert call.phase == "call", f"cut off in phase {call.phase}, not during the call"
    assert isinstance(call.error, psycopg.errors.AdminShutdown), f"unexpected outcome: {call.error!r}"
    return row["written"]


def wait_until_gone(monitor: psycopg.Connection, pids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while monitor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(%s)", [pids]).fetchone():
        assert time.monotonic() < deadline, f"backends {pids} did not exit"
        time.sleep(0.02)


def apply_now(exam: Exam, batch_id: str) -> dict:
    with connect(exam.dsn) as conn, acting_on(conn, exam.tenant, exam.actor):
        return conn.execute(APPLY, [batch_id]).fetchone()["result"]


def revert_now(exam: Exam, batch_id: str, reason: str) -> str:
    with connect(exam.dsn) as conn, acting_on(conn, exam.tenant, exam.actor):
        return str(conn.execute(REVERT, [batch_id, reason]).fetchone()["result"])


# ---------------------------------------------------------------------------
# Shared assertions for an interrupted and a retried apply
# ---------------------------------------------------------------------------


def assert_apply_left_nothing(exam: Exam, batch_id: str, scores_before: dict, history_before: int) -> None:
    listed = batches(exam)
    assert list(listed) == [batch_id], "no other batch appeared"
    batch = listed[batch_id]
    assert (batch["status"], batch["applied_at"], batch["submissions_affected"]) == ("draft", None, None)
    assert batch_events(exam, batch_id) == [(None, "draft")], "no applied event"
    assert history_of(exam, batch_id) == [], "no history row of the batch"
    assert history_count(exam) == history_before
    assert current_scores(exam) == scores_before, "no score moved"
    assert_check_passes(exam.dsn)


def assert_retried_apply_completes_once(exam: Exam, batch_id: str) -> None:
    reached = exam.model.reach(exam.model.batches[batch_id])
    expected_rescored, expected_changed = exam.model.apply(batch_id)
    history_before = history_count(exam)

    result = apply_now(exam, batch_id)
    assert result["already_applied"] is False
    assert (result["submissions_rescored"], result["scores_changed"]) == (expected_rescored, expected_changed)
    assert 0 < len(reached) < len(exam.model.submissions)
    rows = history_of(exam, batch_id)
    assert len(rows) == len(set(rows)) == len(reached), "one history row per rescored submission"
    assert set(rows) == reached, "exactly the submissions the batch reaches"
    assert history_count(exam) == history_before + len(reached)
    batch = batches(exam)[batch_id]
    assert (batch["status"], batch["submissions_affected"]) == ("applied", len(reached))
    assert batch_events(exam, batch_id) == [(None, "draft"), ("draft", "applied")]
    assert_matches_model(exam)
    assert_check_passes(exam.dsn)

    again = apply_now(exam, batch_id)
    assert again["already_applied"] is True
    assert history_count(exam) == history_before + len(reached), "a second apply writes nothing"


# ---------------------------------------------------------------------------
# pg_terminate_backend drills (shared server, fresh database per test)
# ---------------------------------------------------------------------------


def test_apply_terminated_while_moving_scores_leaves_nothing_and_a_retry_completes_once(dsn):
    """Cut at the latest point: every history row inserted, and the history
    trigger half-way through setting the submissions' scores."""
    exam = load_exam(dsn, SUBMISSIONS)
    batch_id = create_batch(exam)
    scores_before, history_before = current_scores(exam), history_count(exam)
    baseline = relation_size(dsn, "scoreledger_private.submissions")

    call = Call(exam, "crash-drill-apply", APPLY, [batch_id])
    call.start()
    written = terminate_mid_write(call, "apply_correction_batch", "scoreledger_private.submissions", baseline)
    assert written >= GROWTH

    assert_apply_left_nothing(exam, batch_id, scores_before, history_before)
    assert_retried_apply_completes_once(exam, batch_id)


def test_revert_terminated_while_writing_history_leaves_nothing_and_a_retry_completes_once(dsn):
    """Cut with the compensating batch inserted and its history rows half
    written."""
    exam = load_exam(dsn, SUBMISSIONS)
    batch_id = create_batch(exam)
    scores_initial = current_scores(exam)
    reached = exam.model.reach(exam.model.batches[batch_id])
    exam.model.apply(batch_id)
    applied = apply_now(exam, batch_id)
    assert applied["submissions_rescored"] == len(reached)
    scores_applied, history_applied = current_scores(exam), history_count(exam)
    baseline = relation_size(dsn, "scoreledger_private.score_history")

    call = Call(exam, "crash-drill-revert", REVERT, [batch_id, "crash drill: revert"])
    call.start()
    written = terminate_mid_write(call, "revert_correction_batch", "scoreledger_private.score_history", baseline)
    assert written >= GROWTH

    # Nothing half-done: no compensating batch, the original still applied,
    # no history row but the apply's, no score moved.
    listed = batches(exam)
    assert list(listed) == [batch_id], f"a compensating batch survived: {sorted(set(listed) - {batch_id})}"
    original = listed[batch_id]
    assert (original["status"], original["reverted_by_batch_id"]) == ("applied", None)
    assert batch_events(exam, batch_id) == [(None, "draft"), ("draft", "applied")]
    assert history_count(exam) == history_applied
    rows = read(
        exam,
        "SELECT count(*) AS n FROM scoreledger.score_history"
        " WHERE correction_batch_id IS NOT NULL AND correction_batch_id <> %s",
        [batch_id],
    )
    assert rows[0]["n"] == 0, "no history row of any other batch"
    assert current_scores(exam) == scores_applied
    assert_check_passes(dsn)

    # The retry completes once.
    expected_rescored, expected_changed = exam.model.revert(batch_id)
    compensating = revert_now(exam, batch_id, "crash drill: revert, retried")
    listed = batches(exam)
    assert set(listed) == {batch_id, compensating}
    assert (listed[batch_id]["status"], str(listed[batch_id]["reverted_by_batch_id"])) == ("reverted", compensating)
    comp = listed[compensating]
    assert (comp["status"], str(comp["reverts_batch_id"])) == ("applied", batch_id)
    assert comp["submissions_affected"] == expected_rescored == len(reached)
    rows = history_of(exam, compensating)
    assert len(rows) == len(set(rows)) == len(reached) and set(rows) == reached, "one history row each"
    assert history_count(exam) == history_applied + len(reached)
    assert current_scores(exam) == scores_initial, "scores are again what they were before the apply"
    assert_matches_model(exam)
    assert_check_passes(dsn)
    assert expected_changed > 0

    with pytest.raises(psycopg.Error) as second:
        revert_now(exam, batch_id, "crash drill: revert, third time")
    assert second.value.sqlstate == "SL409"
    assert history_count(exam) == history_applied + len(reached)


# ---------------------------------------------------------------------------
# The score backfill, terminated mid-chunk
# ---------------------------------------------------------------------------


def stage_results_without_scores(exam: Exam, count: int) -> None:
    """`count` results inserted as the table owner, bypassing the writers:
    rows that predate the score layer, as a deploy finds them."""
    with connect(exam.dsn) as conn:
        with acting_on(conn, exam.tenant, exam.actor):
            scores.register_evaluator(conn, "judge", {"tone": {"type": "choice", "choices": ["ok", "rude"]}})
        with conn.transaction():
            conn.execute("SET LOCAL ROLE scoreledger_owner")
            conn.execute("SELECT scoreledger_private.enter_context(%s)", [exam.tenant])
            conn.execute(
                """INSERT INTO scoreledger_private.evaluation_results
                     (tenant_id, result_id, evaluator_id, submission_id, payload)
                   SELECT %(t)s, gen_random_uuid(),
                          (SELECT evaluator_id FROM scoreledger_private.evaluators WHERE name = 'judge'),
                          (%(s)s::uuid[])[1 + g %% cardinality(%(s)s::uuid[])],
                          jsonb_build_object('correct', g %% 2 = 0, 'score', g / 10.0, 'label', 'l' || g %% 3,
                                             'tone', 'ok', 'confidence', 0.5)
                   FROM generate_series(1, %(n)s) g""",
                {"t": exam.tenant, "s": sorted(exam.model.submissions), "n": count},
            )


def score_state(exam: Exam) -> dict:
    """As the owner, in the tenant: what an operator checks after a backfill."""
    with connect(exam.dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [exam.tenant])
        return conn.execute(
            """SELECT (SELECT count(*) FROM scoreledger_private.evaluation_results) AS results,
                      (SELECT count(*) FROM scoreledger_private.scores) AS scores,
                      (SELECT count(*) FROM (SELECT DISTINCT evaluation_result_id, name
                                             FROM scoreledger_private.scores) d) AS distinct_scores,
                      (SELECT count(*) FROM scoreledger_private.evaluation_results r
                        WHERE (SELECT count(*) FROM scoreledger_private.scores s
                               WHERE s.tenant_id = r.tenant_id AND s.evaluation_result_id = r.result_id) <> %s)
                        AS results_without_all_scores,
                      (SELECT count(*) FROM scoreledger.score_write_failures) AS failures,
                      (SELECT count(*) FROM scoreledger.score_write_warnings) AS warnings""",
            [KEYS],
        ).fetchone()


# The backfill's backend is inside a backfill_scores call and holds the
# write lock on the scores table: that chunk is writing.
BACKFILL_WRITING = """
  SELECT a.pid, pg_terminate_backend(a.pid) AS terminated
  FROM pg_stat_activity a
  WHERE a.datname = current_database() AND a.application_name = %(app)s AND a.state = 'active'
    AND strpos(a.query, 'backfill_scores(') > 0
    AND EXISTS (SELECT 1 FROM pg_locks l
                WHERE l.pid = a.pid AND l.granted AND l.mode = 'RowExclusiveLock'
                  AND l.relation = 'scoreledger_private.scores'::regclass)"""


def test_backfill_terminated_mid_chunk_resumes_complete_and_duplicate_free(dsn):
    exam = load_exam(dsn, 40)
    stage_results_without_scores(exam, RESULTS)
    assert score_state(exam)["scores"] == 0

    app = "crash-drill-backfill"
    committed = {"chunks": 0, "artefacts": 0}
    two_chunks = threading.Event()

    def on_chunk(_report, artefacts):
        committed["chunks"] += 1
        committed["artefacts"] += artefacts
        if committed["chunks"] >= 2:
            two_chunks.set()

    outcome: dict = {}

    def run_backfill():
        try:
            outcome["reports"] = scores.backfill(
                make_conninfo(dsn, application_name=app), exam.tenant, BACKFILL_BATCH, on_chunk=on_chunk
            )
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run_backfill, name=app, daemon=True)
    thread.start()
    assert two_chunks.wait(OBSERVE_TIMEOUT), f"no two chunks committed: {outcome}"
    chunks_at_cut = committed["chunks"]
    deadline = time.monotonic() + OBSERVE_TIMEOUT
    with db.connect(dsn, autocommit=True) as monitor:
        while (row := monitor.execute(BACKFILL_WRITING, {"app": app}).fetchone()) is None:
            assert thread.is_alive(), f"the backfill ended before it could be cut off mid-chunk: {outcome}"
            assert time.monotonic() < deadline, "never saw a chunk writing"
            chunks_at_cut = committed["chunks"]
            time.sleep(POLL_SECONDS)
        assert row["terminated"] is True
        wait_until_gone(monitor, [row["pid"]])
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), psycopg.errors.AdminShutdown), f"unexpected outcome: {outcome}"

    # Nothing half-done: exactly the committed chunks, each whole.
    cut = score_state(exam)
    done = committed["chunks"] * BACKFILL_BATCH
    assert committed["chunks"] in (chunks_at_cut, chunks_at_cut + 1)
    assert committed["artefacts"] == done
    assert 0 < done < RESULTS, "cut off half-way"
    assert cut["scores"] == cut["distinct_scores"] == done * KEYS, "only whole committed chunks"
    assert cut["results_without_all_scores"] == RESULTS - done
    assert (cut["failures"], cut["warnings"]) == (0, 0), "a termination is not an artefact failure"
    assert_check_passes(dsn)

    # The rerun (the operator's command) does what was left, once.
    runner = CliRunner()
    base = ["--dsn", dsn, "--tenant", exam.tenant, "--json", "scores", "backfill", "--batch-size"]
    rerun = runner.invoke(main, base + [str(BACKFILL_BATCH)], catch_exceptions=False)
    assert rerun.exit_code == 0, rerun.output
    report = json.loads(rerun.stdout)["tenants"][0]
    if report["failed"]:
        with db.acting(dsn, exam.tenant) as conn:
            recorded = [(f["sqlstate"], f["error"]) for f in scores.failures(conn)]
    else:
        recorded = []
    assert (report["pending"], report["artefacts"], report["failed"]) == (RESULTS - done, RESULTS - done, 0), recorded
    assert report["scores_written"] == (RESULTS - done) * KEYS

    final = score_state(exam)
    assert final["scores"] == final["distinct_scores"] == RESULTS * KEYS, "complete and duplicate-free"
    assert (final["results_without_all_scores"], final["failures"], final["warnings"]) == (0, 0, 0)
    assert_check_passes(dsn)

    third = runner.invoke(main, base + [str(BACKFILL_BATCH)], catch_exceptions=False)
    assert third.exit_code == 0, third.output
    assert json.loads(third.stdout)["tenants"][0]["artefacts"] == 0, "nothing left to do"
    assert score_state(exam)["scores"] == RESULTS * KEYS


# ---------------------------------------------------------------------------
# pg_ctl stop -m immediate mid-apply, on a private cluster
# ---------------------------------------------------------------------------


@dataclass
class PrivateCluster:
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def dsn(self) -> str:
        return make_conninfo(host=str(self.root), port=self.port, user="postgres", dbname="scoreledger_crash_drill")

    def as_postgres(self, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}"
        return done

    def initdb(self) -> None:
        self.as_postgres(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )

    def start(self) -> None:
        self.as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=''",
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str) -> None:
        self.as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        done = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.returncode == 0


@pytest.fixture
def private_cluster():
    """A cluster of our own, run by the postgres OS user, in a temporary
    directory (data, unix socket, log); always stopped and removed."""
    root = Path(tempfile.mkdtemp(prefix="sl-crash-"))
    shutil.chown(root, "postgres", "postgres")
    cluster = PrivateCluster(root, 55000 + random.randrange(5000))
    try:
        cluster.initdb()
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster.data.exists() and cluster.running():
                cluster.stop("immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)


def test_immediate_shutdown_mid_apply_recovers_with_nothing_applied_and_a_retry_completes_once(private_cluster):
    dsn = private_cluster.dsn
    db.migrate(dsn)
    exam = load_exam(dsn, SUBMISSIONS)
    batch_id = create_batch(exam)
    scores_before, history_before = current_scores(exam), history_count(exam)
    baseline = relation_size(dsn, "scoreledger_private.score_history")

    call = Call(exam, "crash-drill-apply", APPLY, [batch_id])
    call.start()
    with db.connect(dsn, autocommit=True) as monitor:
        seen = wait_for(
            monitor,
            call,
            "SELECT pg_relation_size(%(relation)s::regclass) - %(baseline)s AS written" + WRITING,
            {
                "pid": call.pid,
                "call": "apply_correction_batch",
                "relation": "scoreledger_private.score_history",
                "baseline": baseline,
                "growth": GROWTH,
            },
        )
    private_cluster.stop("immediate")
    call.join(30)
    assert not call.is_alive()
    assert seen["written"] >= GROWTH
    assert call.phase == "call", f"the server stopped in phase {call.phase}, not during the apply"
    assert isinstance(call.error, psycopg.OperationalError), f"unexpected outcome: {call.error!r}"

    private_cluster.start()
    log = private_cluster.log.read_text()
    assert "received immediate shutdown request" in log
    assert "database system was not properly shut down; automatic recovery in progress" in log

    assert_apply_left_nothing(exam, batch_id, scores_before, history_before)
    assert_retried_apply_completes_once(exam, batch_id)
