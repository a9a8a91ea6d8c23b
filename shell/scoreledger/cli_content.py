"""Commands over content: importing evaluations, assignments and submissions; a submission's history."""

from __future__ import annotations

import click

from . import api
from .context import Context, read_documents, with_context
from .importer import import_lines, jsonl_options
from .render import print_submission_history

IMPORT_CHUNK = 1000


def _each_document(c: Context, file: str, write) -> tuple[list, list[str]]:
    """FILE's documents and the id `write` returns for each, in one transaction."""
    docs = read_documents(file)
    with c.acting() as conn:
        return docs, [write(conn, d) for d in docs]


@click.command("evaluation")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@with_context
def import_evaluation(c: Context, file):
    """Publish an evaluation version (FILE, or - for stdin: one document, or an array of them)."""
    docs, ids = _each_document(c, file, api.import_evaluation_version)

    def human():
        for d, i in zip(docs, ids, strict=True):
            title = d.get("evaluation_title") if isinstance(d, dict) else None
            click.echo(f"evaluation version {i} ({title}, version {d.get('version_no')})")

    c.emit({"evaluation_version_ids": ids}, human)


@click.command("assignment")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@with_context
def import_assignment(c: Context, file):
    """Create or update assignments (FILE, or - for stdin: one document, or an array)."""
    _, ids = _each_document(c, file, api.upsert_assignment)
    c.emit({"assignment_ids": ids}, lambda: click.echo(f"{len(ids)} assignment(s) saved"))


@click.command("submissions")
@jsonl_options(IMPORT_CHUNK)
@with_context
def import_submissions(c: Context, file, batch_size, silent):
    """Record submissions from JSON lines (FILE or - for stdin), in committed chunks.

    Each chunk is one call of record_submissions: all of it or none of it.
    Re-running an import is safe: identical submissions are no-ops.
    """
    done = import_lines(c, file, api.record_submissions, batch_size, silent)
    already = done.documents - done.recorded
    c.emit(
        {"documents": done.documents, "recorded": done.recorded, "already_recorded": already},
        lambda: click.echo(f"{done.documents} submissions read: {done.recorded} recorded, {already} already recorded"),
    )


@click.group("submission")
def submission_group():
    """Submissions."""


@submission_group.command("history")
@click.argument("submission_id", type=click.UUID)
@with_context
def submission_history(c: Context, submission_id):
    """Every score the submission has had, with the reason for each change."""
    with c.acting() as conn:
        rows = api.submission_history(conn, submission_id)
        current = api.submission(conn, submission_id)
    c.emit(
        {"submission": current, "history": rows},
        lambda: print_submission_history(submission_id, current, rows),
        rows=rows,
    )
