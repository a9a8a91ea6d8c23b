"""What every command shares: the invocation's Context, the error contract, document files.

Imports no command module, so any command module may import it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import click
import psycopg

from . import api, db
from .corrections_file import read_corrections
from .render import emit_json, table


class Context:
    def __init__(self, dsn: str, tenant: str | None, actor: str | None, as_json: bool):
        self.dsn = dsn
        self.tenant = tenant
        self.actor = actor
        self.as_json = as_json

    def acting(self, need_tenant: bool = True):
        if need_tenant and not self.tenant:
            raise click.UsageError("this command needs a tenant: --tenant NAME|UUID or SCORELEDGER_TENANT")
        return db.acting(self.dsn, self.tenant if need_tenant else None, self.actor)

    def emit(self, document, human: Callable[[], object]) -> None:
        """One JSON document under --json, else what `human` prints for a person."""
        if self.as_json:
            emit_json(document)
        else:
            human()

    def rows(self, rows, columns=None, empty: str = "(none)") -> None:
        """A read command's rows in the format the invocation asked for (a table for a person)."""
        if self.as_json:
            emit_json(list(rows))
        else:
            table(rows, columns, empty)


pass_ctx = click.make_pass_decorator(Context)


def one_line(exc: BaseException) -> str:
    if isinstance(exc, psycopg.Error):
        diag = exc.diag
        message = diag.message_primary or str(exc).strip().splitlines()[0]
        code = diag.sqlstate or ""
        return f"{code}: {message}" if code else message
    return str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__


def handle_errors(fn):
    """Every failure is one line on stderr and exit 1, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except (psycopg.Error, db.ScoreledgerError, ValueError, OSError) as exc:
            raise click.ClickException(one_line(exc)) from None

    return wrapper


def with_context(fn):
    """A command's decorator: the Context as first argument, every failure as one line."""
    return pass_ctx(handle_errors(fn))


def read_documents(path: str) -> list:
    """A JSON file holding one document or an array of them, as a list."""
    try:
        document = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
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
