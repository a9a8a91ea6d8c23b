"""Commands of the score layer: `import results` and `scores ...`."""

from __future__ import annotations

import contextlib
import sys
import time

import click

from . import scores
from .context import Context, with_context
from .importer import IMPORT_RULE, import_lines, import_report, jsonl_options
from .render import concordance_table, emit_json, progress, score_value, table

IMPORT_CHUNK = 5000


RESULTS_HELP = f"""Record evaluation results from JSON lines (FILE or - for stdin), with their scores.

One document per line (shown here over several; docs/documents.md):

\b
{{"evaluator": "tone-judge",
 "submission_id": "0b6a0a8e-51f4-4f0c-9d0a-1f2b3c4d5e30",
 "payload": {{"tone": "ok", "correct": true, "confidence": 0.92}}}}

The evaluator must be registered first (scoreledger evaluator register).
Optional: error (a string: the evaluator failed; no scores), result_id.
Without result_id the id is derived from (tenant, evaluator, submission,
payload, error), so running an import again records nothing twice; a
result_id names a result, and naming an existing one overwrites it. A
score that cannot be written never stops the import; it is listed by
`scoreledger scores failures`.

{IMPORT_RULE}
"""


@click.command("results", help=RESULTS_HELP)
@jsonl_options(IMPORT_CHUNK)
@with_context
def import_results(c: Context, file, batch_size, skip, rejects, silent):
    done = import_lines(
        c,
        file,
        scores.record_evaluation_results,
        scores.result_problems,
        batch_size,
        silent,
        skip=skip,
        rejects=rejects,
    )
    with c.acting() as conn:
        open_failures = len(scores.failures(conn))
    if c.as_json:
        emit_json(done.as_dict() | {"open_score_failures": open_failures})
        return
    import_report("results", done, rejects)
    if open_failures:
        click.echo(f"{open_failures} artefact(s) have unwritten scores: scoreledger scores failures", err=True)


@click.group("scores")
def scores_group():
    """Typed scores from evaluation results and annotations."""


@scores_group.command("backfill")
@click.option("--batch-size", default=scores.DEFAULT_BATCH, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--force", is_flag=True, help="rewrite the scores of every artefact, not only those lacking them")
@click.option("--silent", is_flag=True, help="no progress bar")
@with_context
def scores_backfill(c: Context, batch_size, force, silent):
    """Write the scores of every result and annotation that lacks them.

    For the tenant given (--tenant), else for every tenant. Chunks in id
    order, each committed: safe to interrupt and run again (it resumes),
    and to run twice at once. An artefact whose scores cannot be written
    is recorded (scores failures) and skipped.
    """
    show = not (silent or c.as_json) and sys.stderr.isatty()
    tally = {"done": 0, "start": time.perf_counter()}
    bars = contextlib.ExitStack()

    def rate(_item) -> str:
        elapsed = time.perf_counter() - tally["start"]
        return f"{tally['done'] / elapsed:,.0f} artefacts/s" if elapsed > 0 and tally["done"] else ""

    def on_start(reports):
        for r in reports if not c.as_json else []:
            for kind, after in r.resumed_after.items():
                click.echo(f"{r.tenant}: resuming the forced {kind} backfill after {after}", err=True)
        total = sum(r.pending for r in reports)
        options = {"show_eta": True, "show_percent": True, "item_show_func": rate}
        tally["bar"] = bars.enter_context(progress(total, "backfilling scores", show, **options))
        tally["start"] = time.perf_counter()

    def on_chunk(report, artefacts):
        tally["done"] += artefacts
        if bar := tally.get("bar"):
            # The pending count is a snapshot; concurrent writers change it.
            bar.update(min(artefacts, max(0, bar.length - bar.pos)), "")

    with bars:
        reports = scores.backfill(c.dsn, c.tenant, batch_size, force, on_start=on_start, on_chunk=on_chunk)
    if c.as_json:
        emit_json({"force": force, "tenants": [r.as_dict() for r in reports]})
        return
    table(
        [
            {
                "tenant": r.tenant,
                "artefacts": r.artefacts,
                "scores_written": r.scores_written,
                "failed": r.failed,
                "chunks": r.chunks,
                "seconds": f"{r.seconds:.1f}",
                "per_second": f"{r.rate:,.0f}",
            }
            for r in reports
        ],
        empty="no tenants",
    )
    total = sum(r.artefacts for r in reports)
    failed = sum(r.failed for r in reports)
    click.echo(
        f"backfill done: {total} artefact(s) written"
        + (f", {failed} failed (scoreledger scores failures)" if failed else ", none failed")
    )


@scores_group.command("list")
@click.argument("submission_id")
@click.option("--authoritative", is_flag=True, help="only the authoritative view (automated + authoritative human)")
@with_context
def scores_list(c: Context, submission_id, authoritative):
    """A submission's scores, automated and human, and any skipped keys."""
    with c.acting() as conn:
        if not scores.submission_exists(conn, submission_id):
            raise click.ClickException(f"SL404: submission {submission_id} does not exist")
        rows = scores.submission_scores(conn, submission_id, authoritative)
        agreement = scores.concordance(conn, submission_id)
        skipped = scores.warnings(conn, submission_id)
    if c.as_json:
        emit_json({"scores": rows, "concordance": agreement, "warnings": skipped})
        return
    table(
        [
            {
                "name": r["name"],
                "type": r["data_type"],
                "value": score_value(r),
                "source": r["source"]
                + (" (authoritative)" if r["is_authoritative"] else "")
                + (f" by {r['reviewer_id']}" if r["reviewer_id"] else ""),
                "from": r["evaluation_result_id"] or r["annotation_id"],
            }
            for r in rows
        ],
        empty="no scores",
    )
    if agreement:
        click.echo()
        click.echo("automated vs authoritative human:")
        concordance_table(agreement)
    if skipped:
        click.echo()
        click.echo("skipped keys:")
        table(skipped, ["name", "json_type", "source_kind", "source_id", "warning"])


@scores_group.command("failures")
@click.option("--all", "include_resolved", is_flag=True, help="include resolved failures")
@with_context
def scores_failures(c: Context, include_resolved):
    """Score writes that failed and are not yet repaired (scores backfill repairs them)."""
    with c.acting() as conn:
        rows = scores.failures(conn, include_resolved)
    if c.as_json:
        emit_json(rows)
        return
    table(
        rows,
        ["source_kind", "source_id", "submission_id", "attempts", "occurred_at", "resolved_at", "error"],
        empty="no unresolved score write failures" if not include_resolved else "no score write failures",
    )


@scores_group.command("concordance")
@click.argument("submission_id", required=False)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1_000_000))
@with_context
def scores_concordance(c: Context, submission_id, limit):
    """Automated value beside the authoritative human value, per submission and name.

    Without SUBMISSION_ID: the agreement rate per score name, then the
    first --limit rows.
    """
    with c.acting() as conn:
        rows = scores.concordance(conn, submission_id, limit)
        summary = None if submission_id else scores.concordance_summary(conn)
    if c.as_json:
        emit_json({"summary": summary, "rows": rows} if summary is not None else rows)
        return
    if summary is not None:
        table(summary, empty="no scores to compare")
        click.echo()
    table(
        rows,
        [
            "submission_id",
            "name",
            "automated_value",
            "human_value",
            "agree",
            "evaluation_result_id",
            "annotation_id",
        ],
        empty="no scores to compare",
    )
