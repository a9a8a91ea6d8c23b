"""What every bench shares: the scale, a scratch database, the timed call and the report.

Imports none of the benches, so each of them (and `python -m bench`) may import it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.types.json import Jsonb
from scoreledger import db

CHUNK = 5000


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) of server process PID, when the server runs on this machine (else None):
    on a shared machine, a call's own work whatever share of the CPUs others leave it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


RESULTS = Path(__file__).parent / "results"


def parse_scale(text: str) -> int:
    text = text.lower().replace("_", "")
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * factor)


@contextmanager
def scratch_database(dsn: str | None, name: str, keep: bool) -> Iterator[str]:
    """A freshly migrated database NAME on the server of DSN (dropped first, and afterwards unless KEEP)."""
    dsn = make_conninfo(dsn or db.default_dsn(), dbname=name)
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as admin:
        admin.execute(drop)
    db.migrate(dsn)
    try:
        yield dsn
    finally:
        if not keep:
            with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as admin:
                admin.execute(drop)


def publish_content(conn, items: int, title: str) -> list[tuple[str, list[str]]]:
    """The bench's two evaluation versions ("main", "small") of ITEMS single-choice items (key B), published
    in the tenant of CONN's context: [(version id, question version ids)] in that order."""
    versions = []
    for label in ("main", "small"):
        questions = [
            {
                "question_id": str(uuid.uuid4()),
                "question_version_id": str(uuid.uuid4()),
                "kind": "single_choice",
                "prompt": f"Question {i}",
                "options": ["A", "B", "C", "D"],
                "correct": ["B"],
                "points": 1,
            }
            for i in range(items)
        ]
        doc = {
            "evaluation_id": str(uuid.uuid4()),
            "evaluation_title": f"{title} {label}",
            "version_no": 1,
            "pass_mark": 0.6,
            "items": questions,
        }
        version = conn.execute("SELECT scoreledger.import_evaluation_version(%s)", [Jsonb(doc)]).fetchone()[0]
        versions.append((str(version), [q["question_version_id"] for q in questions]))
    return versions


def write_results(prefix: str, document: dict) -> None:
    """bench/results/PREFIX-STAMP.json, with the stamp in the document too."""
    RESULTS.mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS / f"{prefix}-{stamp}.json"
    out.write_text(json.dumps({"at": stamp, **document}, indent=2, default=str))
    print(f"results written to {out}")


class Bench:
    def __init__(self, dsn: str, scale: int, items: int):
        self.dsn = dsn
        self.scale = scale
        self.items = items
        self.rows: list[dict] = []
        self.conn = psycopg.connect(dsn, autocommit=True)
        if os.environ.get("BENCH_EXPLAIN"):
            # Plans of every statement slower than BENCH_EXPLAIN ms, nested ones included.
            self.conn.add_notice_handler(lambda d: print(d.message_primary, file=sys.stderr))
            for setting in (
                "LOAD 'auto_explain'",
                f"SET auto_explain.log_min_duration = {int(os.environ['BENCH_EXPLAIN'])}",
                "SET auto_explain.log_nested_statements = on",
                "SET auto_explain.log_analyze = on",
                "SET auto_explain.log_level = notice",
            ):
                self.conn.execute(setting)
        self.tenant = str(uuid.uuid4())
        self.actor = str(uuid.uuid4())

    def timed(self, sql: str, params=None, *, as_app: bool = False):
        with self.conn.transaction():
            if as_app:
                self.conn.execute("SET LOCAL ROLE scoreledger_app")
                self.conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.tenant, self.actor])
            start = time.perf_counter()
            result = self.conn.execute(sql, params).fetchone()
            elapsed = time.perf_counter() - start
        return elapsed, result

    def report(self, operation: str, n: int, seconds: float, bare_seconds: float | None, unit: str = "rows"):
        row = {
            "operation": operation,
            "n": n,
            "seconds": round(seconds, 3),
            "rate_per_s": round(n / seconds) if seconds else None,
            "bare_seconds": round(bare_seconds, 3) if bare_seconds else None,
            "ratio": round(seconds / bare_seconds, 2) if bare_seconds else None,
            "unit": unit,
        }
        self.rows.append(row)
        bare = f"  bare {bare_seconds:8.2f}s  ratio {row['ratio']:.2f}x" if bare_seconds else ""
        print(f"{operation:<44} {n:>9} {unit:<12} {seconds:8.2f}s  {row['rate_per_s'] or 0:>9}/s{bare}", flush=True)

    # ------------------------------------------------------------ setup

    def setup_content(self):
        with self.conn.transaction():
            self.conn.execute("SELECT scoreledger.create_tenant(%s, %s)", [f"bench-{self.tenant[:8]}", self.tenant])
            self.conn.execute("SET LOCAL ROLE scoreledger_app")
            self.conn.execute("SELECT scoreledger.set_context(%s, %s)", [self.tenant, self.actor])
            self.versions = publish_content(self.conn, self.items, "Bench")
