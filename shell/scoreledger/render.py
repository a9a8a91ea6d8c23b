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
        click.echo(f"  reverts: batch {doc['reverts_batch_id']}")
    if doc.get("reverted_by_batch_id"):
        click.echo(f"  reverted by: batch {doc['reverted_by_batch_id']}")
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


def percent_buckets(rows: list[dict], score_key: str, max_key: str) -> list[int]:
    """Counts of score/max_score in ten 10% bands (presentation only)."""
    buckets = [0] * 10
    for r in rows:
        fraction = float(r[score_key]) / float(r[max_key]) if r[max_key] else 0.0
        buckets[min(9, max(0, int(fraction * 10)))] += 1
    return buckets


def print_preview(doc: dict, rows: list[dict] | None, verb: str = "rescored") -> None:
    """A dry run's document, per assignment, and (given its rows) the score distribution before | after."""
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
    if rows:
        _print_distribution(rows)


def _print_distribution(rows: list[dict]) -> None:
    before = percent_buckets(rows, "old_score", "old_max_score")
    after = percent_buckets(rows, "new_score", "new_max_score")
    width = max(1, max(before + after))
    click.echo("  score distribution of the affected submissions (before | after):")
    for band in range(9, -1, -1):
        bar_before = "#" * round(20 * before[band] / width)
        bar_after = "#" * round(20 * after[band] / width)
        click.echo(
            f"    {band * 10:3d}-{band * 10 + 10:<3d}% {bar_before:>20} {before[band]:>6} | {after[band]:<6} {bar_after}"
        )


def awaited(row: dict) -> str:
    """What a batch waits for, as the database says; when nothing, whether it can still be reverted."""
    if row["waiting_for"]:
        return row["waiting_for"]
    return "nothing (revertible)" if "revert" in row["next_actions"] else "nothing (final)"


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
                    "types": r["correction_types"],
                    "affected": r["submissions_affected"],
                    "pass→fail": r["pass_to_fail"],
                    "fail→pass": r["fail_to_pass"],
                    # Stored when the batch was last written: say how old the figures are.
                    "figures as of": r["figures_at"].strftime("%Y-%m-%d %H:%M") if r["figures_at"] else "",
                }
                for r in members
            ],
            limits={"reason": 48},
        )


def print_submission_history(submission_id: str, current: dict, rows: list[dict]) -> None:
    """`submission history`: the score now, then every change with its reason."""
    click.echo(
        f"submission {submission_id}: attempt {current['attempt_no']} of user {current['user_id']}, "
        f"now {current['score']}/{current['max_score']} ({'pass' if current['passed'] else 'fail'})"
    )
    table(
        [
            {
                "history_id": r["history_id"],
                "score": f"{r['score']}/{r['max_score']}",
                "at": r["created_at"],
                "change": history_change(r, with_batch=True),
            }
            for r in rows
        ],
        limits={"change": 100},
    )


def history_change(row: dict, with_batch: bool = False) -> str:
    """Why a history row was written: the initial scoring, or a batch's reason."""
    if row["correction_batch_id"] is None:
        return "initial scoring"
    if not with_batch:
        return row["reason"]
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
