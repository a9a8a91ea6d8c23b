"""The one chunked JSON-lines importer behind `import submissions` and `import results`.

A file is read line by line and sent in chunks, each one call of the SQL
function and committed on its own. One progress bar (bytes read), one
rule for a refused line (IMPORT_RULE, printed in each command's --help):
every line before it is committed, nothing from it on, and the message
says how to resume. Which documents are refused, and why, is the
database's answer (scoreledger.submission_problems / result_problems):
nothing here checks a document.
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

from .api import JsonLines
from .context import Context, one_line
from .render import progress

# An entry's index in a chunk as the database names it: `submissions[3].` (record_submissions)
# or a bare `[3].` / `[3]:` (record_evaluation_results); `answers[0]` is inside an entry, left alone.
_ENTRY = re.compile(r"(?:\bsubmissions|(?<![\w\]]))\[(\d+)\]([.:]?)")

IMPORT_RULE = """\b
A line that is not valid JSON, or a document the database refuses, stops
the import: every line before it is committed, nothing from it on. The
message names the line. Fix it and run the same command again (lines
already recorded are no-ops), or resume with --skip N (the lines already
read). With --rejects FILE, refused lines go to FILE instead, one JSON
object each ({"line", "sqlstate", "message", "input"}), and the import goes
on with the next line (exit 0; the report counts them)."""


@dataclass
class Imported:
    documents: int = 0
    recorded: int = 0
    rejected: int = 0

    @property
    def already_recorded(self) -> int:
        return self.documents - self.recorded - self.rejected

    def as_dict(self) -> dict:
        return {
            "documents": self.documents,
            "recorded": self.recorded,
            "already_recorded": self.already_recorded,
            "rejected": self.rejected,
        }


def jsonl_options(default_chunk: int):
    """FILE (or - for stdin), --batch-size, --skip, --rejects and --silent, as every JSON-lines import takes them."""

    def decorate(fn):
        fn = click.option("--silent", is_flag=True, help="no progress bar")(fn)
        fn = click.option(
            "--rejects",
            type=click.File("w"),
            default=None,
            help="write refused lines here (JSON lines with their error) and go on",
        )(fn)
        fn = click.option(
            "--skip", default=0, show_default=True, type=click.IntRange(0), help="skip the first N lines of FILE"
        )(fn)
        fn = click.option("--batch-size", default=default_chunk, show_default=True, type=click.IntRange(1, 100_000))(fn)
        return click.argument("file", type=click.File("r"))(fn)

    return decorate


def relabel(message: str, line_numbers: list[int]) -> str:
    """submissions[3].answers[0] -> line 42: answers[0], and [3].evaluator -> line 42: evaluator."""

    def line(match: re.Match) -> str:
        index = int(match.group(1))
        number = line_numbers[index] if index < len(line_numbers) else index
        return f"line {number}" + {":": ":", ".": ": "}.get(match.group(2), "")

    return _ENTRY.sub(line, message)


class _Stop(Exception):
    """The first line not recorded, and why."""

    def __init__(self, line: int, message: str):
        self.line, self.message = line, message


def import_lines(
    c: Context,
    file: TextIO,
    record: Callable[[psycopg.Connection, JsonLines], int],
    diagnose: Callable[[psycopg.Connection, JsonLines], list[dict]],
    batch_size: int,
    silent: bool,
    skip: int = 0,
    rejects: TextIO | None = None,
) -> Imported:
    """Send FILE's documents to `record(conn, chunk)`, one committed transaction per chunk of `batch_size`.

    A chunk the database refuses is diagnosed (`diagnose(conn, chunk)`: the
    refused entries, as the database names them); without `rejects` the
    lines before the first refused one are recorded and the import stops
    there (IMPORT_RULE), with `rejects` every refused line is written there
    and the rest recorded.
    """
    total_bytes = os.fstat(file.fileno()).st_size if file is not sys.stdin and file.seekable() else None
    done = Imported()
    chunk: list[tuple[int, str]] = []  # (line number, raw line)

    def reject(number: int, sqlstate: str | None, message: str, raw: str) -> None:
        assert rejects is not None
        rejects.write(
            json.dumps({"line": number, "sqlstate": sqlstate, "message": message, "input": raw.rstrip("\r\n")}) + "\n"
        )
        done.rejected += 1

    def flush() -> None:
        pending = list(chunk)
        chunk.clear()
        stop: _Stop | None = None
        while pending:
            lines = [n for n, _ in pending]
            try:
                with c.acting() as conn:
                    done.recorded += record(conn, as_lines(pending))
                break
            except psycopg.Error as exc:
                failure = relabel(one_line(exc), lines)
            problems: list[dict] = []
            # The lines go to the server as they are; only a refused chunk is
            # parsed here, to name a line that is not JSON at all: such lines
            # are the chunk's problems (sqlstate None), else the database's.
            not_json = [(i, message) for i, (_, raw) in enumerate(pending) if (message := json_error(raw))]
            if not not_json:
                try:
                    with c.acting() as conn:
                        problems = diagnose(conn, as_lines(pending))
                except psycopg.Error:
                    # A line Python reads but jsonb does not (a \u0000 escape, a lone
                    # surrogate): ask the server about each line.
                    with c.acting() as conn:
                        not_json = unreadable_lines(conn, pending)
            if not_json:
                problems = [
                    {"idx": i, "sqlstate": None, "message": f"line {lines[i]}: not valid JSON ({message})"}
                    for i, message in not_json
                ]
            else:
                problems = [p | {"message": relabel(p["message"], lines)} for p in problems]
            if not problems:
                # Refused for no document's sake (a lock, the connection): stop before the chunk.
                raise _Stop(lines[0], failure)
            if rejects is None:
                bad = min(problems, key=lambda p: p["idx"])
                stop = _Stop(
                    lines[bad["idx"]],
                    bad["message"] if bad["sqlstate"] is None else f"{bad['sqlstate']}: {bad['message']}",
                )
                pending = pending[: bad["idx"]]
                continue
            refused = {p["idx"]: p for p in problems}
            for idx, p in sorted(refused.items()):
                number, raw = pending[idx]
                reject(number, p["sqlstate"], p["message"], raw)
            pending = [entry for idx, entry in enumerate(pending) if idx not in refused]
        if stop is not None:
            raise stop

    try:
        with progress(total_bytes, "recording", not (silent or c.for_program) and sys.stderr.isatty()) as bar:
            for number, raw in enumerate(file, start=1):
                if bar:
                    bar.update(len(raw.encode()))
                if number <= skip or not raw.strip():
                    continue
                chunk.append((number, raw))
                done.documents += 1
                if len(chunk) >= batch_size:
                    flush()
            flush()
    except _Stop as stop:
        raise click.ClickException(stopped(stop, done, skip)) from None
    return done


# What JSON counts as whitespace around a value (str.strip() would take more).
JSON_SPACE = " \t\r\n"


def as_lines(entries: list[tuple[int, str]]) -> JsonLines:
    """The chunk's lines as they are: parsing each line in Python and serializing it
    again cost about 80 us a 20-item submission (json.loads 56 us, json.dumps 26 us),
    time the server spent waiting."""
    return JsonLines("\n".join(raw.strip(JSON_SPACE) for _, raw in entries))


def _no_constants(name: str):
    raise ValueError(f"{name} is not JSON")


def json_error(raw: str) -> str | None:
    """Why RAW is not one JSON value, or None (a first, local reading: see unreadable_lines)."""
    try:
        json.loads(raw.strip(JSON_SPACE), parse_constant=_no_constants)
    except ValueError as exc:
        return exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
    except RecursionError:
        return "nested too deeply"
    return None


def unreadable_lines(conn: psycopg.Connection, entries: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The entries jsonb itself cannot read, with its reason: one cast per line, each in its own savepoint."""
    found = []
    for i, (_, raw) in enumerate(entries):
        try:
            with conn.transaction():
                conn.execute("SELECT %s::jsonb", [raw.strip(JSON_SPACE)])
        except psycopg.Error as exc:
            found.append((i, one_line(exc)))
    return found


def stopped(stop: _Stop, done: Imported, skip: int = 0) -> str:
    """The one line of a stopped import: why, what is committed, how to resume."""
    first, before = skip + 1, stop.line - 1
    if before < first:
        return (
            f"{stop.message} -- nothing was recorded by this run; fix line {stop.line} and run again, "
            "or set refused lines aside with --rejects FILE"
        )
    return (
        f"{stop.message} -- lines {first}-{before} are committed ({done.recorded} recorded by this run), "
        f"nothing from line {stop.line} on; fix it and run again (recorded lines are no-ops), "
        f"or resume with --skip {before}, or set refused lines aside with --rejects FILE"
    )


def import_report(what: str, done: Imported, rejects: TextIO | None) -> None:
    """`N submissions read: R recorded, A already recorded[, K rejected (FILE)]`."""
    line = f"{done.documents} {what} read: {done.recorded} recorded, {done.already_recorded} already recorded"
    if rejects is not None:
        line += f", {done.rejected} rejected ({getattr(rejects, 'name', 'rejects')})"
    click.echo(line)
