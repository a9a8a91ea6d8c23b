"""Ingest CPU of this checkout against another revision, call by call.

Wall time on a shared machine moves with its load; the server process's CPU
time for one call moves much less, and alternating the two codes call by
call cancels most of what is left. Two scratch databases, one migrated with
BASELINE's sql/ and migrations/, one with this checkout's, get the bench's
same documents (`bench.remediation`), SCALE of them in calls of 5,000,
alternating; each call's backend CPU (utime + stime of /proc/<pid>/stat)
is summed per side.

  python -m bench.ab_ingest BASELINE [--scale 100k] [--rounds 3]

Run on the database server's machine (it reads the backend's /proc entry).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo
from scoreledger import db

from .harness import backend_cpu, parse_scale

CHECKOUT = Path(__file__).resolve().parents[1]

# Run in a child per side, so that `scoreledger` (its migrator and sql/) is
# that side's: the staged documents come from this checkout's bench.
STAGE = """
import sys
sys.path.insert(0, sys.argv[1])
from bench.harness import Bench, scratch_database
from bench.remediation import RemediationBench
with scratch_database(sys.argv[2], sys.argv[3], True) as dsn:
    bench = Bench(dsn, int(sys.argv[4]), 20)
    bench.setup_content()
    RemediationBench(bench).stage_documents()
    bench.conn.execute("CREATE TABLE ab_context AS SELECT %s::uuid AS tenant, %s::uuid AS actor",
                       [bench.tenant, bench.actor])
"""


def export_revision(revision: str, into: Path) -> Path:
    archive = into / "baseline.tar"
    subprocess.run(
        ["git", "-C", str(CHECKOUT), "archive", "-o", str(archive), revision, "sql", "migrations", "shell"], check=True
    )
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    return into / "tree"


def one_round(trees: dict[str, Path], dsn: str, scale: int) -> dict[str, list[float]]:
    sides = {}
    for label, tree in trees.items():
        name = f"scoreledger_ab_{label}_{os.getpid()}"  # two runs at once do not clash
        subprocess.run(
            [sys.executable, "-c", STAGE, str(CHECKOUT), dsn, name, str(scale)],
            env=dict(os.environ, PYTHONPATH=str(tree / "shell")),
            check=True,
        )
        conn = psycopg.connect(make_conninfo(dsn, dbname=name), autocommit=True)
        tenant, actor = conn.execute("SELECT tenant, actor FROM ab_context").fetchone()
        chunks = [r[0] for r in conn.execute("SELECT chunk FROM bench_chunks ORDER BY chunk")]
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        sides[label] = (conn, tenant, actor, chunks, pid, [])
    order = list(sides)
    for i in range(len(sides[order[0]][3])):
        # Each side goes first every other call: neither always follows the other's writes.
        for label in order if i % 2 == 0 else order[::-1]:
            conn, tenant, actor, chunks, pid, cpu = sides[label]
            with conn.transaction():
                conn.execute("SET LOCAL ROLE scoreledger_app")
                conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])
                before = backend_cpu(pid)
                conn.execute(
                    "SELECT scoreledger.record_submissions(docs) FROM bench_chunks WHERE chunk = %s", [chunks[i]]
                )
                cpu.append(backend_cpu(pid) - before)
    for label, (conn, *_rest) in sides.items():
        conn.close()
        with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as admin:
            admin.execute(f"DROP DATABASE scoreledger_ab_{label}_{os.getpid()} WITH (FORCE)")
    return {label: side[5] for label, side in sides.items()}


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.ab_ingest", description=__doc__.splitlines()[0])
    parser.add_argument("baseline", help="git revision to compare with (e.g. a commit id)")
    parser.add_argument("--scale", default="100k")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dsn", default=None)
    args = parser.parse_args()
    dsn = args.dsn or db.default_dsn()
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"baseline": export_revision(args.baseline, Path(scratch)), "checkout": CHECKOUT}
        print(f"backend CPU of record_submissions, {args.baseline} against this checkout, {args.scale}", flush=True)
        for round_no in range(1, args.rounds + 1):
            cpu = one_round(trees, dsn, parse_scale(args.scale))
            base, ours = cpu["baseline"], cpu["checkout"]
            diffs = [b - a for a, b in zip(base, ours, strict=True)]
            print(
                f"round {round_no}: baseline {sum(base):7.2f} s  checkout {sum(ours):7.2f} s  "
                f"ratio {sum(ours) / sum(base):.3f}  paired median difference per call "
                f"{statistics.median(diffs):+.3f} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
