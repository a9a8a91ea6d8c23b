"""The one chunked JSON-lines importer behind `import submissions` and `import results`.

A file is read line by line and sent in chunks, each one call of the SQL
function and committed on its own: all of a chunk or none of it. One
progress bar (bytes read), one error report naming the file's line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import click
import psycopg

from .context import Context, one_line
from .render import progress

# An entry's index in a chunk as the database names it: `submissions[3].` (record_submissions)
# or a bare `[3].` / `[3]:` (record_evaluation_results); `answers[0]` is inside an entry, left alone.
_ENTRY = re.compile(r"(?:\bsubmissions|(?<![\w\]]))\[(\d+)\]([.:]?)")


@dataclass
class Imported:
    documents: int = 0
    recorded: int = 0


def jsonl_options(default_chunk: int):
    """FILE (or - for stdin), --batch-size and --silent, as every JSON-lines import takes them."""

    def decorate(fn):
        fn = click.option("--silent", is_flag=True, help="no progress bar")(fn)
        fn = click.option("--batch-size", default=default_chunk, show_default=True, type=click.IntRange(1, 100_000))(fn)
        return click.argument("file", type=click.File("r"))(fn)

    return decorate


def relabel(message: str, line_numbers: list[int]) -> str:
    """submissions[3].answers[0] -> line 42: answers[0], and [3].evaluator -> line 42: evaluator."""

    def line(match: re.Match) -> str:
        index = int(match.group(1))
        number = line_numbers[index] if index < len(line_numbers) else index
        return f"line {number}" + (":" if match.group(2) == ":" else ": ")

    return _ENTRY.sub(line, message)


def import_lines(
    c: Context, file: TextIO, record: Callable[[psycopg.Connection, list[dict]], int], batch_size: int, silent: bool
) -> Imported:
    """Send FILE's documents to `record(conn, chunk)`, one committed transaction per chunk of `batch_size`.

    A chunk the database refuses stops the import with one line naming the
    file's line; the chunks before it stay committed, and the line says so.
    """
    total_bytes = os.fstat(file.fileno()).st_size if file is not sys.stdin and file.seekable() else None
    done = Imported()
    chunk: list[dict] = []
    lines: list[int] = []

    def flush() -> None:
        if not chunk:
            return
        try:
            with c.acting() as conn:
                done.recorded += record(conn, chunk)
        except psycopg.Error as exc:
            before = f" ({done.recorded} recorded before it, committed)" if done.recorded else ""
            raise click.ClickException(relabel(one_line(exc), lines) + before) from None
        chunk.clear()
        lines.clear()

    with progress(total_bytes, "recording", not (silent or c.for_program) and sys.stderr.isatty()) as bar:
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
            done.documents += 1
            if len(chunk) >= batch_size:
                flush()
        flush()
    return done
