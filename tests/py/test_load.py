"""The load driver (bench/load.py) for ~10 seconds: 3 recorders, a result
writer and the remediation thread (with applies of one batch from two
threads at once) against one database of the test server.

Correctness only, never timing: no client sees any error (a deadlock or a
serialization failure included), the server counts no deadlock, every
call returns what the contract says (no anomaly: identical re-recordings
record nothing, one of two concurrent applies does the work, what the
clients committed is what the database holds), and check_invariants finds
no breach. Rates are printed by `python -m bench.load`, not asserted.

Recorders and the result writer pause ~0.15 s between calls (think_s): run
back to back, recorders hold the evaluation versions' FOR SHARE row locks
without a gap, and a waiting apply gets its lock only once they stop
(reported in docs/performance.md, "Load test"); with the pauses, applies and
reverts really interleave with recording inside the 10 seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the project root, for `bench`

from bench.load import run_load  # noqa: E402


def test_concurrent_recording_results_and_remediation_without_errors(dsn):
    report = run_load(dsn, seconds=10, clients=3, writers=1, think_s=0.15, statement_timeout_s=60)
    context = json.dumps(
        {k: report[k] for k in ("seed", "errors", "error_samples", "anomalies", "deadlocks", "check", "operations")},
        indent=1,
        default=str,
    )

    assert report["errors"] == {}, context
    assert report["deadlocks"] == 0, context
    assert report["anomalies"] == [], context
    assert report["check"]["rows"] > 0, context
    assert report["check"]["breaches"] == [], context

    # The run exercised every path (counts of calls that succeeded, not rates).
    def calls(*names: str) -> int:
        return sum(report["operations"].get(name, {}).get("calls", 0) for name in names)

    assert calls("record_submissions") > 0, context
    assert calls("record_submission") > 0, context
    assert calls("record_submissions (identical again)") > 0, context
    assert calls("record_evaluation_results", "record_evaluation_result") > 0, context
    assert calls("create_correction_batch") > 0, context
    assert calls("apply_correction_batch", "apply_correction_batch (two at once)") > 0, context
    assert report["database"]["submissions"] == report["database"]["expected_submissions"] > 0, context
