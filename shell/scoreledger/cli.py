"""The `scoreledger` command: a thin Click layer over scoreledger.api and scoreledger.scores.

This module only assembles the command tree; the commands live at module
level in cli_admin, cli_content, cli_batches and cli_scores, which import
context and render, never this module.
"""

from __future__ import annotations

import click

from . import cli_admin, cli_batches, cli_catalog, cli_content, cli_scores, db
from .context import Context


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--dsn", default=None, help="libpq connection string or URL (default: DATABASE_URL, else dbname=scoreledger)"
)
@click.option("--tenant", default=None, envvar="SCORELEDGER_TENANT", help="tenant name or id")
@click.option("--actor", default=None, envvar="SCORELEDGER_ACTOR", help="acting user's uuid")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@click.pass_context
def main(ctx: click.Context, dsn, tenant, actor, as_json):
    """scoreledger: regrade every affected attempt in seconds, with history and revert."""
    ctx.obj = Context(dsn or db.default_dsn(), tenant, actor, as_json)


@main.group("import")
def import_group():
    """Load evaluations, assignments and submissions."""


for command in (
    cli_content.import_evaluation,
    cli_content.import_assignment,
    cli_content.import_submissions,
    cli_scores.import_results,
):
    import_group.add_command(command)

for command in (
    cli_admin.db_group,
    cli_admin.tenant_group,
    cli_batches.batch_group,
    cli_admin.capability_group,
    cli_content.submission_group,
    cli_catalog.evaluation_group,
    cli_catalog.assignment_group,
    cli_catalog.evaluator_group,
    cli_catalog.queue_group,
    cli_scores.scores_group,
    cli_admin.check,
    cli_admin.demo,
):
    main.add_command(command)


if __name__ == "__main__":  # pragma: no cover
    main()
