"""Connections, migrations and the tenant context.

The database owns every rule; this module only connects, migrates, and runs
SQL API calls as `scoreledger_app` inside a transaction with the tenant
context set.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import dict_row


def shipped_folder(name: str) -> Path:
    """A folder of SQL the package carries (`sql`, `migrations`), as a directory.

    A built wheel holds them inside the package (pyproject maps the repository's sql/ and
    migrations/ to scoreledger/sql and scoreledger/migrations), found through importlib.resources
    wherever the wheel is installed. An editable install of a checkout serves the package from
    shell/scoreledger, where they are not: there they are the checkout's own folders, so a file added
    to sql/ or migrations/ counts at once. yoyo reads migrations from a directory, hence a path.
    """
    shipped = resources.files("scoreledger").joinpath(name)
    if shipped.is_dir():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[2] / name
    if checkout.is_dir():
        return checkout
    raise ScoreledgerError(f"this scoreledger package carries no {name}/ folder (a broken install?)")


DEFAULT_DSN = "dbname=scoreledger"
# Any constant works; it only has to be the same for every migrator.
MIGRATE_LOCK_KEY = 0x5C0E1ED6


class ScoreledgerError(Exception):
    """An error to show the operator as one line."""


MIGRATIONS_DIR = shipped_folder("migrations")
SQL_DIR = shipped_folder("sql")


# libpq's own environment: when one of these is set, libpq (not this module) decides where to connect.
LIBPQ_ENV = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER", "PGSERVICE")


def default_dsn() -> str:
    """DATABASE_URL; else libpq's environment (PGHOST, PGPORT, PGDATABASE, PGUSER, PGSERVICE, …), the
    database defaulting to `scoreledger` unless PGDATABASE or a service names one; else dbname=scoreledger."""
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if any(os.environ.get(name) for name in LIBPQ_ENV):
        names_database = os.environ.get("PGDATABASE") or os.environ.get("PGSERVICE")
        return "" if names_database else DEFAULT_DSN
    return DEFAULT_DSN


def _with_dbname(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def database_name(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    return (
        params.get("dbname")
        or os.environ.get("PGDATABASE")
        or params.get("user")
        or os.environ.get("PGUSER", os.environ.get("USER", "postgres"))
    )


def connect(dsn: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(dsn, row_factory=dict_row, **kwargs)
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise ScoreledgerError(f"cannot connect to the database: {first_line}") from exc


def ensure_database(dsn: str) -> bool:
    """Create the target database if it is missing; True when created."""
    name = database_name(dsn)
    with connect(_with_dbname(dsn, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists:
            return False
        try:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
            return False
        return True


def _yoyo_uri(dsn: str) -> str:
    params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    dbname = params.pop("dbname", database_name(dsn))
    return f"postgresql+psycopg:///{dbname}?{urlencode(params)}" if params else f"postgresql+psycopg:///{dbname}"


def _yoyo():
    from yoyo import get_backend, read_migrations

    return get_backend, read_migrations


def sql_files() -> list[Path]:
    """The repeatable definitions, in load order (their numeric prefixes)."""
    return sorted(SQL_DIR.glob("*.sql"))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class MigrateReport:
    database_created: bool
    migrations_applied: list[str]
    sql_loaded: list[str]


def migrate(dsn: str) -> MigrateReport:
    """Create the database if needed, apply migrations, reload every sql/ file.

    A session advisory lock makes concurrent migrators take turns; the sql/
    files load in one transaction, so a failing definition leaves the
    previous ones in place, and whatever the files no longer define is
    dropped in that same transaction.
    """
    created = ensure_database(dsn)
    get_backend, read_migrations = _yoyo()
    # Advisory locks are per database; roles are per server. Taking the lock
    # in the maintenance database serialises migrators of every database.
    with connect(_with_dbname(dsn, "postgres"), autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATE_LOCK_KEY])
        try:
            backend = get_backend(_yoyo_uri(dsn))
            try:
                migrations = read_migrations(str(MIGRATIONS_DIR))
                with backend.lock():
                    pending = backend.to_apply(migrations)
                    applied = [m.id for m in pending]
                    backend.apply_migrations(pending)
            finally:
                backend.connection.close()
            loaded = load_sql(dsn)
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATE_LOCK_KEY])
    return MigrateReport(created, applied, loaded)


def load_sql(dsn: str) -> list[str]:
    files = sql_files()
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SET LOCAL client_min_messages = warning")
        # A policy has no CREATE OR REPLACE: the files create every one
        # afresh, so no file needs DROP POLICY IF EXISTS for its own names.
        conn.execute(
            """DO $$
               DECLARE p record;
               BEGIN
                 FOR p IN SELECT pol.polname, pol.polrelid::regclass AS rel
                          FROM pg_catalog.pg_policy pol JOIN pg_catalog.pg_class c ON c.oid = pol.polrelid
                          WHERE c.relnamespace IN ('scoreledger'::regnamespace, 'scoreledger_private'::regnamespace)
                 LOOP
                   EXECUTE format('DROP POLICY %I ON %s', p.polname, p.rel);
                 END LOOP;
               END $$"""
        )
        for path in files:
            try:
                conn.execute(path.read_text())
            except psycopg.Error as exc:
                raise ScoreledgerError(f"loading sql/{path.name} failed: {exc.diag.message_primary or exc}") from exc
        # Recorded once every file is in: the table's own policy is one of them.
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO scoreledger_private.sql_definitions (file_name, sha256, loaded_at)
                   VALUES (%s, %s, clock_timestamp())
                   ON CONFLICT (file_name) DO UPDATE SET sha256 = excluded.sha256, loaded_at = excluded.loaded_at""",
                [(path.name, _sha256(path)) for path in files],
            )
        conn.execute(
            "DELETE FROM scoreledger_private.sql_definitions WHERE NOT (file_name = ANY(%s))",
            [[p.name for p in files]],
        )
        try:
            conn.execute("SELECT scoreledger_private.drop_stale_definitions()").fetchall()
        except psycopg.Error as exc:
            raise ScoreledgerError(
                f"removing definitions that sql/ no longer makes failed: {exc.diag.message_primary or exc}"
            ) from exc
    return [p.name for p in files]


def status(dsn: str) -> dict:
    """Applied and pending migrations, and the state of each sql/ file."""
    get_backend, read_migrations = _yoyo()
    with connect(dsn, autocommit=True) as conn:
        has_schema = conn.execute(
            "SELECT to_regclass('scoreledger_private.sql_definitions') IS NOT NULL AS ok"
        ).fetchone()["ok"]
        loaded = {}
        if has_schema:
            loaded = {
                r["file_name"]: r
                for r in conn.execute("SELECT file_name, sha256, loaded_at FROM scoreledger_private.sql_definitions")
            }
    backend = get_backend(_yoyo_uri(dsn))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        applied_ids = set(backend.get_applied_migration_hashes()) if has_schema else set()
        migration_rows = []
        for m in migrations:
            migration_rows.append({"migration": m.id, "state": "applied" if m.hash in applied_ids else "pending"})
    finally:
        backend.connection.close()
    definition_rows = []
    for path in sql_files():
        row = loaded.get(path.name)
        if row is None:
            state = "not loaded"
        elif row["sha256"] == _sha256(path):
            state = "loaded"
        else:
            state = "changed since load"
        definition_rows.append(
            {"file": path.name, "state": state, "loaded_at": row["loaded_at"].isoformat() if row else None}
        )
    return {"migrations": migration_rows, "definitions": definition_rows}


@contextmanager
def acting(dsn: str, tenant: str | None = None, actor: str | None = None) -> Iterator[psycopg.Connection]:
    """A transaction as `scoreledger_app`, with the tenant context set.

    `tenant` may be a tenant id or a tenant name.
    """
    with connect(dsn) as conn, conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_app")
        if tenant:
            tenant_id = resolve_tenant(conn, tenant)
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant_id, actor])
        yield conn


def resolve_tenant(conn: psycopg.Connection, tenant: str) -> str:
    row = conn.execute(
        "SELECT tenant_id::text AS id FROM scoreledger.tenants WHERE tenant_id::text = lower(%s) OR name = %s",
        [tenant, tenant],
    ).fetchone()
    if row is None:
        raise ScoreledgerError(f"tenant {tenant!r} does not exist (create it with: scoreledger tenant create NAME)")
    return row["id"]
