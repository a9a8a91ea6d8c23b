"""`batch ...`: correction batches, from draft to applied (and reverted).

Which status allows which action is the database's (scoreledger.batch_next_actions);
this module keeps no list of statuses.
"""

from __future__ import annotations

import csv

import click

from . import api
from .context import Context, corrections_given, with_context
from .render import cell, emit_json, histogram, print_action_center, print_batch, print_preview

CHANGE_COLUMNS = [
    "submission_id",
    "user_id",
    "assignment_id",
    "old_score",
    "new_score",
    "old_max_score",
    "new_max_score",
    "old_passed",
    "new_passed",
]


def correction_options(fn):
    """--file and the shorthand options, shared by create and edit."""
    for option in reversed(
        [
            click.option(
                "--file",
                "file_",
                type=click.Path(exists=True, dir_okay=False),
                help="a corrections document (JSON array)",
            ),
            click.option("--drop-item", multiple=True, metavar="EV:QV", help="drop an item from scoring"),
            click.option("--replace-key", multiple=True, metavar="EV:QV=OPT[,OPT]", help="replace an item's key"),
            click.option("--mark-correct", multiple=True, metavar="EV:QV", help="give everyone full points on an item"),
        ]
    ):
        fn = option(fn)
    return fn


@click.group("batch")
def batch_group():
    """Correction batches: create, inspect, apply, revert."""


@batch_group.command("create")
@click.option("--reason", required=True, help="why the scores change (kept with the batch)")
@correction_options
@with_context
def batch_create(c: Context, reason, file_, drop_item, replace_key, mark_correct):
    """Create a draft correction batch (validated by the database)."""
    corrections = corrections_given(file_, drop_item, replace_key, mark_correct)
    if not corrections:
        raise click.UsageError("give --file or at least one of --drop-item, --replace-key, --mark-correct")
    with c.acting() as conn:
        batch_id = api.create_correction_batch(conn, reason, corrections)
    c.emit(
        {"batch_id": batch_id, "status": "draft"},
        lambda: click.echo(
            f"draft batch {batch_id}: {len(corrections)} correction(s)\n"
            f"next: scoreledger batch show {batch_id}   then: scoreledger batch apply {batch_id}"
        ),
    )


@batch_group.command("list")
@click.option("--status", default=None, help="only batches in this status")
@with_context
def batch_list(c: Context, status):
    """The action center: batches grouped by status, with what each waits for.

    The figures (affected submissions, how many flip pass<->fail) are the
    ones stored on each batch when it was last written; nothing is recomputed.
    """
    with c.acting() as conn:
        if c.as_json:
            emit_json(api.list_correction_batches(conn, status))
            return
        rows = api.action_center(conn, status)
    print_action_center(rows)


@batch_group.command("show")
@click.argument("batch_id")
@with_context
def batch_show(c: Context, batch_id):
    """A batch: payload, who/when/why, counts and its timeline."""
    with c.acting() as conn:
        doc = api.get_correction_batch(conn, batch_id)
    c.emit(doc, lambda: print_batch(doc))


def _dry_run(conn, batch_id: str) -> tuple[str, dict, list[dict]]:
    """What the batch would do next, dry run: ("apply"|"revert", the preview document, its rows).

    Which one is the database's answer (batch_next_actions): an applied
    batch previews its revert; a batch that may be neither is previewed as
    apply, and the database says why not.
    """
    if "revert" in api.next_actions(conn, batch_id):
        return "revert", api.preview_revert(conn, batch_id), api.preview_revert_changes(conn, batch_id)
    return "apply", api.preview_correction_batch(conn, batch_id), api.preview_correction_batch_changes(conn, batch_id)


def _histogram(conn, batch_id: str, rows: list[dict]) -> dict:
    return histogram(
        {
            "before": [(r["old_score"], r["old_max_score"]) for r in rows],
            "after": [(r["new_score"], r["new_max_score"]) for r in rows],
        },
        api.batch_pass_marks(conn, batch_id),
    )


@batch_group.command("preview")
@click.argument("batch_id")
@click.option(
    "--csv", "csv_file", type=click.Path(dir_okay=False, writable=True), help="write the per-submission changes"
)
@with_context
def batch_preview(c: Context, batch_id, csv_file):
    """Dry run: who will pass, who will fail, before anything is applied.

    For an applied batch, the dry run of reverting it. The histogram bins
    scores so that each pass mark is a bin edge (under --json: the
    "histogram" key, added to the database's preview document).
    """
    with c.acting() as conn:
        action, doc, rows = _dry_run(conn, batch_id)
        hist = _histogram(conn, batch_id, rows)
    if csv_file:
        with open(csv_file, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=CHANGE_COLUMNS)
            writer.writeheader()
            for r in rows:
                writer.writerow({k: cell(v) for k, v in r.items()})

    def human():
        if action == "revert":
            click.echo(f"batch {batch_id} is applied: this is what reverting it would do.")
        print_preview(doc, hist, verb="rescored")
        if csv_file:
            click.echo(f"per-submission changes written to {csv_file}")

    c.emit(doc | {"previewOf": action, "histogram": hist}, human)


def _confirm(c: Context, question: str, yes: bool) -> None:
    """Ask before a write (never under --yes); --json does not imply --yes."""
    if not yes:
        click.confirm(question, abort=True, err=True)


@batch_group.command("apply")
@click.argument("batch_id")
@click.option("--yes", is_flag=True, help="apply without showing the preview and asking")
@with_context
def batch_apply(c: Context, batch_id, yes):
    """Apply a batch: rescore every affected submission, one history row each.

    Shows the preview and asks first (unless --yes), when apply is what
    the batch may do next.
    """
    if not (yes or c.as_json):
        with c.acting() as conn:
            doc = api.preview_correction_batch(conn, batch_id) if "apply" in api.next_actions(conn, batch_id) else None
            hist = _histogram(conn, batch_id, api.preview_correction_batch_changes(conn, batch_id)) if doc else None
        if doc is not None:
            print_preview(doc, hist, verb="rescored")
            click.confirm("apply this batch?", abort=True, err=True)
    with c.acting() as conn:
        result = api.apply_correction_batch(conn, batch_id)
    if c.as_json:
        emit_json(result)
        return
    if result["already_applied"]:
        click.echo(
            f"batch {batch_id} was already applied: nothing written now "
            f"(when applied: {result['submissions_rescored']} submissions rescored, "
            f"{result['scores_changed']} scores changed)"
        )
        return
    click.echo(
        f"batch {batch_id}: {result['submissions_rescored']} submissions rescored, "
        f"{result['scores_changed']} scores changed"
    )


@batch_group.command("revert")
@click.argument("batch_id")
@click.option("--reason", required=True, help="why the batch is reverted")
@click.option("--yes", is_flag=True, help="revert without showing the preview and asking")
@with_context
def batch_revert(c: Context, batch_id, reason, yes):
    """Revert an applied batch with a compensating batch (nothing is deleted).

    Shows the revert preview and asks first (unless --yes), like apply.
    """
    if not (yes or c.as_json):
        with c.acting() as conn:
            revertible = "revert" in api.next_actions(conn, batch_id)
            doc = api.preview_revert(conn, batch_id) if revertible else None
            hist = _histogram(conn, batch_id, api.preview_revert_changes(conn, batch_id)) if revertible else None
        if doc is not None:
            print_preview(doc, hist, verb="rescored")
            click.confirm("revert this batch?", abort=True, err=True)
    with c.acting() as conn:
        compensating = api.revert_correction_batch(conn, batch_id, reason)
        doc = api.get_correction_batch(conn, compensating)
    if c.as_json:
        emit_json(doc["apply_result"] | {"reverted_batch_id": batch_id})
        return
    r = doc["apply_result"]
    click.echo(
        f"batch {batch_id} reverted by batch {compensating}: {r['submissions_rescored']} submissions rescored, "
        f"{r['scores_changed']} scores changed"
    )


def _transition_command(action: str, summary: str, note: click.Option | None = None) -> None:
    """`batch ACTION ID [--note]`: one move of the state machine, which the database checks."""

    @batch_group.command(action, help=summary)
    @click.argument("batch_id")
    @with_context
    def command(c: Context, batch_id, note=None):
        with c.acting() as conn:
            result = api.batch_action(conn, action, batch_id, note)
        c.emit(result, lambda: click.echo(f"batch {batch_id}: {result['previous_status']} -> {result['status']}"))

    if note is not None:
        command.params.append(note)


_transition_command("submit", "Submit a draft for review.")
_transition_command(
    "approve",
    "Approve a batch under review (never your own: dual control).",
    click.Option(["--note"], default=None, help="the approver's note"),
)
_transition_command(
    "reject",
    "Reject a batch under review, saying why.",
    click.Option(["--note"], required=True, help="why it is rejected"),
)


@batch_group.command("discard")
@click.argument("batch_id")
@click.option("--yes", is_flag=True, help="discard without asking")
@with_context
def batch_discard(c: Context, batch_id, yes):
    """Discard a batch that was never applied (final: it can never be applied)."""
    if not (yes or c.as_json):
        with c.acting() as conn:
            doc = api.get_correction_batch(conn, batch_id)
        click.echo(f"batch {batch_id} [{doc['status']}]: {doc['reason']} ({len(doc['corrections'])} correction(s))")
        click.confirm("discard this batch? it can never be applied afterwards", abort=True, err=True)
    with c.acting() as conn:
        result = api.batch_action(conn, "discard", batch_id)
    c.emit(result, lambda: click.echo(f"batch {batch_id}: {result['previous_status']} -> {result['status']}"))


@batch_group.command("edit")
@click.argument("batch_id")
@click.option("--reason", default=None)
@correction_options
@with_context
def batch_edit(c: Context, batch_id, reason, file_, drop_item, replace_key, mark_correct):
    """Edit a batch not yet applied; a submitted or approved batch goes back to draft."""
    corrections = corrections_given(file_, drop_item, replace_key, mark_correct)
    if not corrections and reason is None:
        raise click.UsageError("nothing to change: give --reason and/or new corrections")
    with c.acting() as conn:
        result = api.update_correction_batch(conn, batch_id, reason, corrections or None)
    c.emit(result, lambda: click.echo(f"batch {batch_id} edited: {result['previous_status']} -> {result['status']}"))
