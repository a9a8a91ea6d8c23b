"""`batch ...`: correction batches, from draft to applied (and reverted).

Which status allows which action is the database's (scoreledger.batch_next_actions);
this module keeps no list of statuses.
"""

from __future__ import annotations

import click
import psycopg

from . import api
from .context import Context, corrections_given, open_output, with_context
from .render import delimited, histogram, print_action_center, print_batch, print_preview

# A correction's fields, in the order of the corrections document (contract section 5).
CORRECTION_COLUMNS = ["type", "evaluation_version_id", "question_version_id", "correct", "submission_ids"]
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
                type=click.Path(exists=True, dir_okay=False, allow_dash=True),
                help="a corrections document: a JSON array, or CSV with a header row (columns type, "
                "evaluation_version_id, question_version_id, correct, tag, submission_ids); - reads stdin",
            ),
            click.option(
                "--drop-item",
                multiple=True,
                metavar="[EV:]QV",
                help="drop an item from scoring; without EV: in every version containing QV (repeatable)",
            ),
            click.option(
                "--replace-key",
                multiple=True,
                metavar="[EV:]QV=OPT[,OPT]",
                help="replace an item's key; without EV: in every version containing QV (repeatable)",
            ),
            click.option(
                "--mark-correct",
                multiple=True,
                metavar="[EV:]QV",
                help="give everyone full points on an item; without EV: in every version containing QV (repeatable)",
            ),
            click.option("--drop-tag", multiple=True, metavar="TAG", help="drop every item carrying TAG (repeatable)"),
            click.option(
                "--mark-correct-tag",
                multiple=True,
                metavar="TAG",
                help="give everyone full points on every item carrying TAG (repeatable)",
            ),
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
def batch_create(c: Context, reason, file_, drop_item, replace_key, mark_correct, drop_tag, mark_correct_tag):
    """Create a draft correction batch (validated and expanded by the database).

    An entry without EV, and a tag, become one correction per item they reach;
    `batch show` lists the stored corrections.
    """
    corrections = corrections_given(file_, drop_item, replace_key, mark_correct, drop_tag, mark_correct_tag)
    if not corrections:
        raise click.UsageError(
            "give --file or at least one of --drop-item, --replace-key, --mark-correct, --drop-tag, --mark-correct-tag"
        )
    with c.acting() as conn:
        batch_id = api.create_correction_batch(conn, reason, corrections)
        stored = len(api.get_correction_batch(conn, batch_id)["corrections"])
    c.emit(
        {"batch_id": batch_id, "status": "draft"},
        lambda: click.echo(
            f"draft batch {batch_id}: {stored} correction(s)"
            + (f" (from {len(corrections)} entries)" if stored != len(corrections) else "")
            + "\n"
            f"next: scoreledger batch show {batch_id}   then: scoreledger batch apply {batch_id}"
        ),
    )


def batch_document(doc: dict) -> dict:
    """get_correction_batch's document as the CLI prints it: the batch named `batch_id` (as in preview and
    apply), `corrections` the entries and `correction_count` their number (as in `batch list`)."""
    fields = {k: v for k, v in doc.items() if k != "id"}
    return {"batch_id": doc["id"], **fields, "correction_count": len(doc.get("corrections") or [])}


def listed_batch(row: dict) -> dict:
    """One `batch list` row: the batch's fields, its stored figures and what it waits for (as the table)."""
    return {
        "batch_id": row["id"],
        "status": row["status"],
        "reason": row["reason"],
        "created_by": row["created_by"],
        "created_at": row["created_at"],
        "applied_at": row["applied_at"],
        "reverts_batch_id": row["reverts_batch_id"],
        "reverted_by_batch_id": row["reverted_by_batch_id"],
        "correction_types": row["correction_types"],
        "correction_count": row["corrections"],
        "submissions_affected": row["submissions_affected"],
        "pass_to_fail": row["pass_to_fail"],
        "fail_to_pass": row["fail_to_pass"],
        "interventions_opened": row["interventions_opened"],
        "interventions_withdrawn": row["interventions_withdrawn"],
        "remedial_completed": row["remedial_completed"],
        "figures_at": row["figures_at"],
        "waiting_for": row["waiting_for"],
        "next_actions": row["next_actions"],
    }


def batch_id_argument(fn):
    return click.argument("batch_id", type=click.UUID)(fn)


@batch_group.command("list")
@click.option("--status", default=None, help="only batches in this status (the database lists the valid ones)")
@with_context
def batch_list(c: Context, status):
    """The action center: batches grouped by status, with what each waits for.

    The figures (affected submissions, how many flip pass<->fail, the
    interventions opened/withdrawn and remedial work completed) are the ones
    stored on each batch when it was last written; nothing is recomputed.
    """
    try:
        with c.acting() as conn:
            rows = api.action_center(conn, status)
    except psycopg.Error as exc:
        if exc.diag.sqlstate == "SL422" and (exc.diag.message_primary or "").startswith("status:"):
            raise click.BadParameter(exc.diag.message_primary.removeprefix("status: "), param_hint="--status") from None
        raise
    c.emit([listed_batch(r) for r in rows], lambda: print_action_center(rows), rows=[listed_batch(r) for r in rows])


@batch_group.command("show")
@batch_id_argument
@with_context
def batch_show(c: Context, batch_id):
    """A batch: payload, who/when/why, counts and its timeline."""
    with c.acting() as conn:
        doc = api.get_correction_batch(conn, batch_id)
    c.emit(batch_document(doc), lambda: print_batch(doc), rows=doc["corrections"], columns=CORRECTION_COLUMNS)


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
@batch_id_argument
@click.option(
    "--changes",
    "changes_file",
    type=click.Path(dir_okay=False, writable=True, allow_dash=True),
    help="write the per-submission changes as CSV to this file (- for stdout)",
)
@with_context
def batch_preview(c: Context, batch_id, changes_file):
    """Dry run: who will pass, who will fail, before anything is applied.

    For an applied batch, the dry run of reverting it. The histogram bins
    scores so that each pass mark is a bin edge (under --json: the
    "histogram" key, added to the database's preview document). --csv,
    --tsv and --nl print the per-submission changes.
    """
    with c.acting() as conn:
        action, doc, rows = _dry_run(conn, batch_id)
        hist = _histogram(conn, batch_id, rows)
    if changes_file:
        with open_output(changes_file, newline="") as fh:
            fh.write(delimited(rows, CHANGE_COLUMNS, ",", c.headers))
        if changes_file == "-":
            return

    def human():
        if action == "revert":
            click.echo(f"batch {batch_id} is applied: this is what reverting it would do.")
        print_preview(doc, hist, verb="rescored")

    c.emit(doc | {"previewOf": action, "histogram": hist}, human, rows=rows, columns=CHANGE_COLUMNS)
    if changes_file and not c.for_program:
        click.echo(f"per-submission changes written to {changes_file}")


@batch_group.command("apply")
@batch_id_argument
@click.option(
    "--yes", is_flag=True, help="apply without showing the preview and asking (needed when not at a terminal)"
)
@with_context
def batch_apply(c: Context, batch_id, yes):
    """Apply a batch: rescore every affected submission, one history row each.

    When apply is what the batch may do next, shows the preview and asks
    first, unless --yes; without a terminal to ask (a script, a pipe) it
    refuses (exit 2) unless --yes. --json does not imply --yes.
    """
    if not yes:
        with c.acting() as conn:
            doc = api.preview_correction_batch(conn, batch_id) if "apply" in api.next_actions(conn, batch_id) else None
            hist = _histogram(conn, batch_id, api.preview_correction_batch_changes(conn, batch_id)) if doc else None
        if doc is not None:
            c.confirm("apply this batch?", yes, before=lambda: print_preview(doc, hist, verb="rescored"))
    with c.acting() as conn:
        result = api.apply_correction_batch(conn, batch_id)

    def human():
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

    c.emit(result, human)


@batch_group.command("revert")
@batch_id_argument
@click.option("--reason", required=True, help="why the batch is reverted")
@click.option("--yes", is_flag=True, help="revert without showing the preview and asking")
@with_context
def batch_revert(c: Context, batch_id, reason, yes):
    """Revert an applied batch with a compensating batch (nothing is deleted).

    Shows the revert preview and asks first (unless --yes), like apply.
    """
    if not yes:
        with c.acting() as conn:
            revertible = "revert" in api.next_actions(conn, batch_id)
            doc = api.preview_revert(conn, batch_id) if revertible else None
            hist = _histogram(conn, batch_id, api.preview_revert_changes(conn, batch_id)) if revertible else None
        if doc is not None:
            c.confirm("revert this batch?", yes, before=lambda: print_preview(doc, hist, verb="rescored"))
    with c.acting() as conn:
        compensating = api.revert_correction_batch(conn, batch_id, reason)
        doc = api.get_correction_batch(conn, compensating)
    r = doc["apply_result"]
    c.emit(
        r | {"reverted_batch_id": batch_id},
        lambda: click.echo(
            f"batch {batch_id} reverted by batch {compensating}: {r['submissions_rescored']} submissions rescored, "
            f"{r['scores_changed']} scores changed"
        ),
    )


def _transition_command(action: str, summary: str, note: click.Option | None = None) -> None:
    """`batch ACTION ID [--note]`: one move of the state machine, which the database checks."""

    @batch_group.command(action, help=summary)
    @batch_id_argument
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
@batch_id_argument
@click.option("--yes", is_flag=True, help="discard without asking")
@with_context
def batch_discard(c: Context, batch_id, yes):
    """Discard a batch that was never applied (final: it can never be applied)."""
    if not yes:
        with c.acting() as conn:
            doc = api.get_correction_batch(conn, batch_id)
        c.confirm(
            "discard this batch? it can never be applied afterwards",
            yes,
            before=lambda: click.echo(
                f"batch {batch_id} [{doc['status']}]: {doc['reason']} ({len(doc['corrections'])} correction(s))"
            ),
        )
    with c.acting() as conn:
        result = api.batch_action(conn, "discard", batch_id)
    c.emit(result, lambda: click.echo(f"batch {batch_id}: {result['previous_status']} -> {result['status']}"))


@batch_group.command("edit")
@batch_id_argument
@click.option("--reason", default=None, help="the new reason (kept with the batch)")
@correction_options
@with_context
def batch_edit(c: Context, batch_id, reason, file_, drop_item, replace_key, mark_correct, drop_tag, mark_correct_tag):
    """Edit a batch not yet applied; a submitted or approved batch goes back to draft.

    New corrections (--file and the shorthand options together) replace the batch's corrections.
    """
    corrections = corrections_given(file_, drop_item, replace_key, mark_correct, drop_tag, mark_correct_tag)
    if not corrections and reason is None:
        raise click.UsageError("nothing to change: give --reason and/or new corrections")
    with c.acting() as conn:
        result = api.update_correction_batch(conn, batch_id, reason, corrections or None)
    c.emit(result, lambda: click.echo(f"batch {batch_id} edited: {result['previous_status']} -> {result['status']}"))
