"""Recording into a tenant the statistics have not caught up with.

The statistics of a table describe it as of its last ANALYZE. A tenant
that has recorded most of its submissions since then (any new tenant
recording fast, for the whole time before autovacuum's next pass) is
estimated at a row or two, and a plan made for "a row or two" may read
the tenant's whole key range, or every other tenant's rows, on each call.
Counted, not timed: the rows one recording call reads from submissions
(pg_stat_xact_user_tables) are a small multiple of its documents, however
many rows the other tenant and the tenant itself already hold; creating,
previewing and applying a batch read a small multiple of the submissions
it rescores.
"""

from __future__ import annotations

import uuid

from helpers import create_tenant, evaluation_doc, replace_key, standard_items, submission_doc
from psycopg.types.json import Jsonb
from scoreledger import db

# Big enough that the planner prefers index probes to reading the table
# once it knows the table's size: at 20,000 rows it reads the whole (small)
# table with a hash join, which is cheap there and bounded by the table.
OTHER_TENANT = 40_000
CALL = 1_000


def test_a_tenant_grown_since_analyze_records_and_regrades_reading_only_its_rows(dsn):
    actor = str(uuid.uuid4())
    items = standard_items()

    def tenant_with_version(name: str) -> tuple[str, str]:
        with db.acting(dsn) as conn:
            tenant = create_tenant(conn, f"{name}-{uuid.uuid4().hex[:8]}")
        version = str(uuid.uuid4())
        with db.acting(dsn, tenant, actor) as conn:
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [Jsonb(evaluation_doc(str(uuid.uuid4()), version, items))],
            )
        return tenant, version

    with db.connect(dsn, autocommit=True) as admin:
        admin.execute("ALTER TABLE scoreledger_private.submissions SET (autovacuum_enabled = off)")
        submissions_oid = admin.execute("SELECT 'scoreledger_private.submissions'::regclass::oid AS oid").fetchone()[
            "oid"
        ]
    read_sql = f"""SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) AS n
                   FROM pg_stat_xact_user_tables WHERE relid = {submissions_oid}"""

    def record(tenant: str, version: str, count: int, per_call: int) -> list[int]:
        """Records COUNT new submissions; the rows of submissions each call read."""
        reads = []
        for start in range(0, count, per_call):
            docs = [
                submission_doc(
                    str(uuid.uuid4()), version, str(uuid.uuid4()), {i.question_version_id: {"B"} for i in items}
                )
                for _ in range(min(per_call, count - start))
            ]
            with db.acting(dsn, tenant, actor) as conn:
                before = conn.execute(read_sql).fetchone()["n"]
                conn.execute("SELECT scoreledger.record_submissions(%s)", [Jsonb(docs)])
                reads.append(conn.execute(read_sql).fetchone()["n"] - before)
        return reads

    established, established_version = tenant_with_version("established")
    newcomer, newcomer_version = tenant_with_version("newcomer")
    record(established, established_version, OTHER_TENANT, 5_000)
    with db.connect(dsn, autocommit=True) as admin:
        # The statistics say: one tenant, the established one.
        admin.execute("ANALYZE scoreledger_private.submissions")

    reads = record(newcomer, newcomer_version, 4 * CALL, CALL)
    # A few index probes per document (the already-recorded probe, the
    # history's reference check, the score update). Before: the first
    # recording's comparison with stored submissions read every row of the
    # established tenant (43,000 and up per call), and the reference check
    # the newcomer's whole key range, growing with every call.
    assert all(r <= 4 * CALL for r in reads), f"rows of submissions read per {CALL}-document call: {reads}"

    # A regrade of the newcomer's item: each call reads each of its
    # submissions a few times. Before, the preview figures' rescoring took
    # the submissions by the tenant's key range once per answer (the
    # statistics put the newcomer at one row): 4,000 x 4,000 reads.
    regraded = 4 * CALL

    def counting_reads(sql: str, params) -> tuple[object, int]:
        with db.acting(dsn, newcomer, actor) as conn:
            before = conn.execute(read_sql).fetchone()["n"]
            result = conn.execute(sql, params).fetchone()["r"]
            return result, conn.execute(read_sql).fetchone()["n"] - before

    batch, created = counting_reads(
        "SELECT scoreledger.create_correction_batch('stale statistics', %s) AS r",
        [Jsonb([replace_key(newcomer_version, items[0].question_version_id, ["C"])])],
    )
    _, previewed = counting_reads("SELECT scoreledger.preview_correction_batch(%s) AS r", [batch])
    applied_result, applied = counting_reads("SELECT scoreledger.apply_correction_batch(%s) AS r", [batch])
    assert applied_result["submissions_rescored"] == regraded
    reads = {"create": created, "preview": previewed, "apply": applied}
    assert all(r <= 10 * regraded for r in reads.values()), f"rows of submissions read for {regraded}: {reads}"
