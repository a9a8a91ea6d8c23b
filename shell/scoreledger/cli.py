"""The `scoreledger` command: a thin Click layer over scoreledger.api and scoreledger.scores.

This module only assembles the command tree; the commands live at module
level in cli_admin, cli_content, cli_batches and cli_scores, which import
context and render, never this module.
"""

from __future__ import annotations

import click

from . import __version__, cli_admin, cli_batches, cli_catalog, cli_content, cli_learners, cli_scores, db
from .context import Context, Shell, output_options


@click.group(cls=Shell, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="scoreledger", message="%(prog)s %(version)s")
@click.option(
    "--dsn",
    default=None,
    help="libpq connection string or URL (default: DATABASE_URL, else libpq's PGHOST/PGPORT/PGDATABASE/"
    "PGUSER/PGSERVICE, database scoreledger unless PGDATABASE names one)",
)
@click.option("--tenant", default=None, envvar="SCORELEDGER_TENANT", show_envvar=True, help="tenant name or id")
@click.option(
    "--actor", default=None, type=click.UUID, envvar="SCORELEDGER_ACTOR", show_envvar=True, help="acting user's uuid"
)
@output_options
@click.pass_context
def main(ctx: click.Context, dsn, tenant, actor):
    """scoreledger: regrade every affected attempt in seconds, with history and revert.

    Output options (--json, --csv, --tsv, --nl, --table, --no-headers) work
    here and after any command.
    """
    if dsn is not None and not dsn.strip():
        raise click.BadParameter(
            "empty connection string (leave --dsn out to use DATABASE_URL or PG* variables)", param_hint="--dsn"
        )
    # The output options' callbacks ran first and left their choice in the invocation's meta.
    ctx.obj = Context(
        dsn if dsn is not None else db.default_dsn(),
        tenant,
        str(actor) if actor else None,
        ctx.meta.get("scoreledger.fmt", "table"),
        ctx.meta.get("scoreledger.headers", True),
    )


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
    cli_learners.attempt_group,
    cli_learners.learner_group,
    cli_learners.intervention_group,
):
    main.add_command(command)


def _leaf_commands(group: click.Group):
    for command in group.commands.values():
        if isinstance(command, click.Group):
            yield from _leaf_commands(command)
        else:
            yield command


# Every command takes the output options after its name too (one definition: context.output_params).
for command in _leaf_commands(main):
    output_options(command)


if __name__ == "__main__":  # pragma: no cover
    main()
