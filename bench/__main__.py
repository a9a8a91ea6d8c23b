"""`make bench`: scoreledger's bulk paths against bare SQL doing the same work.

Every figure is measured in the same run as its bare-SQL equivalent, and
reported as a ratio. No timing is asserted anywhere: this prints figures.

  python -m bench [--scale 100k|1m|N] [--items 20] [--dsn DSN] [--keep]
"""

from __future__ import annotations

import argparse

from .agreement import bench_agreement
from .attempts import bench_attempts
from .harness import CHUNK, Bench, parse_scale, scratch_database, write_results
from .import_file import bench_import
from .remediation import RemediationBench
from .scores import bench_scores
from .stall import bench_stall
from .tenants import bench_tenants

PARTS = ("ingest", "apply", "scores", "agreement", "import", "tenants", "attempts", "stall")


def run(bench: Bench, parts: list[str]) -> list[dict]:
    print(f"scoreledger bench: {bench.scale} submissions x {bench.items} items, chunks of {CHUNK}", flush=True)
    bench.setup_content()
    remediation = RemediationBench(bench)
    remediation.stage_documents()
    if "ingest" in parts:
        remediation.bench_ingest()
    if "apply" in parts:
        remediation.bench_apply_revert()
        remediation.bench_validation()
    if "scores" in parts:
        bench_scores(bench)
    if "agreement" in parts:
        bench_agreement(bench)
    if "import" in parts:
        bench_import(bench, remediation)
    if "tenants" in parts:
        bench_tenants(bench, remediation)
    if "attempts" in parts:
        bench_attempts(bench)
    if "stall" in parts:
        bench_stall(bench, remediation)
    return bench.rows


def main():
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="submissions: 100k (default), 1m, or a number")
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--dsn", default=None, help="server to use (default: DATABASE_URL or the local server)")
    parser.add_argument(
        "--only",
        default="ingest,apply,scores,agreement",
        help="comma-separated parts: ingest,apply,scores,agreement,import,tenants,attempts,stall "
        "(the last four: not by default)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument("--database", default="scoreledger_bench", help="scratch database (dropped and recreated)")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/*.json (smoke runs)")
    args = parser.parse_args()
    parts = args.only.split(",")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part {', '.join(unknown)}: the parts are {', '.join(PARTS)}")
    if "apply" in parts and "ingest" not in parts:
        parser.error("--only apply needs ingest too: its batches rescore the submissions the ingest records")
    scale = parse_scale(args.scale)
    with scratch_database(args.dsn, args.database, args.keep) as dsn:
        bench = Bench(dsn, scale, args.items)
        try:
            rows = run(bench, parts)
        finally:
            bench.conn.close()
    if not args.no_results:
        write_results(f"bench-{args.scale}", {"scale": scale, "items": args.items, "results": rows})


if __name__ == "__main__":
    main()
