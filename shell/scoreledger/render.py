"""Rendering: readable tables and reports for people, one JSON document for scripts.

Every printing helper of the CLI and the demo lives here, under a public
name; it imports nothing of the commands.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import sys
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import click


def _plain(value):
    if isinstance(value, decimal.Decimal):
        normalized = value.normalize()
        # Decimal('1E+1') would print as 1E+1; keep it as 10.
        return int(normalized) if normalized == normalized.to_integral() else float(normalized)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def emit_json(document) -> None:
    click.echo(json.dumps(_plain(document), indent=2, ensure_ascii=False))


def cell(value) -> str:
    """One value as text: empty for null, true/false for booleans, a list comma-joined, an object as JSON."""
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


# Line breaks and other control characters would break a table's rows apart.
_CONTROL = {c: " " for c in range(32)} | {0x7F: " ", 0x0A: "⏎", 0x0D: None, 0x2028: "⏎", 0x2029: "⏎"}


def char_width(char: str) -> int:
    """Columns a character takes in a terminal: 2 for East Asian wide/fullwidth (CJK, most emoji), 0 for marks."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def display_width(text: str) -> int:
    return sum(char_width(c) for c in text)


def one_line_text(text: str) -> str:
    """Text safe for one table row: newlines shown as ⏎, other control characters as spaces."""
    return text.translate(_CONTROL)


def truncate(text: str, width: int) -> str:
    """At most `width` terminal columns, ending in … when cut."""
    if display_width(text) <= width:
        return text
    kept, used = [], 0
    for c in text:
        w = char_width(c)
        if used + w > width - 1:
            break
        kept.append(c)
        used += w
    return "".join(kept) + "…"


def pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def table(
    rows: Sequence[Mapping],
    columns: Iterable[str] | None = None,
    empty: str = "(none)",
    headers: bool = True,
    limits: Mapping[str, int] | None = None,
) -> None:
    """Aligned columns for a terminal: cells kept on one line, padded by display width, `limits` cut long ones."""
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    columns = list(columns or rows[0].keys())
    limits = limits or {}
    text_rows = [[truncate(one_line_text(cell(r.get(c))), limits.get(c, 10**9)) for c in columns] for r in rows]
    widths = [max(display_width(c), *(display_width(r[i]) for r in text_rows)) for i, c in enumerate(columns)]
    if headers:
        click.echo("  ".join(pad(c, w) for c, w in zip(columns, widths, strict=True)).rstrip())
        click.echo("  ".join("-" * w for w in widths))
    for r in text_rows:
        click.echo("  ".join(pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip())


def delimited(rows: Sequence[Mapping], columns: Iterable[str] | None, delimiter: str, headers: bool = True) -> str:
    """CSV (or TSV): \n line endings, true/false, empty for null; quoted where the value needs it."""
    rows = list(rows)
    columns = list(columns or (rows[0].keys() if rows else []))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    if headers and columns:
        writer.writerow(columns)
    for r in rows:
        writer.writerow([cell(r.get(c)) for c in columns])
    return out.getvalue()


def json_line(document) -> str:
    """One compact JSON value on one line (newline-delimited JSON)."""
    return json.dumps(_plain(document), ensure_ascii=False, separators=(",", ":"))


def number(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)


@contextmanager
def progress(length: int | None, label: str, show: bool, **options) -> Iterator:
    """A progress bar on stderr when `show` and the length is known; else None."""
    if not (show and length):
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr, **options) as bar:
        yield bar


def heading(text: str) -> None:
    """A section of the demo."""
    click.echo()
    click.secho(f"== {text}", bold=True)


# ------------------------------------------------------------ batches


def print_batch(doc: dict) -> None:
    """`batch show`: who, when, why, what, and the timeline."""
    click.echo(f"batch {doc['id']}  [{doc['status']}]")
    click.echo(f"  why:     {doc['reason']}")
    click.echo(f"  who:     created by {doc['created_by']} at {doc['created_at']}")
    if doc.get("applied_at"):
        click.echo(f"  applied: by {doc.get('applied_by')} at {doc['applied_at']}")
    if doc.get("apply_result"):
        r = doc["apply_result"]
        click.echo(f"  effect:  {r['submissions_rescored']} submissions rescored, {r['scores_changed']} scores changed")
    if doc.get("reverts_batch_id"):
        click.echo(f"  reverts: batch {doc['reverts_batch_id']} (a compensating batch: it undoes that batch)")
    if doc.get("reverted_by_batch_id"):
        click.echo(f"  reverted by: batch {doc['reverted_by_batch_id']}")
    if doc.get("reverts_batch_id"):
        click.echo(f"  undoes the corrections of batch {doc['reverts_batch_id']}:")
    else:
        click.echo("  corrections:")
    for n, corr in enumerate(doc["corrections"]):
        detail = ""
        if corr.get("correct"):
            detail = f" -> key {','.join(corr['correct'])}"
        if corr.get("submission_ids"):
            detail = f" (only {len(corr['submission_ids'])} listed submissions)"
        click.echo(
            f"    [{n}] {corr['type']:<12} item {corr['question_version_id']} of version "
            f"{corr['evaluation_version_id']}{detail}"
        )
    click.echo("  timeline:")
    for e in doc["events"]:
        arrow = f"{e['from'] or 'new'} -> {e['to']}"
        note = f"  ({e['note']})" if e.get("note") else ""
        click.echo(f"    {e['at']}  {arrow:<24} by {e['actor']}{note}")


def histogram_edges(pass_marks: Iterable) -> list[float]:
    """Bin edges: every 10%, plus each pass mark, so that no bin straddles one (a flip across it shows)."""
    edges = {round(n / 10, 6) for n in range(11)} | {round(float(p), 6) for p in pass_marks if p is not None}
    return sorted(e for e in edges if 0 <= e <= 1)


def histogram(series: Mapping[str, Iterable[tuple]], pass_marks: Iterable) -> dict:
    """Counts of score/max_score per bin for each series of (score, max_score[, count]) rows (presentation only).

    A bin holds [from, to) (the last also 1); a pass mark is always an
    edge, and a score exactly at it sits above it, as passing does.
    """
    marks = sorted({round(float(p), 6) for p in pass_marks if p is not None})
    edges = histogram_edges(marks)
    bins = [{"from": lo, "to": hi} | {name: 0 for name in series} for lo, hi in zip(edges, edges[1:], strict=False)]
    for name, rows in series.items():
        for row in rows:
            score, max_score, n = (*row, 1)[:3]
            fraction = float(score) / float(max_score) if max_score else 0.0
            index = next((i for i, b in enumerate(bins) if fraction < b["to"]), len(bins) - 1)
            bins[index][name] += n
    return {"pass_marks": marks, "bins": bins}


def print_histogram(hist: dict, title: str) -> None:
    """Bars per bin, highest first, with a line at each pass mark; two series side by side (before | after)."""
    names = [k for k in (hist["bins"][0] if hist["bins"] else {}) if k not in ("from", "to")]
    peak = max(1, *(b[n] for b in hist["bins"] for n in names))
    click.echo(f"  {title}:")
    for b in reversed(hist["bins"]):
        label = f"{b['from'] * 100:g}-{b['to'] * 100:g}%"
        bars = [("#" * round(20 * b[n] / peak), b[n]) for n in names]
        if len(bars) == 2:
            (left, lc), (right, rc) = bars
            click.echo(f"    {label:>11} {left:>20} {lc:>6} | {rc:<6} {right}")
        else:
            click.echo(f"    {label:>11} {bars[0][1]:>6} {bars[0][0]}")
        if b["from"] in hist["pass_marks"]:
            click.echo(f"    {'-' * 11} pass mark {b['from'] * 100:g}%: at or above it passes {'-' * 11}")


def print_preview(doc: dict, hist: dict | None, verb: str = "rescored") -> None:
    """A dry run's document, per assignment, and (given its histogram) the score distribution before | after."""
    affected = doc["submissionsAffected"]
    click.echo(
        f"{affected} submissions will be {verb}: {doc['scoreUp']} up, {doc['scoreDown']} down, "
        f"{doc['scoreUnchanged']} unchanged; {doc['failToPass']} will then pass, {doc['passToFail']} will then fail."
    )
    for a in doc["assignments"]:
        where = f"‹{a['title']}›" + (f" ({a['programme']})" if a.get("programme") else "")
        parts = []
        if a["failToPass"]:
            parts.append(f"{len(a['failToPass'])} learner(s) will then pass {where}")
        if a["passToFail"]:
            shown = ", ".join(a["passToFail"][:5]) + (" …" if len(a["passToFail"]) > 5 else "")
            parts.append(f"{len(a['passToFail'])} will fail: {shown}")
        if not parts:
            parts.append(f"no learner's outcome changes at {where}")
        click.echo("  " + "; ".join(parts) + f" ({a['unchanged']} unchanged, policy {a['attempt_policy']})")
    print_intervention_effects(doc)
    if hist and affected:
        print_histogram(hist, "score distribution of the affected submissions (before | after)")


def _users(users: list, shown: int = 5) -> str:
    return ", ".join(users[:shown]) + (" …" if len(users) > shown else "")


def print_intervention_effects(doc: dict) -> None:
    """What the batch does to learners' locks (contract section 11): overall, then per assignment.

    The figures are the preview document's (the rule's own count); a preview
    without the key (a database before Phase 5) prints nothing.
    """
    effects = doc.get("interventions")
    if effects is None:
        return
    opened, withdrawn, completed = effects["opened"], effects["withdrawn"], effects["remedialCompleted"]
    if not (opened or withdrawn or completed):
        click.echo("interventions: none opened, none withdrawn, no remedial work completed.")
        return
    click.echo(
        f"interventions: {opened} will open, {withdrawn} will be withdrawn; "
        f"{completed} remedial assignment(s) will be completed."
    )
    for a in doc.get("assignments", []):
        opens, withdraws = a.get("interventionsOpened") or [], a.get("interventionsWithdrawn") or []
        parts = []
        if opens:
            parts.append(f"{len(opens)} locked: {_users(opens)}")
        if withdraws:
            parts.append(f"{len(withdraws)} unlocked: {_users(withdraws)}")
        if parts:
            click.echo(f"  ‹{a['title']}›: " + "; ".join(parts))


def awaited(row: dict) -> str:
    """What a batch waits for, as the database says; when nothing, whether it can still be reverted."""
    if row["waiting_for"]:
        return row["waiting_for"]
    if row.get("reverts_batch_id"):
        return "nothing (compensating batch, final)"
    return "nothing (revertible)" if "revert" in row["next_actions"] else "nothing (final)"


def intervention_figures(row: dict) -> str:
    """A batch's stored intervention effects in one cell: "locks +2/-1, 1 done" (opened, withdrawn,
    remedial work completed); blank when there are none or they were not counted (older batches)."""
    opened, withdrawn, done = (
        row.get(k) or 0 for k in ("interventions_opened", "interventions_withdrawn", "remedial_completed")
    )
    parts = []
    if opened or withdrawn:
        parts.append(f"locks +{opened}/-{withdrawn}")
    if done:
        parts.append(f"{done} done")
    return ", ".join(parts)


def print_action_center(rows: list[dict]) -> None:
    """`batch list`: batches grouped by status and what they wait for, in the order the database gives.

    The rows are those of api.action_center; the figures are the ones stored on each batch.
    """
    if not rows:
        click.echo("no correction batches")
        return
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["status"], awaited(r)), []).append(r)
    for (status, waiting_for), members in groups.items():
        click.secho(f"\n{status} ({len(members)}) — waiting for: {waiting_for}", bold=True)
        table(
            [
                {
                    "id": r["id"],
                    "reason": r["reason"],
                    "by": str(r["created_by"])[:8],
                    "created_at": r["created_at"].strftime("%Y-%m-%d %H:%M"),
                    # A compensating batch's own payload is the original's: say what it reverts instead.
                    "types": f"revert of {str(r['reverts_batch_id'])[:8]}"
                    if r.get("reverts_batch_id")
                    else r["correction_types"],
                    "affected": r["submissions_affected"],
                    "pass→fail": r["pass_to_fail"],
                    "fail→pass": r["fail_to_pass"],
                    "interventions": intervention_figures(r),
                    # Stored when the batch was last written: say how old the figures are.
                    "figures as of": r["figures_at"].strftime("%Y-%m-%d %H:%M") if r["figures_at"] else "",
                }
                for r in members
            ],
            limits={"reason": 48},
        )


def print_submission_history(submission_id: str, current: dict, rows: list[dict]) -> None:
    """`submission history`: the score now, then every change: who, which batch, why."""
    click.echo(
        f"submission {submission_id}: attempt {current['attempt_no']} of user {current['user_id']}, "
        f"now {current['score']}/{current['max_score']} ({'pass' if current['passed'] else 'fail'})"
    )
    table(history_rows(rows), limits={"reason": 80})


def history_rows(rows: list[dict]) -> list[dict]:
    """The history as a person reads it: score, when, who, which batch, why."""
    return [
        {
            "history_id": r["history_id"],
            "score": f"{r['score']}/{r['max_score']}",
            "at": r["created_at"],
            "actor": r.get("actor") or "",
            "batch": r["correction_batch_id"] or "",
            "reason": history_change(r),
        }
        for r in rows
    ]


def history_change(row: dict, with_batch: bool = False) -> str:
    """Why a history row was written: the initial scoring, or a batch's reason."""
    if row["correction_batch_id"] is None:
        return "initial scoring"
    if not with_batch:
        return ("revert: " if row.get("reverts_batch_id") else "") + row["reason"]
    return ("revert: " if row["reverts_batch_id"] else "") + f"{row['reason']} (batch {row['correction_batch_id']})"


def check_rows(rows: list[dict]) -> list[dict]:
    """check_invariants' rows with an ok/FAIL status first."""
    return [{"status": "FAIL" if r["breaches"] else "ok", **r} for r in rows]


def print_check(rows: list[dict], verbose: bool = False, headers: bool = True) -> None:
    """`check`: one table per scope within 100 columns; verbose, one wide table with the sample ids."""
    if verbose:
        table(check_rows(rows), ["status", "scope", "invariant", "breaches", "sample"], headers=headers)
        return
    # Grouped by scope, a long tenant name costs no column: status 6, invariant 82, breaches 8 and two
    # gaps of two make 100.
    scopes: dict[str, list[dict]] = {}
    for r in check_rows(rows):
        scopes.setdefault(r["scope"], []).append(r)
    for n, (scope, members) in enumerate(scopes.items()):
        click.echo(("\n" if n else "") + truncate(one_line_text(scope), 100))
        table(members, ["status", "invariant", "breaches"], headers=headers, limits={"invariant": 82})


# ------------------------------------------------------------ scores


def score_value(row: dict):
    """A typed score's value: the string of a categorical score, else the number."""
    return row["value_string"] if row["value_string"] is not None else row["value_numeric"]


def concordance_table(agreement: list[dict], human: str = "human") -> None:
    """Automated value beside the authoritative human value, one row per score name."""
    table(
        [
            {
                "name": a["name"],
                "automated": a["automated_value"],
                human: a["human_value"],
                "agree": {True: "yes", False: "NO", None: ""}[a["agree"]],
            }
            for a in agreement
        ]
    )
