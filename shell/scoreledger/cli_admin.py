"""Commands that set things up and look after them: db, tenant, capability, check, demo."""

from __future__ import annotations

import sys

import click

from . import api, db
from .context import Context, handle_errors, pass_ctx
from .demo import run_demo
from .render import check_rows, emit_json, table

CAPABILITIES = click.Choice(["create_batch", "approve_batch", "apply_batch", "revert_batch"])

# --------------------------------------------------------------------- db


@click.group("db")
def db_group():
    """Create, migrate and inspect the database."""


@db_group.command("migrate")
@pass_ctx
@handle_errors
def db_migrate(c: Context):
    """Create the database if missing, apply migrations, reload sql/ (idempotent)."""
    report = db.migrate(c.dsn)
    if c.as_json:
        emit_json(report.__dict__)
        return
    if report.database_created:
        click.echo(f"created database {db.database_name(c.dsn)}")
    applied = ", ".join(report.migrations_applied) or "none pending"
    click.echo(f"migrations applied: {applied}")
    click.echo(f"definitions loaded: {len(report.sql_loaded)} files from sql/")


@db_group.command("status")
@pass_ctx
@handle_errors
def db_status(c: Context):
    """Applied and pending migrations; which sql/ definitions are loaded."""
    state = db.status(c.dsn)
    if c.as_json:
        emit_json(state)
        return
    table(state["migrations"])
    click.echo()
    table(state["definitions"])


# ----------------------------------------------------------------- tenant


@click.group("tenant")
def tenant_group():
    """Tenants."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--id", "tenant_id", default=None, help="use this uuid")
@pass_ctx
@handle_errors
def tenant_create(c: Context, name, tenant_id):
    """Create a tenant (idempotent on NAME)."""
    with c.acting(need_tenant=False) as conn:
        new_id = api.create_tenant(conn, name, tenant_id)
    if c.as_json:
        emit_json({"tenant_id": new_id, "name": name})
    else:
        click.echo(f"tenant {name}: {new_id}")


@tenant_group.command("list")
@pass_ctx
@handle_errors
def tenant_list(c: Context):
    """List tenants."""
    with c.acting(need_tenant=False) as conn:
        rows = api.list_tenants(conn)
    if c.as_json:
        emit_json(rows)
    else:
        table(rows, ["tenant_id", "name", "require_approval", "enforce_capabilities", "created_at"])


@tenant_group.command("policy")
@click.option("--require-approval/--no-require-approval", default=None, help="apply needs an approved batch")
@click.option(
    "--enforce-capabilities/--no-enforce-capabilities", default=None, help="every batch action needs a capability"
)
@pass_ctx
@handle_errors
def tenant_policy(c: Context, require_approval, enforce_capabilities):
    """Show or set the tenant's governance policy (audited)."""
    with c.acting() as conn:
        if require_approval is None and enforce_capabilities is None:
            policy = api.tenant_policy(conn)
        else:
            policy = api.set_tenant_policy(conn, require_approval, enforce_capabilities)
    if c.as_json:
        emit_json(policy)
    else:
        click.echo(
            f"require_approval: {str(policy['require_approval']).lower()}, "
            f"enforce_capabilities: {str(policy['enforce_capabilities']).lower()}"
        )


# ------------------------------------------------------------- capability


@click.group("capability")
def capability_group():
    """Who may create, approve, apply and revert batches (when enforced)."""


@capability_group.command("grant")
@click.argument("user_id")
@click.argument("capability", type=CAPABILITIES)
@pass_ctx
@handle_errors
def capability_grant(c: Context, user_id, capability):
    """Grant CAPABILITY to USER_ID (audited)."""
    with c.acting() as conn:
        changed = api.grant_capability(conn, user_id, capability)
    if c.as_json:
        emit_json({"user_id": user_id, "capability": capability, "granted": changed})
    else:
        click.echo(f"{capability} {'granted to' if changed else 'already held by'} {user_id}")


@capability_group.command("revoke")
@click.argument("user_id")
@click.argument("capability", type=CAPABILITIES)
@pass_ctx
@handle_errors
def capability_revoke(c: Context, user_id, capability):
    """Revoke CAPABILITY from USER_ID (audited)."""
    with c.acting() as conn:
        changed = api.revoke_capability(conn, user_id, capability)
    if c.as_json:
        emit_json({"user_id": user_id, "capability": capability, "revoked": changed})
    else:
        click.echo(f"{capability} {'revoked from' if changed else 'was not held by'} {user_id}")


@capability_group.command("list")
@pass_ctx
@handle_errors
def capability_list(c: Context):
    """Capabilities held in this tenant."""
    with c.acting() as conn:
        rows = api.list_capabilities(conn)
    if c.as_json:
        emit_json(rows)
    else:
        table(rows, ["user_id", "capability", "granted_by", "granted_at"], empty="no capabilities granted")


# ------------------------------------------------------------ check, demo


@click.command("check")
@pass_ctx
@handle_errors
def check(c: Context):
    """Verify every invariant over the whole database; exit 1 on any breach.

    Runs as the connecting login role (the owner or a superuser), not as
    scoreledger_app: it reads across tenants.
    """
    with db.connect(c.dsn) as conn:
        rows = api.check_invariants(conn)
    breaches = [r for r in rows if r["breaches"]]
    if c.as_json:
        emit_json({"ok": not breaches, "checks": rows})
    else:
        table(check_rows(rows), ["status", "scope", "invariant", "breaches", "sample"])
    if breaches:
        if not c.as_json:
            click.echo(f"{len(breaches)} invariant(s) breached", err=True)
        sys.exit(1)


@click.command("demo")
@click.option("--learners", default=300, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--seed", default=7, show_default=True)
@pass_ctx
@handle_errors
def demo(c: Context, learners, seed):
    """Load a realistic sample and walk the whole lifecycle."""
    run_demo(c, learners=learners, seed=seed)
