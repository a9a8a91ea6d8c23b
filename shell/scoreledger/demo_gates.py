"""The demo's learner gates (contract section 11): a lock after two failures, remedial work that lifts
it, and a correction whose batch withdraws another learner's lock — shown in the preview first — and
whose revert brings it back.

Only the learners' answers are made up here; who is locked, why, and what a batch does to a lock are
the database's answers.
"""

from __future__ import annotations

import json
import uuid
from fractions import Fraction

import click

from . import api, db
from .render import heading, print_intervention_effects, print_preview

TITLE = "Final Safety Exam"


def _decision(doc: dict) -> str:
    """start_attempt's / check_attempt's answer on one line."""
    if doc["allowed"]:
        return f"allowed (attempt {doc['attempt_no']})"
    return "refused: " + ", ".join(
        r["code"] + "".join(f" {k} {v}" for k, v in r.items() if k != "code") for r in doc["reasons"]
    )


def _record(conn, sid, tenant: str, version_id: str, assignment_id: str, user: str, n: int, answers, attempt_id=None):
    doc = {
        "submission_id": sid(tenant, "gates", assignment_id, user, n),
        "evaluation_version_id": version_id,
        "user_id": user,
        "assignment_id": assignment_id,
        "submitted_at": f"2026-12-{1 + n:02d}T10:00:00Z",
        "answers": answers,
    }
    if attempt_id:
        doc["attempt_id"] = attempt_id
    api.record_submissions(conn, [doc])


def _just_short(items: list[dict], flawed: int, pass_mark: float, true_key: list[str]) -> list[dict]:
    """Answers that pass by a point with `true_key` on the flawed item and fail with the published key.

    Every item right except the flawed one (answered with the true key) and as many others left
    blank, costliest first, as the pass mark allows.
    """
    total = sum(Fraction(i["points"]) for i in items)
    target = Fraction(str(pass_mark)) * total
    score, blank = total, set()
    for n in sorted(range(len(items)), key=lambda k: -items[k]["points"]):
        if n != flawed and score - items[n]["points"] >= target:
            blank.add(n)
            score -= items[n]["points"]
    return [
        {
            "question_version_id": item["question_version_id"],
            "selected": [] if n in blank else (true_key if n == flawed else item["correct"]),
        }
        for n, item in enumerate(items)
    ]


def run_gates_demo(c, sid, tenant: str, tenant_name: str, admin: str, exam: dict) -> None:
    """Steps G1 to G4 on the home tenant's safety exam (whose question 3 is keyed B, truly C)."""
    items, version_id = exam["items"], exam["version_id"]
    refresher, track = sid(tenant_name, "gates", "refresher"), sid(tenant_name, "gates", "track")
    # New learners on every run: the demo may run again on the same database,
    # where the learners of an earlier run are already locked or unlocked.
    run = uuid.uuid4().hex
    dana, eli = sid(tenant_name, "gates", run, "dana"), sid(tenant_name, "gates", run, "eli")
    blank = [{"question_version_id": i["question_version_id"], "selected": []} for i in items]
    right = [{"question_version_id": i["question_version_id"], "selected": i["correct"]} for i in items]

    heading("G1. Attempt rules: after 2 failed attempts an instructor must intervene; remedial work is issued")
    with db.acting(c.dsn, tenant, admin) as conn:
        evaluation = sid(tenant_name, TITLE)
        api.upsert_assignment(
            conn, {"assignment_id": refresher, "title": "Safety refresher", "evaluation_id": evaluation}
        )
        rules = {
            "max_attempts": 4,
            "retake_after_pass": False,
            "intervention_after_fails": 2,
            "remedial_assignment_id": refresher,
        }
        api.upsert_assignment(
            conn,
            {"assignment_id": track, "title": "Safety exam (gated)", "evaluation_id": evaluation} | rules,
        )
    click.echo(f"$ scoreledger import assignment gated.json   # {json.dumps(rules)}")

    heading("G2. Dana fails twice, is locked, passes the remedial assignment and is unlocked")
    for n in range(2):
        with db.acting(c.dsn, tenant, admin) as conn:
            started = api.start_attempt(conn, track, dana)
            _record(conn, sid, tenant_name, version_id, track, dana, n, blank, started["attempt_id"])
        click.echo(f"start attempt: {_decision(started)} -> submitted, failed")
    with db.acting(c.dsn, tenant, admin) as conn:
        refused = api.start_attempt(conn, track, dana)
        status = api.learner_status(conn, track, dana)
    click.echo(f"start attempt: {_decision(refused)}")
    work = ", ".join(
        ("Safety refresher " if w["assignment_id"] == refresher else "") + w["status"] for w in status["remedial_work"]
    )
    click.echo(
        f"learner status: outcome {status['outcome']}, {status['attempts_left']} attempt(s) left; remedial: {work}"
    )
    with db.acting(c.dsn, tenant, admin) as conn:
        _record(conn, sid, tenant_name, version_id, refresher, dana, 2, right)
        status = api.learner_status(conn, track, dana)
        unlocked = api.check_attempt(conn, track, dana)
        closed = [i for i in api.list_interventions(conn, None, track) if str(i["user_id"]) == dana]
    click.echo(
        f"Dana passes the refresher: remedial {status['remedial_work'][0]['status']}, intervention "
        f"{closed[0]['status']} ({closed[0]['note']}); next start: {_decision(unlocked)}"
    )

    heading("G3. Eli is locked by the flawed question: the exam board's correction withdraws the lock")
    flawed_answers = _just_short(items, 2, 0.7, ["C"])
    with db.acting(c.dsn, tenant, admin) as conn:
        for n in range(2):
            _record(conn, sid, tenant_name, version_id, track, eli, n, flawed_answers)
        click.echo(f"Eli ({eli}) answered question 3 with C twice and failed twice: start attempt: "
                   f"{_decision(api.check_attempt(conn, track, eli))}")  # fmt: skip
        batch = api.create_correction_batch(
            conn,
            "Exam board: Q3's key is C (SAFE-231 confirmed)",
            [
                {
                    "type": "replace_key",
                    "evaluation_version_id": version_id,
                    "question_version_id": items[2]["question_version_id"],
                    "correct": ["C"],
                }
            ],
        )
    click.echo(f"$ scoreledger batch preview {batch}")
    with db.acting(c.dsn, tenant, admin) as conn:
        print_preview(api.preview_correction_batch(conn, batch), None)
    with db.acting(c.dsn, tenant, admin) as conn:
        api.apply_correction_batch(conn, batch)
        after = api.check_attempt(conn, track, eli)
        withdrawn = [i for i in api.list_interventions(conn, "withdrawn", track) if str(i["user_id"]) == eli]
    click.echo(
        f"applied: Eli's intervention {withdrawn[0]['status']}; start attempt: {_decision(after)} "
        "(Eli now passes, and this assignment allows no retake after a pass)"
    )

    heading("G4. Reverting the batch brings Eli's lock back (its preview says so first)")
    with db.acting(c.dsn, tenant, admin) as conn:
        print_intervention_effects(api.preview_revert(conn, batch))
        api.revert_correction_batch(conn, batch, "Exam board withdrew the ruling")
        back = api.check_attempt(conn, track, eli)
    click.echo(f"reverted: start attempt: {_decision(back)}")
