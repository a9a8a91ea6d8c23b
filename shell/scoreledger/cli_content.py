"""Commands over content: importing evaluations, assignments and submissions; a submission's history."""

from __future__ import annotations

import click

from . import api
from .context import Context, handle_errors, pass_ctx, read_documents
from .importer import import_lines
from .render import emit_json, print_submission_history

IMPORT_CHUNK = 1000


@click.command("evaluation")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
@handle_errors
def import_evaluation(c: Context, file):
    """Publish an evaluation version (FILE: one document, or an array of them)."""
    docs = read_documents(file)
    with c.acting() as conn:
        ids = [api.import_evaluation_version(conn, d) for d in docs]
    if c.as_json:
        emit_json({"evaluation_version_ids": ids})
    else:
        for d, i in zip(docs, ids, strict=True):
            title = d.get("evaluation_title") if isinstance(d, dict) else None
            click.echo(f"evaluation version {i} ({title}, version {d.get('version_no')})")


@click.command("assignment")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
@handle_errors
def import_assignment(c: Context, file):
    """Create or update assignments (FILE: one document, or an array)."""
    docs = read_documents(file)
    with c.acting() as conn:
        ids = [api.upsert_assignment(conn, d) for d in docs]
    if c.as_json:
        emit_json({"assignment_ids": ids})
    else:
        click.echo(f"{len(ids)} assignment(s) saved")


@click.command("submissions")
@click.argument("file", type=click.File("r"))
@click.option("--batch-size", default=IMPORT_CHUNK, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--silent", is_flag=True, help="no progress bar")
@pass_ctx
@handle_errors
def import_submissions(c: Context, file, batch_size, silent):
    """Record submissions from JSON lines (FILE or - for stdin), in committed chunks.

    Each chunk is one call of record_submissions: all of it or none of it.
    Re-running an import is safe: identical submissions are no-ops.
    """

    def record(chunk: list[dict]) -> int:
        with c.acting() as conn:
            return api.record_submissions(conn, chunk)

    done = import_lines(file, record, batch_size, quiet=silent or c.as_json)
    already = done.documents - done.recorded
    if c.as_json:
        emit_json({"documents": done.documents, "recorded": done.recorded, "already_recorded": already})
    else:
        click.echo(f"{done.documents} submissions read: {done.recorded} recorded, {already} already recorded")


@click.group("submission")
def submission_group():
    """Submissions."""


@submission_group.command("history")
@click.argument("submission_id")
@pass_ctx
@handle_errors
def submission_history(c: Context, submission_id):
    """Every score the submission has had, with the reason for each change."""
    with c.acting() as conn:
        rows = api.submission_history(conn, submission_id)
        current = api.submission(conn, submission_id)
    if c.as_json:
        emit_json({"submission": current, "history": rows})
    else:
        print_submission_history(submission_id, current, rows)
