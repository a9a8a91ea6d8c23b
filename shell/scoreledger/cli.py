"""The `scoreledger` command: a thin Click layer over scoreledger.api."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
from pathlib import Path

import click
import psycopg

from . import api, db
from .output import cell, emit_json, table

IMPORT_CHUNK = 1000


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


pass_ctx = click.make_pass_decorator(Context)

# --------------------------------------------------------------------- db


@main.group("db")
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


@main.group("tenant")
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


# ----------------------------------------------------------------- import


@main.group("import")
def import_group():
    """Load evaluations, assignments and submissions."""


def _read_json_file(path: str):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc


@import_group.command("evaluation")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
@handle_errors
def import_evaluation(c: Context, file):
    """Publish an evaluation version (FILE: one document, or an array of them)."""
    docs = _read_json_file(file)
    docs = docs if isinstance(docs, list) else [docs]
    with c.acting() as conn:
        ids = [api.import_evaluation_version(conn, d) for d in docs]
    if c.as_json:
        emit_json({"evaluation_version_ids": ids})
    else:
        for d, i in zip(docs, ids, strict=True):
            title = d.get("evaluation_title") if isinstance(d, dict) else None
            click.echo(f"evaluation version {i} ({title}, version {d.get('version_no')})")


@import_group.command("assignment")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
@handle_errors
def import_assignment(c: Context, file):
    """Create or update assignments (FILE: one document, or an array)."""
    docs = _read_json_file(file)
    docs = docs if isinstance(docs, list) else [docs]
    with c.acting() as conn:
        ids = [api.upsert_assignment(conn, d) for d in docs]
    if c.as_json:
        emit_json({"assignment_ids": ids})
    else:
        click.echo(f"{len(ids)} assignment(s) saved")


def _relabel(message: str, first_line_numbers: list[int]) -> str:
    """submissions[3].answers[0] -> line 42: answers[0], for the operator."""

    def repl(match: re.Match) -> str:
        index = int(match.group(1))
        line = first_line_numbers[index] if index < len(first_line_numbers) else index
        return f"line {line}: "

    return re.sub(r"submissions\[(\d+)\]\.?", repl, message)


@import_group.command("submissions")
@click.argument("file", type=click.File("r"))
@click.option("--batch-size", default=IMPORT_CHUNK, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--silent", is_flag=True, help="no progress bar")
@pass_ctx
@handle_errors
def import_submissions(c: Context, file, batch_size, silent):
    """Record submissions from JSON lines (FILE or - for stdin), in committed chunks.

    Each chunk is one call of record_submissions: all of it or none of it.
    Re-running an import is safe: identical submissions are no-ops.
    """
    total_bytes = os.fstat(file.fileno()).st_size if file is not sys.stdin and file.seekable() else None
    show = not (silent or c.as_json) and total_bytes and sys.stderr.isatty()
    recorded = seen = 0
    chunk: list[dict] = []
    lines: list[int] = []

    def flush(bar):
        nonlocal recorded, chunk, lines
        if not chunk:
            return
        try:
            with c.acting() as conn:
                recorded += api.record_submissions(conn, chunk)
        except psycopg.Error as exc:
            done = f" ({recorded} recorded before it, committed)" if recorded else ""
            raise click.ClickException(_relabel(one_line(exc), lines) + done) from None
        chunk, lines = [], []

    bar_cm = click.progressbar(length=total_bytes, label="recording", file=sys.stderr) if show else None
    bar = bar_cm.__enter__() if bar_cm else None
    try:
        for number, raw in enumerate(file, start=1):
            if bar:
                bar.update(len(raw.encode()))
            if not raw.strip():
                continue
            try:
                chunk.append(json.loads(raw))
            except json.JSONDecodeError as exc:
                flush(bar)
                raise ValueError(f"line {number}: not valid JSON ({exc.msg})") from exc
            lines.append(number)
            seen += 1
            if len(chunk) >= batch_size:
                flush(bar)
        flush(bar)
    finally:
        if bar_cm:
            bar_cm.__exit__(None, None, None)
    result = {"documents": seen, "recorded": recorded, "already_recorded": seen - recorded}
    if c.as_json:
        emit_json(result)
    else:
        click.echo(f"{seen} submissions read: {recorded} recorded, {seen - recorded} already recorded")


# ------------------------------------------------------------------ batch


@main.group("batch")
def batch_group():
    """Correction batches: create, inspect, apply, revert."""


@batch_group.command("create")
@click.option("--reason", required=True, help="why the scores change (kept with the batch)")
@click.option(
    "--file", "file_", type=click.Path(exists=True, dir_okay=False), help="a corrections document (JSON array)"
)
@click.option("--drop-item", multiple=True, metavar="EV:QV", help="drop an item from scoring")
@click.option("--replace-key", multiple=True, metavar="EV:QV=OPT[,OPT]", help="replace an item's key")
@click.option("--mark-correct", multiple=True, metavar="EV:QV", help="give everyone full points on an item")
@pass_ctx
@handle_errors
def batch_create(c: Context, reason, file_, drop_item, replace_key, mark_correct):
    """Create a draft correction batch (validated by the database)."""
    try:
        corrections = api.shorthand_corrections(drop_item, replace_key, mark_correct)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if file_:
        document = _read_json_file(file_)
        corrections = (document if isinstance(document, list) else [document]) + corrections
    if not corrections:
        raise click.UsageError("give --file or at least one of --drop-item, --replace-key, --mark-correct")
    with c.acting() as conn:
        batch_id = api.create_correction_batch(conn, reason, corrections)
    if c.as_json:
        emit_json({"batch_id": batch_id, "status": "draft"})
    else:
        click.echo(f"draft batch {batch_id}: {len(corrections)} correction(s)")
        click.echo(f"next: scoreledger batch show {batch_id}   then: scoreledger batch apply {batch_id}")


WAITING_FOR = {
    "draft": "submit for review, or apply",
    "pending_review": "approval by someone other than its creator",
    "approved": "apply",
    "rejected": "edit (back to draft) or discard",
    "applied": "nothing (revertible)",
    "reverted": "nothing (final)",
    "discarded": "nothing (final)",
}
STATUS_ORDER = ["pending_review", "approved", "draft", "rejected", "applied", "reverted", "discarded"]


@batch_group.command("list")
@click.option("--status", default=None, help="only batches in this status")
@pass_ctx
@handle_errors
def batch_list(c: Context, status):
    """The action center: batches grouped by status, with what each waits for.

    Open batches (draft, under review, approved) show their preview figures:
    affected submissions and how many will flip pass<->fail.
    """
    with c.acting() as conn:
        rows = api.list_correction_batches(conn, status)
        policy = api.tenant_policy(conn)
        previews = {
            r["id"]: api.preview_correction_batch(conn, r["id"])
            for r in rows
            if r["status"] in ("draft", "pending_review", "approved") and not c.as_json
        }
    if c.as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no correction batches")
        return
    waiting = dict(WAITING_FOR)
    if policy["require_approval"]:
        waiting["draft"] = "submit for review (this tenant requires approval)"
    for group in STATUS_ORDER:
        members = [r for r in rows if r["status"] == group]
        if not members:
            continue
        click.secho(f"\n{group} ({len(members)}) — waiting for: {waiting[group]}", bold=True)
        table(
            [
                {
                    "id": r["id"],
                    "reason": r["reason"] if len(r["reason"]) <= 48 else r["reason"][:47] + "…",
                    "by": str(r["created_by"])[:8],
                    "created_at": r["created_at"].strftime("%Y-%m-%d %H:%M"),
                    "types": r["correction_types"],
                    "affected": r["submissions_affected"]
                    if r["submissions_affected"] is not None
                    else previews.get(r["id"], {}).get("submissionsAffected"),
                    "pass→fail": previews[r["id"]]["passToFail"] if r["id"] in previews else "",
                    "fail→pass": previews[r["id"]]["failToPass"] if r["id"] in previews else "",
                }
                for r in members
            ]
        )


def _print_batch(doc: dict) -> None:
    click.echo(f"batch {doc['id']}  [{doc['status']}]")
    click.echo(f"  why:     {doc['reason']}")
    click.echo(f"  who:     created by {doc['created_by']} at {doc['created_at']}")
    if doc.get("applied_at"):
        click.echo(f"  applied: by {doc.get('applied_by')} at {doc['applied_at']}")
    if doc.get("apply_result"):
        r = doc["apply_result"]
        click.echo(f"  effect:  {r['submissions_rescored']} submissions rescored, {r['scores_changed']} scores changed")
    if doc.get("reverts_batch_id"):
        click.echo(f"  reverts: batch {doc['reverts_batch_id']}")
    if doc.get("reverted_by_batch_id"):
        click.echo(f"  reverted by: batch {doc['reverted_by_batch_id']}")
    click.echo("  corrections:")
    for n, corr in enumerate(doc["corrections"]):
        detail = ""
        if corr.get("correct"):
            detail = f" -> key {','.join(corr['correct'])}"
        if corr.get("submission_ids"):
            detail = f" (only {len(corr['submission_ids'])} listed submissions)"
        click.echo(
            f"    [{n}] {corr['type']:<12} item {corr['question_version_id']} of version "
            f"{corr['evaluation_version_id']}{detail}"
        )
    click.echo("  timeline:")
    for e in doc["events"]:
        arrow = f"{e['from'] or 'new'} -> {e['to']}"
        note = f"  ({e['note']})" if e.get("note") else ""
        click.echo(f"    {e['at']}  {arrow:<24} by {e['actor']}{note}")


@batch_group.command("show")
@click.argument("batch_id")
@pass_ctx
@handle_errors
def batch_show(c: Context, batch_id):
    """A batch: payload, who/when/why, counts and its timeline."""
    with c.acting() as conn:
        doc = api.get_correction_batch(conn, batch_id)
    if c.as_json:
        emit_json(doc)
    else:
        _print_batch(doc)


def _percent_buckets(rows: list[dict], score_key: str, max_key: str) -> list[int]:
    """Counts of score/max_score in ten 10% bands (presentation only)."""
    buckets = [0] * 10
    for r in rows:
        fraction = float(r[score_key]) / float(r[max_key]) if r[max_key] else 0.0
        buckets[min(9, max(0, int(fraction * 10)))] += 1
    return buckets


def _print_preview(doc: dict, rows: list[dict] | None, verb: str = "rescored") -> None:
    affected = doc["submissionsAffected"]
    click.echo(
        f"{affected} submissions will be {verb}: {doc['scoreUp']} up, {doc['scoreDown']} down, "
        f"{doc['scoreUnchanged']} unchanged; {doc['failToPass']} will then pass, {doc['passToFail']} will then fail."
    )
    for a in doc["assignments"]:
        where = f"‹{a['title']}›" + (f" ({a['programme']})" if a.get("programme") else "")
        parts = []
        if a["failToPass"]:
            parts.append(f"{len(a['failToPass'])} learner(s) will then pass {where}")
        if a["passToFail"]:
            shown = ", ".join(a["passToFail"][:5]) + (" …" if len(a["passToFail"]) > 5 else "")
            parts.append(f"{len(a['passToFail'])} will fail: {shown}")
        if not parts:
            parts.append(f"no learner's outcome changes at {where}")
        click.echo("  " + "; ".join(parts) + f" ({a['unchanged']} unchanged, policy {a['attempt_policy']})")
    if rows:
        before = _percent_buckets(rows, "old_score", "old_max_score")
        after = _percent_buckets(rows, "new_score", "new_max_score")
        width = max(1, max(before + after))
        click.echo("  score distribution of the affected submissions (before | after):")
        for band in range(9, -1, -1):
            bar_before = "#" * round(20 * before[band] / width)
            bar_after = "#" * round(20 * after[band] / width)
            click.echo(
                f"    {band * 10:3d}-{band * 10 + 10:<3d}% {bar_before:>20} {before[band]:>6} | {after[band]:<6} {bar_after}"
            )


@batch_group.command("preview")
@click.argument("batch_id")
@click.option(
    "--csv", "csv_file", type=click.Path(dir_okay=False, writable=True), help="write the per-submission changes"
)
@pass_ctx
@handle_errors
def batch_preview(c: Context, batch_id, csv_file):
    """Dry run: who will pass, who will fail, before anything is applied."""
    with c.acting() as conn:
        doc = api.preview_correction_batch(conn, batch_id)
        rows = api.preview_correction_batch_changes(conn, batch_id)
    if csv_file:
        import csv

        with open(csv_file, "w", newline="") as fh:
            writer = csv.DictWriter(
                fh,
                fieldnames=[
                    "submission_id",
                    "user_id",
                    "assignment_id",
                    "old_score",
                    "new_score",
                    "old_max_score",
                    "new_max_score",
                    "old_passed",
                    "new_passed",
                ],
            )
            writer.writeheader()
            for r in rows:
                writer.writerow({k: cell(v) for k, v in r.items()})
    if c.as_json:
        emit_json(doc)
        return
    _print_preview(doc, rows)
    if csv_file:
        click.echo(f"per-submission changes written to {csv_file}")


@batch_group.command("apply")
@click.argument("batch_id")
@click.option("--yes", is_flag=True, help="apply without showing the preview and asking")
@pass_ctx
@handle_errors
def batch_apply(c: Context, batch_id, yes):
    """Apply a batch: rescore every affected submission, one history row each.

    Shows the preview and asks first, unless --yes or --json.
    """
    if not (yes or c.as_json):
        with c.acting() as conn:
            status = api.get_correction_batch(conn, batch_id)["status"]
            doc = api.preview_correction_batch(conn, batch_id) if status in ("draft", "approved") else None
        if doc is not None:
            _print_preview(doc, None, verb="rescored")
            click.confirm("apply this batch?", abort=True, err=True)
    with c.acting() as conn:
        result = api.apply_correction_batch(conn, batch_id)
    if c.as_json:
        emit_json(result)
        return
    if result["already_applied"]:
        click.echo(f"batch {batch_id} was already applied (nothing written)")
    click.echo(
        f"batch {batch_id}: {result['submissions_rescored']} submissions rescored, "
        f"{result['scores_changed']} scores changed"
    )


@batch_group.command("revert")
@click.argument("batch_id")
@click.option("--reason", required=True, help="why the batch is reverted")
@pass_ctx
@handle_errors
def batch_revert(c: Context, batch_id, reason):
    """Revert an applied batch with a compensating batch (nothing is deleted)."""
    with c.acting() as conn:
        compensating = api.revert_correction_batch(conn, batch_id, reason)
        doc = api.get_correction_batch(conn, compensating)
    if c.as_json:
        emit_json(doc["apply_result"] | {"reverted_batch_id": batch_id})
        return
    r = doc["apply_result"]
    click.echo(
        f"batch {batch_id} reverted by batch {compensating}: {r['submissions_rescored']} submissions rescored, "
        f"{r['scores_changed']} scores changed"
    )


def _batch_transition(c: Context, action: str, batch_id: str, note: str | None = None):
    with c.acting() as conn:
        result = api.batch_action(conn, action, batch_id, note)
    if c.as_json:
        emit_json(result)
    else:
        click.echo(f"batch {batch_id}: {result['previous_status']} -> {result['status']}")


@batch_group.command("submit")
@click.argument("batch_id")
@pass_ctx
@handle_errors
def batch_submit(c: Context, batch_id):
    """Submit a draft for review."""
    _batch_transition(c, "submit", batch_id)


@batch_group.command("approve")
@click.argument("batch_id")
@click.option("--note", default=None, help="the approver's note")
@pass_ctx
@handle_errors
def batch_approve(c: Context, batch_id, note):
    """Approve a batch under review (never your own: dual control)."""
    _batch_transition(c, "approve", batch_id, note)


@batch_group.command("reject")
@click.argument("batch_id")
@click.option("--note", required=True, help="why it is rejected")
@pass_ctx
@handle_errors
def batch_reject(c: Context, batch_id, note):
    """Reject a batch under review, saying why."""
    _batch_transition(c, "reject", batch_id, note)


@batch_group.command("discard")
@click.argument("batch_id")
@pass_ctx
@handle_errors
def batch_discard(c: Context, batch_id):
    """Discard a batch that was never applied."""
    _batch_transition(c, "discard", batch_id)


@batch_group.command("edit")
@click.argument("batch_id")
@click.option("--reason", default=None)
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False), help="new corrections document")
@click.option("--drop-item", multiple=True, metavar="EV:QV")
@click.option("--replace-key", multiple=True, metavar="EV:QV=OPT[,OPT]")
@click.option("--mark-correct", multiple=True, metavar="EV:QV")
@pass_ctx
@handle_errors
def batch_edit(c: Context, batch_id, reason, file_, drop_item, replace_key, mark_correct):
    """Edit a batch not yet applied; a submitted or approved batch goes back to draft."""
    try:
        corrections = api.shorthand_corrections(drop_item, replace_key, mark_correct)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if file_:
        document = _read_json_file(file_)
        corrections = (document if isinstance(document, list) else [document]) + corrections
    if not corrections and reason is None:
        raise click.UsageError("nothing to change: give --reason and/or new corrections")
    with c.acting() as conn:
        result = api.update_correction_batch(conn, batch_id, reason, corrections or None)
    if c.as_json:
        emit_json(result)
    else:
        click.echo(f"batch {batch_id} edited: {result['previous_status']} -> {result['status']}")


# ------------------------------------------------------------- capability


@main.group("capability")
def capability_group():
    """Who may create, approve, apply and revert batches (when enforced)."""


@capability_group.command("grant")
@click.argument("user_id")
@click.argument("capability", type=click.Choice(["create_batch", "approve_batch", "apply_batch", "revert_batch"]))
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
@click.argument("capability", type=click.Choice(["create_batch", "approve_batch", "apply_batch", "revert_batch"]))
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


# ------------------------------------------------------------- submission


@main.group("submission")
def submission_group():
    """Submissions."""


@submission_group.command("history")
@click.argument("submission_id")
@pass_ctx
@handle_errors
def submission_history(c: Context, submission_id):
    """Every score the submission has had, with the reason for each change."""
    with c.acting() as conn:
        rows = api.submission_history(conn, submission_id)
        current = api.submission(conn, submission_id)
    if c.as_json:
        emit_json({"submission": current, "history": rows})
        return
    click.echo(
        f"submission {submission_id}: attempt {current['attempt_no']} of user {current['user_id']}, "
        f"now {current['score']}/{current['max_score']} ({'pass' if current['passed'] else 'fail'})"
    )
    table(
        [
            {
                "history_id": r["history_id"],
                "score": f"{r['score']}/{r['max_score']}",
                "at": r["created_at"],
                "change": "initial scoring"
                if r["correction_batch_id"] is None
                else ("revert: " if r["reverts_batch_id"] else "")
                + f"{r['reason']} (batch {r['correction_batch_id']})",
            }
            for r in rows
        ]
    )


# ------------------------------------------------------------------ check


@main.command("check")
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
        table(
            [{"status": "FAIL" if r["breaches"] else "ok", **r} for r in rows],
            ["status", "scope", "invariant", "breaches", "sample"],
        )
    if breaches:
        if not c.as_json:
            click.echo(f"{len(breaches)} invariant(s) breached", err=True)
        sys.exit(1)


# ------------------------------------------------------------------- demo


@main.command("demo")
@click.option("--learners", default=300, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--seed", default=7, show_default=True)
@pass_ctx
@handle_errors
def demo(c: Context, learners, seed):
    """Load a realistic sample and walk the whole lifecycle."""
    from .demo import run_demo

    run_demo(c, learners=learners, seed=seed)


# The score layer's commands (import results, scores ...): shell/scoreledger/cli_scores.py.
from .cli_scores import register as _register_scores  # noqa: E402

_register_scores(main, import_group)


if __name__ == "__main__":  # pragma: no cover
    main()
