"""CLI commands of the score layer: `import results`, `scores ...`.

Registered on the main group by `register(main, import_group)` (called at
the end of cli.py); the helpers come from cli.py at that point, so importing
this module never imports cli.py first.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

import click
import psycopg

from . import scores
from .output import emit_json, table

IMPORT_CHUNK = 5000


def _relabel(message: str, line_numbers: list[int]) -> str:
    """[3].evaluator: ... -> line 42: evaluator: ..., for the operator."""

    def line(match: re.Match) -> str:
        index = int(match.group(1))
        number = line_numbers[index] if index < len(line_numbers) else index
        return f"line {number}" + (": " if match.group(2) == "." else ":")

    return re.sub(r"\[(\d+)\]([.:])", line, message)


def register(main: click.Group, import_group: click.Group) -> None:
    from .cli import Context, handle_errors, one_line

    pass_ctx = click.make_pass_decorator(Context)

    # ------------------------------------------------------------ import

    @import_group.command("results")
    @click.argument("file", type=click.File("r"))
    @click.option("--batch-size", default=IMPORT_CHUNK, show_default=True, type=click.IntRange(1, 100_000))
    @click.option("--silent", is_flag=True, help="no progress bar")
    @pass_ctx
    @handle_errors
    def import_results(c: Context, file, batch_size, silent):
        """Record evaluation results from JSON lines (FILE or - for stdin), with their scores.

        One document per line: {"evaluator": NAME, "submission_id": ..., "payload": {...},
        "error": null, "result_id": null}. Each chunk is one call of
        record_evaluation_results, committed: all of it or none of it. A score
        that cannot be written never stops the import; it is listed by
        `scoreledger scores failures`.
        """
        total_bytes = os.fstat(file.fileno()).st_size if file is not sys.stdin and file.seekable() else None
        show = not (silent or c.as_json) and total_bytes and sys.stderr.isatty()
        recorded = seen = 0
        chunk: list[dict] = []
        lines: list[int] = []

        def flush():
            nonlocal recorded, chunk, lines
            if not chunk:
                return
            try:
                with c.acting() as conn:
                    recorded += scores.record_evaluation_results(conn, chunk)
            except psycopg.Error as exc:
                done = f" ({recorded} recorded before it, committed)" if recorded else ""
                raise click.ClickException(_relabel(one_line(exc), lines) + done) from None
            chunk, lines = [], []

        bar_cm = click.progressbar(length=total_bytes, label="recording", file=sys.stderr) if show else None
        bar = bar_cm.__enter__() if bar_cm else None
        try:
            for number, raw in enumerate(file, start=1):
                if bar:
                    bar.update(len(raw.encode()))
                if not raw.strip():
                    continue
                try:
                    chunk.append(json.loads(raw))
                except json.JSONDecodeError as exc:
                    flush()
                    raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
                lines.append(number)
                seen += 1
                if len(chunk) >= batch_size:
                    flush()
            flush()
        finally:
            if bar_cm:
                bar_cm.__exit__(None, None, None)
        with c.acting() as conn:
            open_failures = len(scores.failures(conn))
        result = {"documents": seen, "recorded": recorded, "open_score_failures": open_failures}
        if c.as_json:
            emit_json(result)
            return
        click.echo(f"{seen} results read: {recorded} recorded, with their scores")
        if open_failures:
            click.echo(f"{open_failures} artefact(s) have unwritten scores: scoreledger scores failures", err=True)

    # ------------------------------------------------------------ scores

    @main.group("scores")
    def scores_group():
        """Typed scores from evaluation results and annotations."""

    @scores_group.command("backfill")
    @click.option("--batch-size", default=scores.DEFAULT_BATCH, show_default=True, type=click.IntRange(1, 100_000))
    @click.option("--force", is_flag=True, help="rewrite the scores of every artefact, not only those lacking them")
    @click.option("--silent", is_flag=True, help="no progress bar")
    @pass_ctx
    @handle_errors
    def scores_backfill(c: Context, batch_size, force, silent):
        """Write the scores of every result and annotation that lacks them.

        For the tenant given (--tenant), else for every tenant. Chunks in id
        order, each committed: safe to interrupt and run again (it resumes),
        and to run twice at once. An artefact whose scores cannot be written
        is recorded (scores failures) and skipped.
        """
        show = not (silent or c.as_json) and sys.stderr.isatty()
        state: dict = {"bar": None, "done": 0, "start": time.perf_counter()}

        def rate_eta(_item) -> str:
            elapsed = time.perf_counter() - state["start"]
            return f"{state['done'] / elapsed:,.0f} artefacts/s" if elapsed > 0 and state["done"] else ""

        def on_start(reports):
            total = sum(r.pending for r in reports)
            for r in reports if not c.as_json else []:
                for kind, after in r.resumed_after.items():
                    click.echo(f"{r.tenant}: resuming the forced {kind} backfill after {after}", err=True)
            if show and total:
                state["bar_cm"] = click.progressbar(
                    length=total,
                    label="backfilling scores",
                    file=sys.stderr,
                    show_eta=True,
                    show_percent=True,
                    item_show_func=rate_eta,
                )
                state["bar"] = state["bar_cm"].__enter__()
            state["start"] = time.perf_counter()

        def on_chunk(report, artefacts):
            state["done"] += artefacts
            if state["bar"] is not None:
                # The pending count is a snapshot; concurrent writers change it.
                state["bar"].update(min(artefacts, max(0, state["bar"].length - state["bar"].pos)), "")

        try:
            reports = scores.backfill(c.dsn, c.tenant, batch_size, force, on_start=on_start, on_chunk=on_chunk)
        finally:
            if state.get("bar_cm"):
                state["bar_cm"].__exit__(None, None, None)
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
    @pass_ctx
    @handle_errors
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
                    "value": r["value_string"] if r["value_string"] is not None else r["value_numeric"],
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
            table(
                [
                    {
                        "name": a["name"],
                        "automated": a["automated_value"],
                        "human": a["human_value"],
                        "agree": {True: "yes", False: "NO", None: ""}[a["agree"]],
                    }
                    for a in agreement
                ]
            )
        if skipped:
            click.echo()
            click.echo("skipped keys:")
            table(skipped, ["name", "json_type", "source_kind", "source_id", "warning"])

    @scores_group.command("failures")
    @click.option("--all", "include_resolved", is_flag=True, help="include resolved failures")
    @pass_ctx
    @handle_errors
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
    @pass_ctx
    @handle_errors
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
