"""Rendering: readable tables for people, one JSON document for scripts."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence

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
    click.echo(json.dumps(_plain(document), indent=2, sort_keys=False))


def cell(value) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def table(rows: Sequence[Mapping], columns: Iterable[str] | None = None, empty: str = "(none)") -> None:
    rows = list(rows)
    if not rows:
        click.echo(empty)
        return
    columns = list(columns or rows[0].keys())
    text_rows = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in text_rows)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for r in text_rows:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def number(value) -> str:
    value = _plain(value)
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return str(value)
