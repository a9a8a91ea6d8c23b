"""What every command shares: the invocation's Context, the output formats, the error contract, files.

Imports no command module, so any command module may import it.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TextIO

import click
import psycopg

from . import api, db
from .corrections_file import read_corrections
from .render import delimited, emit_json, json_line, table

# --json / --csv / --tsv / --nl / --table: the format a command prints in.
FORMATS = {
    "table": "aligned columns for a person (the default)",
    "json": "one JSON document",
    "nl": "newline-delimited JSON: one compact object per row",
    "csv": "CSV with a header row",
    "tsv": "tab-separated values with a header row",
}
# The database's SQLSTATE at the head of a one-line error ("SL404: batch … does not exist").
_SQLSTATE = re.compile(r"^([0-9A-Z]{5}): (.*)$", re.DOTALL)
# What an unmigrated (or older) database answers when the API is called.
_NOT_MIGRATED = {"3F000", "42883", "42P01", "42704"}


class Context:
    """One invocation: where to connect, as whom, and how to print."""

    # The latest invocation's Context, so an error raised while parsing can still be printed as JSON.
    current: Context | None = None

    def __init__(
        self, dsn: str, tenant: str | None, actor: str | None, fmt: str = "table", headers: bool = True
    ) -> None:
        self.dsn = dsn
        self.tenant = tenant
        self.actor = actor
        self.fmt = fmt
        self.headers = headers
        Context.current = self

    def command_line(self) -> str:
        """This scoreledger on this database, as a line to paste into a shell: the console script beside
        this Python by absolute path (no activated venv needed), else `python -m scoreledger`."""
        script = Path(sys.executable).parent / "scoreledger"
        argv = (
            [str(script.absolute())] if script.exists() else [str(Path(sys.executable).absolute()), "-m", "scoreledger"]
        )
        return shlex.join(argv) + (f" --dsn {shlex.quote(self.dsn)}" if self.dsn else "")

    @property
    def as_json(self) -> bool:
        return self.fmt == "json"

    @property
    def for_program(self) -> bool:
        """A program reads stdout: no progress bars, no prompts, no prose on it."""
        return self.fmt != "table"

    def acting(self, need_tenant: bool = True):
        if need_tenant and not self.tenant:
            raise click.UsageError("this command needs a tenant: --tenant NAME|UUID or SCORELEDGER_TENANT")
        return db.acting(self.dsn, self.tenant if need_tenant else None, self.actor)

    def emit(
        self,
        document,
        human: Callable[[], object],
        rows: Iterable[Mapping] | None = None,
        columns: Iterable[str] | None = None,
    ) -> None:
        """A command's result: `human` prints it for a person; --json prints `document`.

        Under --csv/--tsv/--nl the command's `rows` are printed (its main
        listing); a document without rows prints as one row of its fields.
        """
        if self.fmt == "table":
            human()
        elif self.fmt == "json":
            emit_json(document)
        elif rows is not None:
            self._print_rows(list(rows), columns)
        elif self.fmt == "nl":
            click.echo(json_line(document))
        else:
            single = document if isinstance(document, Mapping) else {"value": document}
            self._print_rows([single], columns)

    def rows(
        self,
        rows: Iterable[Mapping],
        columns: Iterable[str] | None = None,
        empty: str = "(none)",
        limits: Mapping[str, int] | None = None,
    ) -> None:
        """A read command's rows in the format the invocation asked for (a table for a person).

        `limits` caps the display width of some table columns (long reasons); the other formats print
        every value whole.
        """
        rows = list(rows)
        if self.fmt == "table":
            table(rows, columns, empty, headers=self.headers, limits=limits)
        elif self.fmt == "json":
            emit_json(rows)
        else:
            self._print_rows(rows, columns)

    def _print_rows(self, rows: list[Mapping], columns: Iterable[str] | None) -> None:
        if self.fmt == "nl":
            for r in rows:
                click.echo(json_line(r))
        elif self.fmt in ("csv", "tsv"):
            click.echo(delimited(rows, columns, "," if self.fmt == "csv" else "\t", self.headers), nl=False)
        else:
            table(rows, columns, headers=self.headers)

    @contextmanager
    def to_person(self):
        """Prose for the person at the terminal (a preview before a prompt): on stderr when stdout is data."""
        if self.for_program:
            with redirect_stdout(sys.stderr):
                yield
        else:
            yield

    def confirm(self, question: str, yes: bool, before: Callable[[], object] | None = None) -> None:
        """Go on with --yes or a person's yes (having shown them `before`); refuse, exit 2, when nobody
        can be asked (stdin not a terminal). The output format never stands in for --yes."""
        if yes:
            return
        if not sys.stdin.isatty():
            raise click.UsageError(f"{question} needs --yes when stdin is not a terminal (nobody to ask)")
        if before is not None:
            with self.to_person():
                before()
        click.confirm(question, abort=True, err=True)


pass_ctx = click.make_pass_decorator(Context)


# ------------------------------------------------------------ output options


def _choose(ctx: click.Context, key: str, value) -> None:
    """Record an output choice: on the Context, or (before the root has made it) in the invocation's meta."""
    ctx.meta[f"scoreledger.{key}"] = value
    if (obj := ctx.find_object(Context)) is not None:
        setattr(obj, key, value)


def _format_flag(fmt: str) -> click.Option:
    def choose(ctx: click.Context, _param, value: bool) -> None:
        if value:
            _choose(ctx, "fmt", fmt)

    return click.Option([f"--{fmt}"], is_flag=True, expose_value=False, callback=choose, help=FORMATS[fmt])


def _no_headers(ctx: click.Context, _param, value: bool) -> None:
    if value:
        _choose(ctx, "headers", False)


def output_params() -> list[click.Option]:
    """The per-command output options; each overrides the same option given before the command."""
    return [_format_flag(fmt) for fmt in FORMATS] + [
        click.Option(
            ["--no-headers"],
            is_flag=True,
            expose_value=False,
            callback=_no_headers,
            help="no header line in tables, CSV and TSV",
        )
    ]


def output_options(command):
    """Decorator (above or below @command): accept --json/--csv/--tsv/--nl/--table/--no-headers here."""
    if isinstance(command, click.Command):
        taken = {opt for p in command.params for opt in p.opts}
        command.params.extend(p for p in output_params() if not set(p.opts) & taken)
        return command
    for param in reversed(output_params()):
        command.__click_params__ = [*getattr(command, "__click_params__", []), param]
    return command


# ------------------------------------------------------------ errors


class CommandError(click.ClickException):
    """One line for the operator, with the database's SQLSTATE when it has one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate

    def format_message(self) -> str:
        return f"{self.sqlstate}: {self.message}" if self.sqlstate else self.message


def one_line(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        message = diag.message_primary or str(exc).strip().splitlines()[0]
        code = diag.sqlstate or ""
        return f"{code}: {message}" if code else message
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def failure(exc: BaseException) -> click.ClickException:
    """The exception to show for `exc`: a usage error (exit 2) when the invocation lacks something, else exit 1."""
    if isinstance(exc, psycopg.Error):
        code = exc.diag.sqlstate
        message = exc.diag.message_primary or one_line(exc)
        current = Context.current
        if code == "SL401" and current is not None and current.tenant and not current.actor:
            return click.UsageError(
                f"this command needs an acting user: --actor UUID or SCORELEDGER_ACTOR ({code}: {message})"
            )
        if code in _NOT_MIGRATED:
            return CommandError(
                f"the database is not migrated for this scoreledger: run `scoreledger db migrate` ({message})", code
            )
        return CommandError(message, code)
    return CommandError(one_line(exc))


def handle_errors(fn):
    """Every failure is one line and exit 1 (2 for bad usage), never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, BrokenPipeError):
            raise
        except (psycopg.Error, db.ScoreledgerError, ValueError, OSError) as exc:
            raise failure(exc) from None

    return wrapper


def with_context(fn):
    """A command's decorator: the Context as first argument, every failure as one line."""
    return pass_ctx(handle_errors(fn))


def _format_asked(args: list[str]) -> str:
    """The format the command line asked for (the last format flag), else the Context's."""
    asked = None
    for arg in args:
        if arg == "--":
            break
        if arg.startswith("--") and arg[2:] in FORMATS:
            asked = arg[2:]
    if asked:
        return asked
    return Context.current.fmt if Context.current else "table"


def error_document(exc: click.ClickException) -> dict:
    """{"error": {"sqlstate": …, "message": …}}: what --json prints instead of the error line."""
    sqlstate = getattr(exc, "sqlstate", None)
    message = exc.message if sqlstate else exc.format_message()
    if not sqlstate and (m := _SQLSTATE.match(message)):
        sqlstate, message = m.group(1), m.group(2)
    return {"error": {"sqlstate": sqlstate, "message": message}}


def _quiet_stdout() -> None:
    """The reader went away (`| head`): send whatever is still buffered nowhere."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


class Shell(click.Group):
    """The root command: errors as JSON under --json/--nl, a closed pipe as a quiet exit 0."""

    def invoke(self, ctx: click.Context):
        # Before Click's own handler, which makes a closed pipe exit 1.
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _quiet_stdout()
            raise click.exceptions.Exit(0) from None

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        Context.current = None
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            try:
                rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
                sys.stdout.flush()
            except click.ClickException as exc:
                if _format_asked(args) in ("json", "nl"):
                    click.echo(json.dumps(error_document(exc), ensure_ascii=False))
                else:
                    exc.show()
                sys.stdout.flush()
                sys.exit(exc.exit_code)
            except click.Abort:
                click.echo("Aborted!", err=True)
                sys.exit(1)
        except BrokenPipeError:
            _quiet_stdout()
            sys.exit(0)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _quiet_stdout()
            sys.exit(0)
        sys.exit(rv if isinstance(rv, int) else 0)


# ------------------------------------------------------------ files


@contextmanager
def open_input(path: str):
    """A file to read, or stdin for `-`."""
    if path == "-":
        yield sys.stdin
    else:
        with open(path, encoding="utf-8") as fh:
            yield fh


@contextmanager
def open_output(path: str, newline: str | None = None):
    """A file to write, or stdout for `-`."""
    if path == "-":
        stream: TextIO = sys.stdout
        yield stream
        stream.flush()
    else:
        with open(path, "w", encoding="utf-8", newline=newline) as fh:
            yield fh


def read_text(path: str) -> str:
    """A whole file's text, or stdin's for `-`."""
    with open_input(path) as fh:
        return fh.read()


def read_documents(path: str) -> list:
    """A JSON file (or stdin for `-`) holding one document or an array of them, as a list."""
    name = "stdin" if path == "-" else path
    try:
        document = json.loads(read_text(path) if path == "-" else Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{name}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return document if isinstance(document, list) else [document]


def corrections_given(
    file_: str | None, drop_item, replace_key, mark_correct, drop_tag=(), mark_correct_tag=()
) -> list[dict]:
    """The corrections of --file (JSON or CSV, `-` for stdin) followed by those of the shorthand
    options (usage error when malformed)."""
    try:
        corrections = api.shorthand_corrections(drop_item, replace_key, mark_correct, drop_tag, mark_correct_tag)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return (read_corrections(file_) if file_ else []) + corrections
