"""Commands of the score layer: `import results` and `scores ...`."""

from __future__ import annotations

import contextlib
import sys
import time

import click

from . import scores
from .context import Context, with_context
from .importer import IMPORT_RULE, import_lines, import_report, jsonl_options
from .render import concordance_table, progress, score_value, table

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

    def human():
        import_report("results", done, rejects)
        if open_failures:
            click.echo(f"{open_failures} artefact(s) have unwritten scores: scoreledger scores failures", err=True)

    c.emit(done.as_dict() | {"open_score_failures": open_failures}, human)


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
    show = not (silent or c.for_program) and sys.stderr.isatty()
    tally = {"done": 0, "start": time.perf_counter()}
    bars = contextlib.ExitStack()

    def rate(_item) -> str:
        elapsed = time.perf_counter() - tally["start"]
        return f"{tally['done'] / elapsed:,.0f} artefacts/s" if elapsed > 0 and tally["done"] else ""

    def on_start(reports):
        for r in reports if not c.for_program else []:
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
    summary = [
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
    ]

    def human():
        table(summary, empty="no tenants", headers=c.headers)
        total = sum(r.artefacts for r in reports)
        failed = sum(r.failed for r in reports)
        click.echo(
            f"backfill done: {total} artefact(s) written"
            + (f", {failed} failed (scoreledger scores failures)" if failed else ", none failed")
        )

    tenants = [r.as_dict() for r in reports]
    c.emit({"force": force, "tenants": tenants}, human, rows=tenants)


@scores_group.command("list")
@click.argument("submission_id", type=click.UUID)
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

    def human():
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
            headers=c.headers,
        )
        if agreement:
            click.echo()
            click.echo("automated vs authoritative human:")
            concordance_table(agreement)
        if skipped:
            click.echo()
            click.echo("skipped keys:")
            table(skipped, ["name", "json_type", "source_kind", "source_id", "warning"], headers=c.headers)

    c.emit({"scores": rows, "concordance": agreement, "warnings": skipped}, human, rows=rows)


@scores_group.command("failures")
@click.option("--all", "include_resolved", is_flag=True, help="include resolved failures")
@with_context
def scores_failures(c: Context, include_resolved):
    """Score writes that failed and are not yet repaired (scores backfill repairs them)."""
    with c.acting() as conn:
        rows = scores.failures(conn, include_resolved)
    c.rows(
        rows,
        ["source_kind", "source_id", "submission_id", "attempts", "occurred_at", "resolved_at", "error"],
        empty="no unresolved score write failures" if not include_resolved else "no score write failures",
        limits={"error": 60},
    )


@scores_group.command("concordance")
@click.argument("submission_id", required=False, type=click.UUID)
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
    columns = [
        "submission_id",
        "name",
        "automated_value",
        "human_value",
        "agree",
        "evaluation_result_id",
        "annotation_id",
    ]

    def human():
        if summary is not None:
            table(summary, empty="no scores to compare", headers=c.headers)
            click.echo()
        table(rows, columns, empty="no scores to compare", headers=c.headers)

    c.emit({"summary": summary, "rows": rows} if summary is not None else rows, human, rows=rows, columns=columns)


@scores_group.command("agreement")
@click.argument("name")
@click.option(
    "--level",
    help="nominal, ordinal, interval or ratio (default: nominal for choices and booleans, interval for numbers)",
)
@click.option("--queue", "queue_id", type=click.UUID, help="only the annotations of this review queue (its id)")
@click.option("--include-automated", is_flag=True, help="each evaluator is a rater too")
@with_context
def scores_agreement(c: Context, name, level, queue_id, include_automated):
    """Agreement between raters on score NAME: Krippendorff's alpha and Cohen's kappa per pair.

    Units are submissions; a reviewer's value is from their latest submitted
    annotation, an evaluator's (--include-automated) from its latest result.
    The table is the pairwise matrix: kappa, raw agreement and the number of
    units both raters rated.
    """
    with c.acting() as conn:
        doc = scores.agreement(conn, name, level, str(queue_id) if queue_id else None, include_automated)

    def human():
        click.echo(
            f"{doc['name']} at {doc['level']} level: {doc['units']} units ({doc['pairable_units']} with two or more"
            f" values), {doc['raters']} raters, {doc['pairable_values']} pairable values"
        )
        click.echo(
            f"Krippendorff's alpha {figure(doc['alpha'])}, observed agreement {figure(doc['observed_agreement'])}"
        )
        click.echo()
        c.rows(agreement_matrix(doc), empty="no raters")

    c.emit(doc, human)


def figure(value) -> str:
    """A figure for a person: three places, or why there is none."""
    return "undefined" if value is None else f"{float(value):.3f}"


def agreement_matrix(doc: dict) -> list[dict]:
    """Raters x raters: each cell 'kappa / agreement (units both rated)' of that pair; blank when they share no unit."""
    raters = doc["rater_list"]
    pairs = {}
    for p in doc["pairs"]:
        cell = f"{figure(p['kappa'])} / {float(p['agreement']):.0%} ({p['units']})"
        pairs[(p["rater_a"], p["rater_b"])] = pairs[(p["rater_b"], p["rater_a"])] = cell
    rows = []
    for i, r in enumerate(raters, 1):
        row = {
            "#": i,
            "rater": r["evaluator"] or r["rater"],
            "source": r["source"],
            "units": r["units"],
        }
        for j, other in enumerate(raters, 1):
            row[str(j)] = "-" if i == j else pairs.get((r["rater"], other["rater"]), "")
        rows.append(row)
    return rows
