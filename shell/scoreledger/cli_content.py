"""Commands over content: importing evaluations, assignments and submissions; a submission's history."""

from __future__ import annotations

import click
import psycopg

from . import api
from .context import Context, failure, read_documents, with_context
from .importer import IMPORT_RULE, import_lines, import_report, jsonl_options
from .render import print_submission_history

IMPORT_CHUNK = 5000


def _each_document(c: Context, file: str, write) -> tuple[list, list[str]]:
    """FILE's documents and the id `write` returns for each, each document in its own transaction.

    One writing call per transaction: a second call in one transaction would be refused
    (SL409) whenever another writer of the tenant is busy. Saving a document again is a
    no-op, so after a refusal the file can be fixed and imported again whole.
    """
    docs = read_documents(file)
    ids: list[str] = []
    for n, doc in enumerate(docs):
        try:
            with c.acting() as conn:
                ids.append(write(conn, doc))
        except psycopg.Error as exc:
            if n == 0:
                raise
            shown = failure(exc)
            shown.message = (
                f"document {n} (counting from 0): {shown.message}; the {n} before it were saved "
                "(importing them again is a no-op)"
            )
            raise shown from None
    return docs, ids


EVALUATION_HELP = """Publish an evaluation version (FILE: one document, or an array of them; - for stdin).

Importing the same document again is a no-op; other content under an
existing version id is refused (SL423). Format (docs/documents.md):

\b
{"evaluation_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e01",
 "evaluation_version_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e02",
 "evaluation_title": "Final Safety Exam", "version_no": 1, "pass_mark": 0.7,
 "items": [{"question_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e03",
            "question_version_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e04",
            "kind": "single_choice", "prompt": "Which?",
            "options": ["A", "B", "C"], "correct": ["B"], "points": 1}]}

kind: single_choice | multiple_choice; scoring: exact (default) | partial
(multiple_choice only); pass_mark: a fraction of the maximum score.
"""

ASSIGNMENT_HELP = """Create or update assignments (FILE: one document, or an array; - for stdin).

Format (docs/documents.md):

\b
{"assignment_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e10", "title": "Safety 2026",
 "evaluation_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e01",
 "programme": "Onboarding", "attempt_policy": "highest"}

attempt_policy: highest | latest | first; optional attempt rules:
max_attempts, retake_cooldown, retake_after_pass, intervention_after_fails,
remedial_assignment_id.
"""

SUBMISSIONS_HELP = f"""Record submissions from JSON lines (FILE or - for stdin), in committed chunks.

One document per line (shown here over several; docs/documents.md):

\b
{{"evaluation_version_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e02",
 "user_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e20",
 "submitted_at": "2026-11-01T10:00:00Z",
 "answers": [{{"question_version_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e04",
              "selected": ["B"]}}]}}

Optional: submission_id and assignment_id. Without submission_id
the id is derived from (tenant, version, user, submitted_at), so running an
import again records nothing twice: the report says how many lines were
recorded and how many were already recorded.

{IMPORT_RULE}
"""


@click.command("evaluation", help=EVALUATION_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@with_context
def import_evaluation(c: Context, file):
    docs, ids = _each_document(c, file, api.import_evaluation_version)

    def human():
        for d, i in zip(docs, ids, strict=True):
            title = d.get("evaluation_title") if isinstance(d, dict) else None
            click.echo(f"evaluation version {i} ({title}, version {d.get('version_no')})")

    c.emit({"evaluation_version_ids": ids}, human)


@click.command("assignment", help=ASSIGNMENT_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@with_context
def import_assignment(c: Context, file):
    _, ids = _each_document(c, file, api.upsert_assignment)
    c.emit({"assignment_ids": ids}, lambda: click.echo(f"{len(ids)} assignment(s) saved"))


@click.command("submissions", help=SUBMISSIONS_HELP)
@jsonl_options(IMPORT_CHUNK)
@with_context
def import_submissions(c: Context, file, batch_size, skip, rejects, silent):
    done = import_lines(
        c, file, api.record_submissions, api.submission_problems, batch_size, silent, skip=skip, rejects=rejects
    )
    c.emit(done.as_dict(), lambda: import_report("submissions", done, rejects))


@click.group("submission")
def submission_group():
    """Submissions."""


@submission_group.command("history")
@click.argument("submission_id", type=click.UUID)
@click.option("--changed-only", is_flag=True, help="hide rows whose score (and max score) did not change")
@with_context
def submission_history(c: Context, submission_id, changed_only):
    """Every score the submission has had: who (the batch's applier), which batch, and why.

    The first row is the scoring at recording (no batch, no actor).
    """
    with c.acting() as conn:
        rows = api.submission_history(conn, submission_id)
        current = api.submission(conn, submission_id)
    if current is None:
        raise click.ClickException(f"SL404: submission {submission_id} does not exist")
    if changed_only:
        rows = [
            r
            for i, r in enumerate(rows)
            if i == 0 or (r["score"], r["max_score"]) != (rows[i - 1]["score"], rows[i - 1]["max_score"])
        ]
    c.emit(
        {"submission": current, "history": rows},
        lambda: print_submission_history(submission_id, current, rows),
        rows=rows,
    )
