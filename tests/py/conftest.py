"""Real PostgreSQL for every test: the schema is migrated once into a
template database, and each test gets a fresh clone (pytest-postgresql's
janitor drops it afterwards)."""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from bad_input import world  # noqa: F401  (the bad-input properties' fixture: two populated tenants)
from click.testing import CliRunner
from helpers import create_tenant
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pytest_postgresql import factories
from scoreledger import db
from scoreledger.cli import main

_base = conninfo_to_dict(os.environ.get("DATABASE_URL", "")) if os.environ.get("DATABASE_URL") else {}
PG_HOST = _base.get("host") or os.environ.get("PGHOST") or "127.0.0.1"
PG_PORT = int(_base.get("port") or os.environ.get("PGPORT") or 5432)
PG_USER = _base.get("user") or os.environ.get("PGUSER") or "postgres"
TEMPLATE_PREFIX = f"scoreledger_pytest_{os.getpid()}"


def _migrate_template(host, port, user, dbname, password=None, **_):
    db.migrate(make_conninfo(host=host, port=port, user=user, dbname=dbname, password=password))


postgresql_server = factories.postgresql_noproc(
    host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=TEMPLATE_PREFIX, load=[_migrate_template]
)
postgresql = factories.postgresql("postgresql_server")


@pytest.fixture
def dsn(postgresql: psycopg.Connection) -> str:
    info = postgresql.info
    return make_conninfo(host=info.host, port=info.port, user=info.user, dbname=info.dbname)


@pytest.fixture
def tenant(dsn) -> str:
    with db.acting(dsn) as conn:
        return create_tenant(conn, f"tenant-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def actor() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def acting(dsn, tenant, actor):
    """acting() -> a transaction as scoreledger_app in the test tenant."""

    @contextmanager
    def _acting(as_tenant: str | None = None, as_actor: str | None = None):
        with db.acting(dsn, as_tenant or tenant, as_actor or actor) as conn:
            yield conn

    return _acting


@pytest.fixture
def run(dsn):
    """run(*args, tenant=, actor=, input=) -> the click result of one
    `scoreledger --dsn <test database> ...` command."""
    runner = CliRunner()

    def _run(*args, tenant=None, actor=None, input=None):
        base = ["--dsn", dsn]
        if tenant:
            base += ["--tenant", tenant]
        if actor:
            base += ["--actor", actor]
        return runner.invoke(main, base + list(args), input=input, catch_exceptions=False)

    return _run
