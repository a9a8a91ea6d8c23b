"""Commands over learners' gates (contract section 11): attempts, learner status, interventions.

Each command is one SQL API call; the rules (reasons, counts, the intervention
rule) are the database's.
"""

from __future__ import annotations

import click

from . import api
from .context import Context, with_context

INTERVENTION_COLUMNS = [
    "intervention_id",
    "assignment_id",
    "user_id",
    "status",
    "origin",
    "reason",
    "opened_at",
    "note",
]


def _print_decision(doc: dict) -> None:
    if doc.get("allowed"):
        attempt = f" (attempt {doc.get('attempt_no')})"
        click.echo(f"allowed{attempt}" + (f": attempt_id {doc['attempt_id']}" if doc.get("attempt_id") else ""))
        return
    click.echo("not allowed:")
    for reason in doc.get("reasons", []):
        details = ", ".join(f"{k} {v}" for k, v in reason.items() if k != "code")
        click.echo(f"  {reason['code']}" + (f" ({details})" if details else ""))


@click.group("attempt")
def attempt_group():
    """The gate a delivery system asks before opening an exam session."""


@attempt_group.command("start")
@click.argument("assignment")
@click.argument("user")
@with_context
def attempt_start(c: Context, assignment, user):
    """Record a start if the gate allows it (else every reason, nothing written)."""
    with c.acting() as conn:
        doc = api.start_attempt(conn, assignment, user)
    c.emit(doc, lambda: _print_decision(doc))


@attempt_group.command("check")
@click.argument("assignment")
@click.argument("user")
@with_context
def attempt_check(c: Context, assignment, user):
    """The gate's decision, without recording a start."""
    with c.acting() as conn:
        doc = api.check_attempt(conn, assignment, user)
    c.emit(doc, lambda: _print_decision(doc))


@click.group("learner")
def learner_group():
    """What a learner's page shows."""


@learner_group.command("status")
@click.argument("assignment")
@click.argument("user")
@with_context
def learner_status(c: Context, assignment, user):
    """Outcome, attempts used and left, next allowed start, open intervention, remedial work."""
    with c.acting() as conn:
        doc = api.learner_status(conn, assignment, user)

    def human():
        for key in ("outcome", "attempts_used", "attempts_left", "allowed", "next_allowed_start"):
            click.echo(f"{key}: {doc.get(key)}")
        _print_decision({"allowed": doc.get("allowed"), "reasons": doc.get("reasons", [])})
        if doc.get("open_intervention"):
            click.echo(f"open intervention: {doc['open_intervention']['intervention_id']}")
        for work in doc.get("remedial_work", []):
            click.echo(f"remedial assignment {work['assignment_id']}: {work['status']}")

    c.emit(doc, human)


@click.group("intervention")
def intervention_group():
    """Interventions: audited locks of one learner on one assignment."""


@intervention_group.command("list")
@click.option("--status", default=None, help="open, resolved or withdrawn")
@click.option("--assignment", default=None, help="one assignment's")
@with_context
def intervention_list(c: Context, status, assignment):
    """Interventions, newest first."""
    with c.acting() as conn:
        rows = api.list_interventions(conn, status, assignment)
    c.rows(rows, INTERVENTION_COLUMNS)


@intervention_group.command("open")
@click.argument("assignment")
@click.argument("user")
@click.option("--reason", required=True)
@with_context
def intervention_open(c: Context, assignment, user, reason):
    """Lock a learner's next attempt until an instructor resolves it."""
    with c.acting() as conn:
        new_id = api.open_intervention(conn, assignment, user, reason)
    c.emit({"intervention_id": str(new_id)}, lambda: click.echo(f"intervention {new_id} open"))


@intervention_group.command("resolve")
@click.argument("intervention_id")
@click.option("--note", required=True)
@with_context
def intervention_resolve(c: Context, intervention_id, note):
    """Resolve an open intervention (withdraws remedial work not completed)."""
    with c.acting() as conn:
        doc = api.resolve_intervention(conn, intervention_id, note)
    c.emit(doc, lambda: click.echo(f"intervention {doc['intervention_id']} {doc['status']}"))
