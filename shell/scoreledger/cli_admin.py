"""Commands that set things up and look after them: db, tenant, capability, check, demo."""

from __future__ import annotations

import sys

import click

from . import api, db
from .context import Context, with_context
from .demo import run_demo
from .render import check_rows, print_check, table

CAPABILITIES = click.Choice(["create_batch", "approve_batch", "apply_batch", "revert_batch", "manage_policy"])

# --------------------------------------------------------------------- db


@click.group("db")
def db_group():
    """Create, migrate and inspect the database."""


@db_group.command("migrate")
@with_context
def db_migrate(c: Context):
    """Create the database if missing, apply migrations, reload sql/ (idempotent)."""
    report = db.migrate(c.dsn)

    def human():
        if report.database_created:
            click.echo(f"created database {db.database_name(c.dsn)}")
        applied = ", ".join(report.migrations_applied) or "none pending"
        click.echo(f"migrations applied: {applied}")
        click.echo(f"definitions loaded: {len(report.sql_loaded)} files from sql/")

    c.emit(report.__dict__, human)


@db_group.command("status")
@with_context
def db_status(c: Context):
    """Applied and pending migrations; which sql/ definitions are loaded.

    Exits 1 when a migration is pending or a definition is not loaded as shipped
    (`scoreledger db migrate` brings both up to date).
    """
    state = db.status(c.dsn)
    rows = [
        {"kind": "migration", "name": m["migration"], "state": m["state"], "loaded_at": None}
        for m in state["migrations"]
    ]
    rows += [
        {"kind": "definition", "name": d["file"], "state": d["state"], "loaded_at": d["loaded_at"]}
        for d in state["definitions"]
    ]
    behind = [r for r in rows if r["state"] not in ("applied", "loaded")]

    def human():
        table(state["migrations"], headers=c.headers)
        click.echo()
        table(state["definitions"], headers=c.headers)

    c.emit(state | {"up_to_date": not behind}, human, rows=rows)
    if behind:
        if not c.for_program:
            click.echo(
                f"{len(behind)} migration(s)/definition(s) not up to date: run `scoreledger db migrate`", err=True
            )
        sys.exit(1)


# ----------------------------------------------------------------- tenant


@click.group("tenant")
def tenant_group():
    """Tenants."""


@tenant_group.command("create")
@click.argument("name")
@click.option("--id", "tenant_id", default=None, type=click.UUID, help="use this uuid")
@with_context
def tenant_create(c: Context, name, tenant_id):
    """Create a tenant (idempotent on NAME)."""
    with c.acting(need_tenant=False) as conn:
        new_id = api.create_tenant(conn, name, tenant_id)
    c.emit({"tenant_id": new_id, "name": name}, lambda: click.echo(f"tenant {name}: {new_id}"))


@tenant_group.command("list")
@with_context
def tenant_list(c: Context):
    """List tenants."""
    with c.acting(need_tenant=False) as conn:
        rows = api.list_tenants(conn)
    c.rows(rows, ["tenant_id", "name", "require_approval", "enforce_capabilities", "created_at"], empty="no tenants")


def _show_policy(policy: dict) -> None:
    click.echo(
        f"require_approval: {str(policy['require_approval']).lower()}, "
        f"enforce_capabilities: {str(policy['enforce_capabilities']).lower()}"
    )
    pending = policy.get("pending_change")
    if pending:
        lowered = " and ".join(
            f"{name} off" for name in ("require_approval", "enforce_capabilities") if pending[name] is False
        )
        click.echo(f"pending: change {pending['change_id']} turns {lowered} (requested by {pending['requested_by']})")
        click.echo(f"  another user confirms it with: scoreledger tenant confirm-policy {pending['change_id']}")


@tenant_group.command("policy")
@click.option("--require-approval/--no-require-approval", default=None, help="apply needs an approved batch")
@click.option(
    "--enforce-capabilities/--no-enforce-capabilities", default=None, help="every batch action needs a capability"
)
@with_context
def tenant_policy(c: Context, require_approval, enforce_capabilities):
    """Show or set the tenant's governance policy (audited).

    Raising protection takes effect at once; turning a setting off only
    requests it: another user confirms with `tenant confirm-policy`."""
    with c.acting() as conn:
        if require_approval is None and enforce_capabilities is None:
            policy = api.tenant_policy(conn)
        else:
            policy = api.set_tenant_policy(conn, require_approval, enforce_capabilities)
    c.emit(policy, lambda: _show_policy(policy))


@tenant_group.command("confirm-policy")
@click.argument("change_id", type=click.UUID)
@with_context
def tenant_confirm_policy(c: Context, change_id):
    """Confirm a pending lowering of the policy requested by another user (audited)."""
    with c.acting() as conn:
        policy = api.confirm_tenant_policy(conn, change_id)
    c.emit(policy, lambda: (click.echo(f"policy change {change_id} confirmed"), _show_policy(policy)))


# ------------------------------------------------------------- capability


@click.group("capability")
def capability_group():
    """Who may create, approve, apply and revert batches (when enforced)."""


def _capability_command(verb: str, preposition: str, change, key: str, done: str, not_done: str) -> None:
    """`capability grant|revoke USER_ID CAPABILITY` (the database audits the change)."""

    @capability_group.command(verb, help=f"{verb.capitalize()} CAPABILITY {preposition} USER_ID (audited).")
    @click.argument("user_id", type=click.UUID)
    @click.argument("capability", type=CAPABILITIES)
    @with_context
    def command(c: Context, user_id, capability):
        with c.acting() as conn:
            changed = change(conn, user_id, capability)
        c.emit(
            {"user_id": user_id, "capability": capability, key: changed},
            lambda: click.echo(f"{capability} {done if changed else not_done} {user_id}"),
        )


_capability_command("grant", "to", api.grant_capability, "granted", done="granted to", not_done="already held by")
_capability_command("revoke", "from", api.revoke_capability, "revoked", done="revoked from", not_done="was not held by")


@capability_group.command("list")
@with_context
def capability_list(c: Context):
    """Capabilities held in this tenant."""
    with c.acting() as conn:
        rows = api.list_capabilities(conn)
    c.rows(rows, ["user_id", "capability", "granted_by", "granted_at"], empty="no capabilities granted")


# ------------------------------------------------------------ check, demo


@click.command("check")
@click.option("--verbose", "-v", is_flag=True, help="every column whole: the invariants' full text and sample ids")
@with_context
def check(c: Context, verbose):
    """Verify every invariant over the whole database; exit 1 on any breach.

    Runs as the connecting login role (the owner or a superuser), not as
    scoreledger_app: it reads across tenants. The table fits 100 columns;
    --verbose shows the breaches' sample ids and the invariants in full.
    """
    with db.connect(c.dsn) as conn:
        rows = api.check_invariants(conn)
    breaches = [r for r in rows if r["breaches"]]

    c.emit({"ok": not breaches, "checks": rows}, lambda: print_check(rows, verbose, c.headers), rows=check_rows(rows))
    if breaches:
        if not c.for_program:
            more = "" if verbose else " (sample ids: scoreledger check --verbose)"
            click.echo(f"{len(breaches)} invariant(s) breached{more}", err=True)
        sys.exit(1)


@click.command("demo")
@click.option("--learners", default=300, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--seed", default=7, show_default=True)
@with_context
def demo(c: Context, learners, seed):
    """Load a realistic sample and walk the whole lifecycle."""
    run_demo(c, learners=learners, seed=seed)
