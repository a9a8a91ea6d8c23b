"""The score layer's part of `scoreledger demo` (contract section 8).

An automated grader and a plagiarism check record results about some
submissions of the home tenant; an exam board reviews a few of the same
submissions (one authoritative reviewer, one second opinion, one draft);
then the authoritative view and the concordance of machine and board.
Only sample data is generated here: the typing, the writes, the filters and
the comparisons are the database's. Ids are uuid5, so running the demo
again overwrites the same results and edits the same annotations.
"""

from __future__ import annotations

import random
import uuid

import click

from . import db, scores
from .render import concordance_table, heading, score_value, table

NAMESPACE = uuid.UUID("5c0e1ed6-0000-4000-8000-0000000000a5")

GRADER_SCHEMA = {
    "verdict": {"type": "choice", "choices": ["pass", "fail"]},
    "band": {"type": "choice", "choices": ["1", "2", "3", "4"]},
}
BOARD_FORM = {
    "verdict": {"type": "choice", "choices": ["pass", "fail"]},
    "band": {"type": "choice", "choices": ["1", "2", "3", "4"]},
}


def _id(*parts) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _item(conn, queue: str, submission_id: str | None, message_ref: str | None = None) -> str:
    """The queue's item about this submission (or message), added on the first run only."""
    row = conn.execute(
        """SELECT item_id::text AS id FROM scoreledger.review_items
           WHERE queue_id = %s AND submission_id IS NOT DISTINCT FROM %s::uuid AND message_ref IS NOT DISTINCT FROM %s
           ORDER BY created_at LIMIT 1""",
        [queue, submission_id, message_ref],
    ).fetchone()
    return row["id"] if row else scores.add_review_item(conn, queue, submission_id, message_ref)


def run_scores_demo(c, home_tenant: str, admin: str, sessions: int = 24, seed: int = 11) -> None:
    """Walk the score layer in `home_tenant` (a tenant id or name); `admin` is the acting user's uuid."""
    rng = random.Random(seed)
    picked = _record_results(c, home_tenant, admin, sessions, rng)
    if not picked:
        return
    reviewed = _board_reviews(c, home_tenant, admin, picked)
    example = reviewed[0]["id"]
    _show_scores(c, home_tenant, admin, example)
    heading("Backfill: artefacts that predate the score layer, or whose write failed")
    reports = scores.backfill(c.dsn, home_tenant)
    r = reports[0]
    click.echo(
        f"$ scoreledger scores backfill   # {r.artefacts} artefact(s) lacked scores; "
        f"{r.scores_written} scores written, {r.failed} failed"
    )
    me = c.command_line()
    click.echo(
        f"\nTry it yourself: {me} --tenant {home_tenant} scores list {example}\n"
        f"                 {me} --tenant {home_tenant} scores concordance"
    )


def _record_results(c, home_tenant: str, admin: str, sessions: int, rng: random.Random) -> list[dict]:
    """Two evaluators' results about the first `sessions` submissions of the safety exam (returned)."""
    heading("Scores: evaluators and reviewers write typed scores about the same sessions")
    with db.acting(c.dsn, home_tenant, admin) as conn:
        picked = conn.execute(
            """SELECT s.submission_id::text AS id, s.score, s.max_score, s.passed
               FROM scoreledger.submissions s
               JOIN scoreledger.evaluation_versions v USING (evaluation_version_id)
               WHERE v.title = 'Final Safety Exam'
               ORDER BY s.submission_id LIMIT %s""",
            [sessions],
        ).fetchall()
        if not picked:
            click.echo("(no submissions to score)")
            return []
        scores.register_evaluator(conn, "rubric-grader v2", GRADER_SCHEMA)
        scores.register_evaluator(conn, "plagiarism-check")
        docs = []
        for n, s in enumerate(picked):
            fraction = float(s["score"] / s["max_score"]) if s["max_score"] else 0.0
            # The grader is right most of the time: its verdict follows the
            # learner's result, with some noise.
            verdict = "pass" if (s["passed"] if rng.random() > 0.2 else not s["passed"]) else "fail"
            docs.append(
                {
                    "evaluator": "rubric-grader v2",
                    "submission_id": s["id"],
                    "result_id": _id("grader", s["id"]),
                    "payload": {
                        "verdict": verdict,
                        "band": 1 + min(3, int(fraction * 4)),
                        "rubric_score": round(fraction * 10, 1),
                        "clear_reasoning": rng.random() > 0.3,
                        "feedback": None,
                    },
                }
            )
            docs.append(
                {
                    "evaluator": "plagiarism-check",
                    "submission_id": s["id"],
                    "result_id": _id("plagiarism", s["id"]),
                    "payload": {"similarity": round(rng.random() * 0.4, 2), "flagged": rng.random() > 0.9}
                    if n % 11
                    else None,
                    "error": None if n % 11 else "similarity service timed out",
                }
            )
        written = scores.record_evaluation_results(conn, docs)
    click.echo(
        f"$ scoreledger import results grader.jsonl   # {written} results from 2 evaluators about {len(picked)} sessions"
    )
    click.echo(
        "  rubric-grader v2 declares verdict and band as choices: band 3 is stored as CATEGORICAL '3', not a number"
    )
    return picked


def _board_reviews(c, home_tenant: str, admin: str, picked: list[dict]) -> list[dict]:
    """The exam board's annotations of a third of the sessions (returned), and two that write no scores."""
    chair, second, trainee = _id("reviewer", "chair"), _id("reviewer", "second"), _id("reviewer", "trainee")
    # The exam board reviews a third of them: the chair is authoritative.
    reviewed = picked[: max(3, len(picked) // 3)]
    with db.acting(c.dsn, home_tenant, admin) as conn:
        queue = scores.create_review_queue(conn, "Exam board review", BOARD_FORM)
        items = {s["id"]: _item(conn, queue, s["id"]) for s in reviewed}
        # A message-only item (a learner's appeal e-mail): annotated, never scored.
        appeal = _item(conn, queue, None, "appeal-email-2026-11-03")
    for n, s in enumerate(reviewed):
        fraction = float(s["score"] / s["max_score"]) if s["max_score"] else 0.0
        board_verdict = "pass" if s["passed"] else "fail"
        with db.acting(c.dsn, home_tenant, chair) as conn:
            scores.save_annotation(
                conn,
                items[s["id"]],
                {"verdict": board_verdict, "band": 1 + min(3, int(fraction * 4)), "clear_reasoning": n % 4 != 0},
                "submitted",
                True,
                _id("chair", s["id"]),
            )
        with db.acting(c.dsn, home_tenant, second) as conn:
            scores.save_annotation(
                conn,
                items[s["id"]],
                {"verdict": "fail" if n % 3 == 0 else board_verdict, "clear_reasoning": True},
                "submitted",
                False,
                _id("second", s["id"]),
            )
    with db.acting(c.dsn, home_tenant, trainee) as conn:
        scores.save_annotation(
            conn, items[reviewed[0]["id"]], {"verdict": "pass"}, "draft", False, _id("trainee", reviewed[0]["id"])
        )
        scores.save_annotation(conn, appeal, {"verdict": "fail"}, "submitted", False, _id("trainee", "appeal"))
    click.echo(
        f"exam board: {len(reviewed)} sessions reviewed by the chair (authoritative) and a second reviewer; "
        "a trainee's draft and an annotation of an appeal e-mail write no scores"
    )
    return reviewed


def _show_scores(c, home_tenant: str, admin: str, example: str) -> None:
    """`scores list` and `scores concordance` of one reviewed session."""
    with db.acting(c.dsn, home_tenant, admin) as conn:
        every = scores.submission_scores(conn, example)
        authoritative = scores.submission_scores(conn, example, authoritative_only=True)
        agreement = scores.concordance(conn, example)
        skipped = scores.warnings(conn, example)
        totals = conn.execute(
            """SELECT (SELECT count(*) FROM scoreledger.scores) AS all_scores,
                      (SELECT count(*) FROM scoreledger.authoritative_scores) AS authoritative,
                      (SELECT count(*) FROM scoreledger.score_write_failures WHERE resolved_at IS NULL) AS failures"""
        ).fetchone()
        summary = scores.concordance_summary(conn)

    heading(f"scoreledger scores list {example}")
    table(
        [
            {
                "name": r["name"],
                "type": r["data_type"],
                "value": score_value(r),
                "source": r["source"] + (" (authoritative)" if r["is_authoritative"] else ""),
                "in authoritative view": "yes" if any(a["id"] == r["id"] for a in authoritative) else "no",
            }
            for r in every
        ]
    )
    if skipped:
        click.echo("skipped keys: " + ", ".join(f"{w['name']} ({w['json_type']})" for w in skipped))
    click.echo(
        f"\ntenant totals: {totals['all_scores']} scores stored, {totals['authoritative']} in the authoritative view "
        "(non-authoritative human scores are kept for inter-rater work, filtered on read), "
        f"{totals['failures']} unresolved write failures"
    )

    heading("Concordance: the automated value beside the authoritative human value")
    concordance_table(agreement, human="board")
    click.echo()
    click.echo("agreement per score name, over every reviewed session ($ scoreledger scores concordance):")
    table([row for row in summary if row["compared"]])
