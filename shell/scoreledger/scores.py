"""The score layer's library (contract section 8): producers, reads, backfill.

As in api.py, nothing here types, validates or decides anything: the SQL
writers do. These functions name the calls, and `backfill` drives
`scoreledger.backfill_scores` chunk by chunk, one committed transaction each.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from . import db
from .api import JsonLines, docs_argument

SOURCE_KINDS = ("evaluation_result", "annotation")
DEFAULT_BATCH = 5000

# --------------------------------------------------------------- producers


def register_evaluator(conn: psycopg.Connection, name: str, output_schema: dict | None = None) -> str:
    row = conn.execute(
        "SELECT scoreledger.register_evaluator(%s, %s) AS id", [name, Jsonb(output_schema or {})]
    ).fetchone()
    return str(row["id"])


def record_evaluation_result(
    conn: psycopg.Connection,
    evaluator: str,
    submission_id: str | None,
    payload,
    error: str | None = None,
    result_id: str | None = None,
) -> str:
    row = conn.execute(
        "SELECT scoreledger.record_evaluation_result(%s, %s, %s, %s, %s) AS id",
        [evaluator, submission_id, Jsonb(payload), error, result_id],
    ).fetchone()
    return str(row["id"])


def record_evaluation_results(conn: psycopg.Connection, docs: list[dict] | JsonLines) -> int:
    sql, param = docs_argument(docs)
    return conn.execute(f"SELECT scoreledger.record_evaluation_results({sql}) AS n", [param]).fetchone()["n"]


def list_evaluators(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(
        """SELECT e.evaluator_id, e.name, e.output_schema, e.created_at,
                  (SELECT count(*) FROM scoreledger.evaluation_results r WHERE r.evaluator_id = e.evaluator_id) AS results
           FROM scoreledger.evaluators e ORDER BY e.name"""
    ).fetchall()


def list_review_queues(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(
        """SELECT q.queue_id, q.name, q.form_schema, q.created_at,
                  (SELECT count(*) FROM scoreledger.review_items i WHERE i.queue_id = q.queue_id) AS items
           FROM scoreledger.review_queues q ORDER BY q.name"""
    ).fetchall()


def result_problems(conn: psycopg.Connection, docs: list[dict] | JsonLines) -> list[dict]:
    """The documents record_evaluation_results would refuse: idx, sqlstate, message (the database's rules)."""
    sql, param = docs_argument(docs)
    return conn.execute(f"SELECT * FROM scoreledger.result_problems({sql})", [param]).fetchall()


def create_review_queue(conn: psycopg.Connection, name: str, form_schema: dict | None = None) -> str:
    row = conn.execute(
        "SELECT scoreledger.create_review_queue(%s, %s) AS id", [name, Jsonb(form_schema or {})]
    ).fetchone()
    return str(row["id"])


def add_review_item(
    conn: psycopg.Connection, queue_id: str, submission_id: str | None = None, message_ref: str | None = None
) -> str:
    row = conn.execute(
        "SELECT scoreledger.add_review_item(%s, %s, %s) AS id", [queue_id, submission_id, message_ref]
    ).fetchone()
    return str(row["id"])


def save_annotation(
    conn: psycopg.Connection,
    review_item_id: str,
    data,
    status: str = "submitted",
    is_authoritative: bool = False,
    annotation_id: str | None = None,
) -> str:
    row = conn.execute(
        "SELECT scoreledger.save_annotation(%s, %s, %s, %s, %s) AS id",
        [review_item_id, Jsonb(data), status, is_authoritative, annotation_id],
    ).fetchone()
    return str(row["id"])


def write_evaluation_result_scores(conn: psycopg.Connection, result_id: str) -> int | None:
    return conn.execute("SELECT scoreledger.write_evaluation_result_scores(%s) AS n", [result_id]).fetchone()["n"]


def write_annotation_scores(conn: psycopg.Connection, annotation_id: str) -> int | None:
    return conn.execute("SELECT scoreledger.write_annotation_scores(%s) AS n", [annotation_id]).fetchone()["n"]


# ------------------------------------------------------------------ reads

SCORE_COLUMNS = (
    "id, submission_id, name, data_type, value_numeric, value_string, source, evaluation_result_id, "
    "annotation_id, reviewer_id, is_authoritative, created_at"
)


def submission_scores(conn: psycopg.Connection, submission_id: str, authoritative_only: bool = False) -> list[dict]:
    view = "scoreledger.authoritative_scores" if authoritative_only else "scoreledger.scores"
    return conn.execute(
        f"SELECT {SCORE_COLUMNS} FROM {view} WHERE submission_id = %s ORDER BY name, source, created_at, id",
        [submission_id],
    ).fetchall()


def submission_exists(conn: psycopg.Connection, submission_id: str) -> bool:
    row = conn.execute("SELECT 1 FROM scoreledger.submissions WHERE submission_id = %s", [submission_id]).fetchone()
    return row is not None


def concordance(conn: psycopg.Connection, submission_id: str | None = None, limit: int | None = None) -> list[dict]:
    return conn.execute(
        """SELECT * FROM scoreledger.score_concordance
           WHERE %(s)s::uuid IS NULL OR submission_id = %(s)s::uuid
           ORDER BY submission_id, name LIMIT %(limit)s""",
        {"s": submission_id, "limit": limit},
    ).fetchall()


def concordance_summary(conn: psycopg.Connection) -> list[dict]:
    """Per score name: how often the automated and authoritative human values agree."""
    return conn.execute(
        """SELECT name, count(*) FILTER (WHERE agree IS NOT NULL) AS compared,
                  count(*) FILTER (WHERE agree) AS agree,
                  count(*) FILTER (WHERE NOT agree) AS disagree,
                  round(avg(agree::int) FILTER (WHERE agree IS NOT NULL), 3) AS agreement
           FROM scoreledger.score_concordance GROUP BY name ORDER BY name"""
    ).fetchall()


def agreement(
    conn: psycopg.Connection,
    name: str,
    level: str | None = None,
    queue_id: str | None = None,
    include_automated: bool = False,
) -> dict:
    """Agreement between raters on one score name (contract section 13): the SQL document as it is."""
    return conn.execute(
        "SELECT scoreledger.score_agreement(%s, %s, %s, %s) AS doc", [name, level, queue_id, include_automated]
    ).fetchone()["doc"]


def failures(conn: psycopg.Connection, include_resolved: bool = False) -> list[dict]:
    return conn.execute(
        """SELECT id, source_kind, source_id, submission_id, error, sqlstate, attempts, first_occurred_at,
                  occurred_at, resolved_at
           FROM scoreledger.score_write_failures
           WHERE %s OR resolved_at IS NULL
           ORDER BY occurred_at DESC, id DESC""",
        [include_resolved],
    ).fetchall()


def warnings(conn: psycopg.Connection, submission_id: str | None = None) -> list[dict]:
    return conn.execute(
        """SELECT source_kind, source_id, submission_id, name, json_type, warning, created_at
           FROM scoreledger.score_write_warnings
           WHERE %(s)s::uuid IS NULL OR submission_id = %(s)s::uuid
           ORDER BY submission_id, name, source_kind, source_id""",
        {"s": submission_id},
    ).fetchall()


def backfill_pending(conn: psycopg.Connection, force: bool = False) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.score_backfill_pending(%s)", [force]).fetchall()


# --------------------------------------------------------------- backfill


@dataclass
class BackfillReport:
    """What a backfill did for one tenant."""

    tenant_id: str
    tenant: str
    pending: int = 0
    artefacts: int = 0
    scores_written: int = 0
    failed: int = 0
    chunks: int = 0
    seconds: float = 0.0
    resumed_after: dict[str, str] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.artefacts / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict:
        return asdict(self) | {"rate_per_s": round(self.rate)}


def backfill_tenants(dsn: str, tenant: str | None = None) -> list[tuple[str, str]]:
    """(id, name) of the one tenant given (name or id), or of every tenant."""
    with db.acting(dsn) as conn:
        if tenant:
            tenant_id = db.resolve_tenant(conn, tenant)
            row = conn.execute(
                "SELECT tenant_id::text AS id, name FROM scoreledger.tenants WHERE tenant_id = %s", [tenant_id]
            ).fetchone()
            return [(row["id"], row["name"])]
        rows = conn.execute("SELECT tenant_id::text AS id, name FROM scoreledger.tenants ORDER BY name").fetchall()
        return [(r["id"], r["name"]) for r in rows]


def backfill(
    dsn: str,
    tenant: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    force: bool = False,
    on_start: Callable[[list[BackfillReport]], None] | None = None,
    on_chunk: Callable[[BackfillReport, int], None] | None = None,
) -> list[BackfillReport]:
    """Writes the scores of every result and annotation lacking them (force: all).

    Each chunk is one transaction, committed before the next: an interruption
    loses at most one chunk, and a rerun finds what is still missing (a
    forced rerun resumes after the last committed chunk). Artefacts another
    writer holds are skipped (theirs to write), so two backfills can run at
    once. A failing artefact is recorded by the database and skipped.
    """
    targets = backfill_tenants(dsn, tenant)
    reports: list[BackfillReport] = []
    with db.connect(dsn) as conn:
        for tenant_id, name in targets:
            report = BackfillReport(tenant_id, name)
            with conn.transaction():
                _act(conn, tenant_id)
                for row in backfill_pending(conn, force):
                    report.pending += row["artefacts"]
                    if row["resume_after"] is not None:
                        report.resumed_after[row["source_kind"]] = str(row["resume_after"])
            reports.append(report)
        if on_start:
            on_start(reports)
        for report in reports:
            start = time.perf_counter()
            for kind in SOURCE_KINDS:
                after = report.resumed_after.get(kind)
                while True:
                    with conn.transaction():
                        _act(conn, report.tenant_id)
                        row = conn.execute(
                            "SELECT * FROM scoreledger.backfill_scores(%s, %s, %s, %s)",
                            [kind, after, batch_size, force],
                        ).fetchone()
                    if row["last_id"] is None:
                        break
                    after = row["last_id"]
                    report.chunks += 1
                    report.artefacts += row["artefacts"]
                    report.scores_written += row["scores_written"]
                    report.failed += row["failed"]
                    report.seconds = time.perf_counter() - start
                    if on_chunk:
                        on_chunk(report, row["artefacts"])
            report.seconds = time.perf_counter() - start
    return reports


def _act(conn: psycopg.Connection, tenant_id: str) -> None:
    conn.execute("SET LOCAL ROLE scoreledger_app")
    conn.execute("SELECT scoreledger.set_context(%s)", [tenant_id])
