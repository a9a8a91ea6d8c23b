"""`scoreledger demo`: a realistic sample, then the whole remediation lifecycle.

Only sample *data* is generated here (learners choosing options, with a bias
towards the key); every score you see is computed by the database.
Deterministic ids (uuid5) make the demo safe to run twice.
"""

from __future__ import annotations

import random
import shlex
import uuid

import click

from . import api, db
from .context import one_line
from .demo_gates import run_gates_demo
from .demo_scores import run_scores_demo
from .render import (
    heading,
    histogram,
    history_change,
    number,
    print_action_center,
    print_batch,
    print_check,
    print_preview,
    table,
)

NAMESPACE = uuid.UUID("5c0e1ed6-0000-4000-8000-000000000000")
OPTIONS = ["A", "B", "C", "D", "E"]


def sid(*parts) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


def _items(tenant: str, evaluation: str, count: int, rng: random.Random) -> list[dict]:
    items = []
    for n in range(count):
        kind = rng.choice(["single_choice", "single_choice", "multiple_choice"])
        options = OPTIONS[: rng.choice([4, 5])]
        if kind == "single_choice":
            correct = [rng.choice(options)]
            scoring = "exact"
        else:
            correct = sorted(rng.sample(options, rng.choice([2, 3])))
            scoring = rng.choice(["exact", "partial"])
        items.append(
            {
                "question_id": sid(tenant, evaluation, "q", n),
                "question_version_id": sid(tenant, evaluation, "qv", n, 1),
                "kind": kind,
                "prompt": f"{evaluation}: question {n + 1}",
                "options": options,
                "correct": correct,
                "points": rng.choice([1, 1, 2]),
                "scoring": scoring,
            }
        )
    return items


def _answer(item: dict, skill: float, rng: random.Random, flawed_key: list[str] | None = None) -> list[str]:
    """A learner's selection: right with probability `skill`, else a plausible mistake."""
    truth = flawed_key or item["correct"]
    if rng.random() < skill:
        return list(truth)
    if rng.random() < 0.05:
        return []  # presented, left unanswered
    wrong = [o for o in item["options"] if o not in truth] or item["options"]
    if item["kind"] == "single_choice":
        return [rng.choice(wrong)]
    picked = set(rng.sample(truth, max(1, len(truth) - 1))) | {rng.choice(wrong)}
    return sorted(picked)


EVALUATIONS = [
    ("Final Safety Exam", "Site Safety Certificate", "highest", 12, 0.7),
    ("Forklift Theory", "Warehouse Operations", "latest", 10, 0.6),
    ("Data Protection Basics", "Compliance 2026", "first", 8, 0.75),
]


def load_tenant(conn, tenant_name: str, learners: int, rng: random.Random) -> dict:
    """Evaluations, assignments and submissions for one tenant; returns handles for the walk-through."""
    handles = {}
    for title, programme, policy, item_count, pass_mark in EVALUATIONS:
        items = _items(tenant_name, title, item_count, rng)
        # The safety exam's question 3 is the flawed one: its published key
        # is wrong, and strong learners picked what is really right.
        true_key = None
        if title == "Final Safety Exam":
            q3 = items[2]
            q3.update(kind="single_choice", options=["A", "B", "C", "D"], correct=["B"], scoring="exact")
            true_key = ["C"]
        version_id = api.import_evaluation_version(
            conn,
            {
                "evaluation_id": sid(tenant_name, title),
                "evaluation_version_id": sid(tenant_name, title, "v1"),
                "evaluation_title": title,
                "version_no": 1,
                "pass_mark": pass_mark,
                "items": items,
            },
        )
        assignment_id = api.upsert_assignment(
            conn,
            {
                "assignment_id": sid(tenant_name, title, "assignment"),
                "title": title,
                "evaluation_id": sid(tenant_name, title),
                "programme": programme,
                "attempt_policy": policy,
            },
        )
        docs = []
        for learner in range(learners):
            skill = min(0.97, max(0.3, rng.gauss(0.72, 0.14)))
            for attempt in range(rng.choice([1, 1, 2, 3])):
                answers = []
                for n, item in enumerate(items):
                    flawed = true_key if (true_key and n == 2 and skill > 0.6) else None
                    answers.append(
                        {
                            "question_version_id": item["question_version_id"],
                            "selected": _answer(item, skill, rng, flawed),
                        }
                    )
                docs.append(
                    {
                        "submission_id": sid(tenant_name, title, learner, attempt),
                        "evaluation_version_id": version_id,
                        "user_id": sid(tenant_name, "learner", learner),
                        "assignment_id": assignment_id,
                        "submitted_at": f"2026-11-{1 + attempt * 3:02d}T{9 + learner % 8:02d}:00:00Z",
                        "answers": answers,
                    }
                )
                skill = min(0.97, skill + 0.05)
        recorded = api.record_submissions(conn, docs)
        handles[title] = {"version_id": version_id, "items": items, "submissions": len(docs), "recorded": recorded}
    return handles


def _summary(conn) -> list[dict]:
    return conn.execute(
        """SELECT v.title AS evaluation, count(*) AS submissions, count(DISTINCT s.user_id) AS learners,
                  max(s.attempt_no) AS max_attempts, round(avg(s.score / nullif(s.max_score, 0)) * 100, 1) AS avg_pct,
                  count(*) FILTER (WHERE s.passed) AS passed
           FROM scoreledger.submissions s JOIN scoreledger.evaluation_versions v USING (evaluation_version_id)
           GROUP BY v.title ORDER BY v.title"""
    ).fetchall()


def _print_history(conn, submission_id: str) -> None:
    for row in api.submission_history(conn, submission_id):
        click.echo(
            f"  {row['created_at']:%Y-%m-%d %H:%M:%S}  {number(row['score'])}/{number(row['max_score'])}  "
            + history_change(row)
        )


def run_demo(c, learners: int, seed: int) -> None:
    rng = random.Random(seed)
    admin = sid("demo", "admin")
    tenants = ["Northwind Academy", "Contoso Training"]

    heading("1. Two tenants, three evaluations each, mixed item kinds, several attempts per learner")
    home_tenant = None
    for name in tenants:
        tenant_id, handles = _load_sample(c, name, admin, learners, rng)
        if name == tenants[0]:
            home_tenant, exam = tenant_id, handles["Final Safety Exam"]
    q3 = exam["items"][2]
    victim = _failed_but_chose(c, home_tenant, admin, exam["version_id"], q3["question_version_id"], "C")
    batch = _flawed_key(c, home_tenant, admin, exam["version_id"], q3["question_version_id"])
    _apply_and_revert(c, home_tenant, admin, batch, victim)
    _governed_tenant(c, tenants[1], admin)

    heading("10. scoreledger batch list")
    with db.acting(c.dsn, home_tenant, admin) as conn:
        print_action_center(api.action_center(conn))

    run_scores_demo(c, home_tenant, admin)
    run_gates_demo(c, sid, home_tenant, tenants[0], admin, exam)

    heading("11. scoreledger check: every invariant, every tenant")
    with db.connect(c.dsn) as conn:
        rows = api.check_invariants(conn)
    print_check(rows)
    # Lines to paste into a shell as they are: this very command, on the database the demo used.
    me = c.command_line()
    tenant = shlex.quote(tenants[0])
    click.echo(
        f"\nTry it yourself: {me} --tenant {tenant} --actor {admin} batch list\n"
        f"                 {me} --tenant {tenant} submission history {victim or '<submission id>'}"
    )


def _load_sample(c, name: str, admin: str, learners: int, rng: random.Random) -> tuple[str, dict]:
    with db.acting(c.dsn, None, admin) as conn:
        tenant_id = api.create_tenant(conn, name)
    with db.acting(c.dsn, tenant_id, admin) as conn:
        handles = load_tenant(conn, name, learners, rng)
        click.echo(f"\n{name} ({tenant_id}):")
        table(_summary(conn))
    return tenant_id, handles


def _failed_but_chose(c, tenant: str, admin: str, version_id: str, question_version_id: str, option: str):
    """The best-scoring failed submission that chose `option`: the learner the key's flaw hurt most."""
    with db.acting(c.dsn, tenant, admin) as conn:
        row = conn.execute(
            """SELECT s.submission_id FROM scoreledger.submissions s
               JOIN scoreledger.answers a USING (submission_id)
               WHERE s.evaluation_version_id = %s AND a.question_version_id = %s AND a.selected = ARRAY[%s]
                 AND NOT s.passed
               ORDER BY s.score DESC, s.submission_id LIMIT 1""",
            [version_id, question_version_id, option],
        ).fetchone()
    return str(row["submission_id"]) if row else None


def _flawed_key(c, tenant: str, admin: str, version_id: str, question_version_id: str) -> str:
    """Steps 2 to 4: the batch that fixes the key, shown and previewed."""
    heading("2. A flaw is reported: question 3 of the Final Safety Exam was keyed B, the right answer is C")
    correction = {
        "type": "replace_key",
        "evaluation_version_id": version_id,
        "question_version_id": question_version_id,
        "correct": ["C"],
    }
    reason = "Q3 key was wrong: the regulation changed in 2025, C is correct (ticket SAFE-231)"
    with db.acting(c.dsn, tenant, admin) as conn:
        batch = api.create_correction_batch(conn, reason, [correction])
    click.echo(f"$ scoreledger batch create --reason '...' --replace-key {version_id}:{question_version_id}=C")
    click.echo(f"draft batch {batch}")

    heading("3. Show the batch: who, when, why, what")
    with db.acting(c.dsn, tenant, admin) as conn:
        print_batch(api.get_correction_batch(conn, batch))

    heading("4. Preview before applying: who will pass, who will fail (a dry run: nothing is written)")
    click.echo(f"$ scoreledger batch preview {batch}")
    with db.acting(c.dsn, tenant, admin) as conn:
        rows = api.preview_correction_batch_changes(conn, batch)
        hist = histogram(
            {
                "before": [(r["old_score"], r["old_max_score"]) for r in rows],
                "after": [(r["new_score"], r["new_max_score"]) for r in rows],
            },
            api.batch_pass_marks(conn, batch),
        )
        print_preview(api.preview_correction_batch(conn, batch), hist)
    return batch


def _apply_and_revert(c, tenant: str, admin: str, batch: str, victim: str | None) -> None:
    """Steps 5 to 8: apply, one learner's history, apply again, revert."""
    heading("5. Apply: every affected attempt rescored in one set-based statement, history written")
    with db.acting(c.dsn, tenant, admin) as conn:
        before = _summary(conn)
        result = api.apply_correction_batch(conn, batch)
        after = _summary(conn)
    click.echo(f"{result['submissions_rescored']} submissions rescored, {result['scores_changed']} scores changed")
    for b, a in zip(before, after, strict=True):
        if b["passed"] != a["passed"] or b["avg_pct"] != a["avg_pct"]:
            click.echo(
                f"  {a['evaluation']}: average {number(b['avg_pct'])}% -> {number(a['avg_pct'])}%, "
                f"passing {b['passed']} -> {a['passed']} of {a['submissions']}"
            )

    if victim:
        heading("6. One learner's history: what the score is, how it got there, which batch changed it")
        with db.acting(c.dsn, tenant, admin) as conn:
            _print_history(conn, victim)

    heading("7. Applying again is a no-op")
    with db.acting(c.dsn, tenant, admin) as conn:
        again = api.apply_correction_batch(conn, batch)
    click.echo(f"already_applied: {str(again['already_applied']).lower()} (nothing written)")

    heading("8. Revert: a compensating batch restores every score; history only grows")
    with db.acting(c.dsn, tenant, admin) as conn:
        compensating = api.revert_correction_batch(conn, batch, "Reverted pending review by the exam board")
        restored = _summary(conn)
        doc = api.get_correction_batch(conn, compensating)
    click.echo(
        f"batch {batch} reverted by {compensating}: {doc['apply_result']['submissions_rescored']} submissions rescored"
    )
    click.echo(f"scores back to before: {'yes' if restored == before else 'NO'}")
    if victim:
        with db.acting(c.dsn, tenant, admin) as conn:
            _print_history(conn, victim)


def _governed_tenant(c, name: str, admin: str) -> None:
    """Step 9: maker and checker under require_approval and enforce_capabilities."""
    heading("9. A high-stakes tenant: approval required, capabilities enforced (maker, checker, apply)")
    maker, checker = sid("demo", "maker"), sid("demo", "checker")
    with db.acting(c.dsn, None, admin) as conn:
        tenant = api.create_tenant(conn, name)
    with db.acting(c.dsn, tenant, admin) as conn:
        _govern(conn, admin, maker, checker)
        item = conn.execute(
            """SELECT i.evaluation_version_id::text, i.question_version_id::text FROM scoreledger.items i
               JOIN scoreledger.evaluation_versions v USING (evaluation_version_id)
               WHERE v.title = 'Forklift Theory' ORDER BY i.position LIMIT 1"""
        ).fetchone()
    click.echo(f"{name}: require_approval on, enforce_capabilities on; maker {maker[:8]}…, checker {checker[:8]}…")
    with db.acting(c.dsn, tenant, maker) as conn:
        gated = api.create_correction_batch(
            conn,
            "Forklift Q1 ambiguous: give everyone the point (incident FL-9)",
            [{"type": "mark_correct", **item}],
        )
        api.batch_action(conn, "submit", gated)
    click.echo(f"maker: created and submitted batch {gated}")
    attempts = (
        ("maker tries to approve own batch", lambda conn: api.batch_action(conn, "approve", gated, "looks fine")),
        ("maker tries to apply", lambda conn: api.apply_correction_batch(conn, gated)),
    )
    for label, attempt in attempts:
        try:
            with db.acting(c.dsn, tenant, maker) as conn:
                attempt(conn)
        except Exception as exc:  # noqa: BLE001 - the refusal is the point of the demo
            click.echo(f"{label}: refused — {one_line(exc)}")
    with db.acting(c.dsn, tenant, checker) as conn:
        print_preview(api.preview_correction_batch(conn, gated), None)
        api.batch_action(conn, "approve", gated, "checked against the incident report")
        result = api.apply_correction_batch(conn, gated)
    click.echo(f"checker: approved and applied — {result['submissions_rescored']} submissions rescored")
    with db.acting(c.dsn, tenant, checker) as conn:
        print_batch(api.get_correction_batch(conn, gated))


def _govern(conn, admin: str, maker: str, checker: str) -> None:
    """Grant the roles, then turn on approval and enforced capabilities."""
    # Administration itself is governed once enforced: the administrator
    # takes approve_batch while it still may, then grants the others.
    if not api.tenant_policy(conn)["enforce_capabilities"]:
        api.grant_capability(conn, admin, "approve_batch")
    # The maker may approve too — just never their own batch (dual control).
    for user, caps in (
        (maker, ["create_batch", "approve_batch"]),
        (checker, ["approve_batch", "apply_batch", "revert_batch"]),
    ):
        for cap in caps:
            api.grant_capability(conn, user, cap)
    api.set_tenant_policy(conn, True, True)
