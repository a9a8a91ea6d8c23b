"""A corrections document from a file or stdin (`batch create/edit --file`): JSON or CSV.

Only the format is read here; every rule of the document is the database's.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

# The CSV columns: the fields of a correction entry (contract section 12),
# plus submission_ids for a scoped mark_correct.
CSV_COLUMNS = ("type", "evaluation_version_id", "question_version_id", "correct", "tag", "submission_ids")
LIST_COLUMNS = ("correct", "submission_ids")


def read_corrections(path: str) -> list:
    """The corrections of FILE (`-`: stdin): a JSON array (or one entry), else CSV with a header row."""
    name = "stdin" if path == "-" else path
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    text = text.removeprefix("\ufeff")
    if text.lstrip()[:1] in ("[", "{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
        return document if isinstance(document, list) else [document]
    return _csv_corrections(text, name)


def _list_cell(value: str, name: str, line: int, column: str) -> list:
    """A list cell: a JSON array, or values separated by commas."""
    if value.startswith("["):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: line {line}: {column}: not a valid JSON array ({exc.msg})") from exc
    return [v.strip() for v in value.split(",")]


def _csv_corrections(text: str, name: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    columns = [c.strip() for c in reader.fieldnames or []]
    if "type" not in columns:
        raise ValueError(
            f"{name}: neither JSON nor a CSV with a header row naming the columns ({', '.join(CSV_COLUMNS)})"
        )
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise ValueError(f"{name}: unknown CSV column {unknown[0]!r} (expected {', '.join(CSV_COLUMNS)})")
    reader.fieldnames = columns
    corrections = []
    for row in reader:
        if None in row:
            raise ValueError(f"{name}: line {reader.line_num}: more cells than columns")
        entry = {}
        for column in columns:
            value = (row.get(column) or "").strip()
            if value:
                entry[column] = _list_cell(value, name, reader.line_num, column) if column in LIST_COLUMNS else value
        corrections.append(entry)
    return corrections
