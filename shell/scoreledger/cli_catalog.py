"""Commands that make ids discoverable: evaluations, assignments, evaluators, review queues.

Read commands print rows only through Context.rows and documents through
Context.emit, so that every output format applies to them.
"""

from __future__ import annotations

import json

import click

from . import api, scores
from .context import Context, with_context
from .render import histogram, print_histogram


def _schema(file) -> dict:
    """A JSON object read from --schema FILE (the database checks the declarations)."""
    if file is None:
        return {}
    try:
        document = json.load(file)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON (line {exc.lineno}: {exc.msg})", param_hint="--schema") from None
    return document


# ------------------------------------------------------------- evaluation


@click.group("evaluation")
def evaluation_group():
    """Published evaluations: their versions, items, keys and current scores."""


@evaluation_group.command("list")
@with_context
def evaluation_list(c: Context):
    """Every evaluation version of the tenant, with its item and submission counts."""
    with c.acting() as conn:
        rows = api.list_evaluation_versions(conn)
    c.rows(
        rows,
        [
            "evaluation_id",
            "evaluation_version_id",
            "title",
            "version_no",
            "pass_mark",
            "item_count",
            "submissions",
            "created_at",
        ],
        empty="no evaluations (import one: scoreledger import evaluation FILE)",
    )


@evaluation_group.command("show")
@click.argument("evaluation_or_version_id")
@with_context
def evaluation_show(c: Context, evaluation_or_version_id):
    """An evaluation (by its id or one of its versions' ids): versions, items, keys, and the score distribution.

    Items are listed with every column of scoreledger.items (their tags
    too, where items carry them); the key is the published one, before
    corrections. The distribution is of the submissions' current scores,
    binned so that the pass mark is a bin edge.
    """
    with c.acting() as conn:
        versions = api.evaluation_versions_of(conn, evaluation_or_version_id)
        if not versions:
            raise click.ClickException(
                f"SL404: evaluation or evaluation version {evaluation_or_version_id} does not exist"
            )
        ids = [v["evaluation_version_id"] for v in versions]
        items = api.items_of(conn, ids)
        spread = api.score_spread(conn, ids)
    shown = []
    for v in versions:
        rows = [r for r in spread if r["evaluation_version_id"] == v["evaluation_version_id"]]
        hist = histogram({"submissions": [(r["score"], r["max_score"], r["n"]) for r in rows]}, [v["pass_mark"]])
        shown.append(
            dict(v)
            | {
                "items": [i for i in items if i["evaluation_version_id"] == v["evaluation_version_id"]],
                "histogram": hist,
            }
        )

    def human():
        for v in shown:
            click.echo(
                f"evaluation {v['evaluation_id']} ‹{v['title']}› version {v['version_no']}: "
                f"{v['evaluation_version_id']}, pass mark {float(v['pass_mark']) * 100:g}%, "
                f"{v['item_count']} items, {v['submissions']} submissions"
            )
            c.rows(
                [
                    {k: val for k, val in i.items() if k not in ("evaluation_version_id", "prompt", "options")}
                    | {"options": i["options"]}
                    for i in v["items"]
                ]
            )
            if v["submissions"]:
                print_histogram(v["histogram"], "current score distribution")
            click.echo()

    c.emit({"evaluation_id": versions[0]["evaluation_id"], "versions": shown}, human)


# ------------------------------------------------------------- assignment


@click.group("assignment")
def assignment_group():
    """Assignments (import them with `scoreledger import assignment FILE`)."""


@assignment_group.command("list")
@with_context
def assignment_list(c: Context):
    """Every assignment of the tenant with its evaluation and attempt policy."""
    with c.acting() as conn:
        rows = api.list_assignments(conn)
    c.rows(
        rows,
        ["assignment_id", "title", "evaluation_id", "programme", "attempt_policy", "updated_at"],
        empty="no assignments",
    )


# -------------------------------------------------------------- evaluator


def _schema_option(what: str):
    """--schema FILE of evaluator register and queue create (both read by _schema)."""
    return click.option(
        "--schema",
        "schema_file",
        type=click.File("r"),
        default=None,
        help=what + ': a JSON object, e.g. {"tone": {"type": "choice", "choices": ["ok", "rude"]}}',
    )


@click.group("evaluator")
def evaluator_group():
    """Evaluators: the automated producers of results (import results needs one)."""


@evaluator_group.command("register")
@click.argument("name")
@_schema_option("output schema")
@with_context
def evaluator_register(c: Context, name, schema_file):
    """Register an evaluator (idempotent on NAME; another schema under the same name is refused)."""
    schema = _schema(schema_file)
    with c.acting() as conn:
        evaluator_id = scores.register_evaluator(conn, name, schema)
    c.emit(
        {"evaluator_id": evaluator_id, "name": name, "output_schema": schema},
        lambda: click.echo(f"evaluator {name}: {evaluator_id}"),
    )


@evaluator_group.command("list")
@with_context
def evaluator_list(c: Context):
    """Registered evaluators with their output schemas and result counts."""
    with c.acting() as conn:
        rows = scores.list_evaluators(conn)
    c.rows(rows, ["evaluator_id", "name", "results", "output_schema", "created_at"], empty="no evaluators")


# ------------------------------------------------------------------ queue


@click.group("queue")
def queue_group():
    """Review queues: where people annotate submissions."""


@queue_group.command("create")
@click.argument("name")
@_schema_option("form schema")
@with_context
def queue_create(c: Context, name, schema_file):
    """Create a review queue (idempotent on NAME; another schema under the same name is refused)."""
    schema = _schema(schema_file)
    with c.acting() as conn:
        queue_id = scores.create_review_queue(conn, name, schema)
    c.emit(
        {"queue_id": queue_id, "name": name, "form_schema": schema},
        lambda: click.echo(f"queue {name}: {queue_id}"),
    )


@queue_group.command("list")
@with_context
def queue_list(c: Context):
    """Review queues with their form schemas and item counts."""
    with c.acting() as conn:
        rows = scores.list_review_queues(conn)
    c.rows(rows, ["queue_id", "name", "items", "form_schema", "created_at"], empty="no review queues")
