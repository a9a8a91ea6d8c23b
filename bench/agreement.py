"""Agreement bench (issue 15): `score_agreement` beside a bare GROUP BY over the same rows.

N annotations over 5 reviewers (N / 5 submissions, each rated by all five,
a value 1-5 near a per-submission "true" grade), staged untimed as rows
that predate the score layer and given their scores by the backfill. Then,
per level, `scoreledger.score_agreement('grade', level)` as the
application (alpha, observed agreement, Cohen's kappa for the 10 pairs)
against the bare statement every alpha starts from: the values of that
name counted per submission and value with one GROUP BY, as the
superuser, no row-level security. Nothing is asserted.

Run by `python -m bench` through `bench_agreement(bench)`; alone:

  python -m bench.agreement [--scale 100k] [--dsn DSN] [--keep]

(database scoreledger_bench_agreement unless --database; `--scale` is the
number of annotations).
"""

from __future__ import annotations

import argparse
import os
import time

from scoreledger import scores

from .harness import Bench, parse_scale, scratch_database, write_results

RATERS = 5
LEVELS = ("interval", "nominal", "ordinal", "ratio")
BARE_GROUP_BY = """
  SELECT count(*) FROM (
    SELECT s.submission_id, s.value_numeric, count(*)
    FROM scoreledger_private.scores s
    WHERE s.tenant_id = %s AND s.name = 'grade'
    GROUP BY s.submission_id, s.value_numeric) per_unit_value"""


def stage(bench: Bench, annotations: int) -> None:
    """`annotations` submitted annotations {"grade": 1-5, "note": text} over RATERS reviewers, with their scores."""
    start = time.perf_counter()
    units = max(1, annotations // RATERS)
    conn = bench.conn
    version, questions = bench.versions[0]
    for first in range(0, units, 5000):
        bench.timed(
            """SELECT scoreledger.record_submissions(jsonb_agg(jsonb_build_object(
                 'evaluation_version_id', %(v)s::uuid, 'user_id', gen_random_uuid(),
                 'submitted_at', '2026-11-02T10:00:00Z',
                 'answers', (SELECT jsonb_agg(jsonb_build_object('question_version_id', q, 'selected', '["B"]'::jsonb))
                             FROM unnest(%(q)s::uuid[]) q))))
               FROM generate_series(1, %(n)s)""",
            {"v": version, "q": questions, "n": min(5000, units - first)},
            as_app=True,
        )
    _, row = bench.timed("SELECT scoreledger.create_review_queue('bench agreement')", as_app=True)
    queue = row[0]
    with conn.transaction():
        conn.execute("SET LOCAL ROLE scoreledger_owner")
        conn.execute("SELECT scoreledger_private.enter_context(%s)", [bench.tenant])
        conn.execute(
            """INSERT INTO scoreledger_private.review_items (tenant_id, item_id, queue_id, submission_id)
               SELECT %(t)s, gen_random_uuid(), %(q)s, s.submission_id
               FROM (SELECT submission_id FROM scoreledger_private.submissions
                     WHERE tenant_id = %(t)s AND submitted_at = '2026-11-02T10:00:00Z'
                     ORDER BY submission_id LIMIT %(n)s) s""",
            {"t": bench.tenant, "q": queue, "n": units},
        )
        # Reviewer r's grade: the item's "true" grade (1-5), off by one for
        # about one rating in four -- agreement well above chance.
        conn.execute(
            f"""INSERT INTO scoreledger_private.annotations
                  (tenant_id, annotation_id, item_id, reviewer_id, data, status, submitted_at)
                SELECT i.tenant_id, gen_random_uuid(), i.item_id, md5('bench reviewer ' || r)::uuid,
                       jsonb_build_object('grade', least(5, greatest(1, t.grade + CASE WHEN random() >= 0.25 THEN 0
                                                                             WHEN random() < 0.5 THEN -1 ELSE 1 END)),
                                          'note', 'looks fine'),
                       'submitted', now()
                FROM scoreledger_private.review_items i
                CROSS JOIN LATERAL (SELECT 1 + (random() * 4)::int AS grade, i.item_id) t
                CROSS JOIN generate_series(1, {RATERS}) r
                WHERE i.tenant_id = %s AND i.queue_id = %s""",
            [bench.tenant, queue],
        )
    reports = scores.backfill(bench.dsn, bench.tenant, 5000)
    assert all(r.failed == 0 for r in reports), reports
    conn.execute(
        "VACUUM ANALYZE scoreledger_private.annotations, scoreledger_private.review_items, scoreledger_private.scores"
    )
    print(
        f"  (staged {annotations} annotations over {units} submissions in {time.perf_counter() - start:.1f}s, untimed)"
    )


def bench_agreement(bench: Bench, annotations: int | None = None) -> None:
    """The agreement figures on a Bench of bench/harness.py (its tenant and content).

    annotations: default BENCH_AGREEMENT_ANNOTATIONS, else bench.scale.
    """
    annotations = (
        annotations if annotations is not None else int(os.environ.get("BENCH_AGREEMENT_ANNOTATIONS", bench.scale))
    )
    if not annotations:
        return
    stage(bench, annotations)
    for level in LEVELS:
        ours, row = bench.timed("SELECT scoreledger.score_agreement('grade', %s)", [level], as_app=True)
        doc = row[0]
        assert doc["pairable_values"] == RATERS * (annotations // RATERS) and len(doc["pairs"]) == 10, doc
        bare, _ = bench.timed(BARE_GROUP_BY, [bench.tenant])
        bench.report(f"agreement: alpha + kappa ({level}, {RATERS} raters)", annotations, ours, bare, "annotations")


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.agreement", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="100k", help="annotations: 100k (default), 1m, or a number")
    parser.add_argument("--dsn", default=None, help="server to use (default: DATABASE_URL or the local server)")
    parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
    parser.add_argument(
        "--database", default="scoreledger_bench_agreement", help="scratch database (dropped and recreated)"
    )
    parser.add_argument("--no-results", action="store_true", help="do not write bench/results/*.json (smoke runs)")
    args = parser.parse_args()
    scale = parse_scale(args.scale)
    with scratch_database(args.dsn, args.database, args.keep) as dsn:
        bench = Bench(dsn, scale, 1)
        print(f"scoreledger agreement bench: {scale} annotations over {RATERS} raters", flush=True)
        try:
            bench.setup_content()
            bench_agreement(bench, scale)
        finally:
            bench.conn.close()
    if not args.no_results:
        write_results(f"bench-agreement-{args.scale}", {"annotations": scale, "rows": bench.rows})


if __name__ == "__main__":
    main()
