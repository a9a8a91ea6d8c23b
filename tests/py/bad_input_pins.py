"""Pinned inputs of the bad-input properties, and check_function, which
runs a function's pins before its Hypothesis search."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from bad_input import SQLNULL, World, to_json
from bad_input_strategies import HUGE_RANDOM
from helpers import mark_correct

# ---------------------------------------------------------------------------
# Pinned inputs: the minimal failing inputs of the bugs this suite found.
# Each function's test runs its pins first (deterministically), then the
# Hypothesis search, and fails if either finds a breach of the property.
# ---------------------------------------------------------------------------


@dataclass
class Pin:
    query: str
    params: Callable[[World], list]
    # Beyond the generic property: what the message must say.
    message: str | None = None


def _submission(w: World, **fields) -> str:
    doc = {
        "evaluation_version_id": w.a.version_id,
        "user_id": str(uuid.UUID(int=3)),
        "submitted_at": "2026-11-01T10:00:00Z",
        "answers": [{"question_version_id": w.a.items[0].question_version_id, "selected": ["B"]}],
    }
    doc.update(fields)
    return to_json({k: v for k, v in doc.items() if v is not SQLNULL})


PINS: dict[str, dict[str, Pin]] = {
    "create_correction_batch": {
        # One submission listed twice, once in upper case: validate_corrections
        # compares the JSON strings (no duplicate), store_corrections the uuids
        # -> 23505 on correction_submissions_pkey.
        "mark_correct lists a submission id twice in two letter cases": Pin(
            "SELECT scoreledger.create_correction_batch('dup', %s::jsonb)",
            lambda w: [
                to_json(
                    [
                        mark_correct(
                            w.a.version_id,
                            w.a.items[0].question_version_id,
                            [w.a.submissions[0], w.a.submissions[0].upper()],
                        )
                    ]
                )
            ],
        ),
    },
    "update_correction_batch": {
        "mark_correct lists a submission id twice in two letter cases": Pin(
            "SELECT scoreledger.update_correction_batch(%s::uuid, NULL, %s::jsonb)",
            lambda w: [
                w.a.draft_batch,
                to_json(
                    [
                        mark_correct(
                            w.a.version_id,
                            w.a.items[0].question_version_id,
                            [w.a.submissions[0], w.a.submissions[0].upper()],
                        )
                    ]
                ),
            ],
        ),
    },
    "record_evaluation_result": {
        # A blank error that btrim(' \t\r\n') keeps but CHECK (error ~ '\S')
        # refuses -> 23514 evaluation_results_error_check.
        "error is an em space (U+2003)": Pin(
            "SELECT scoreledger.record_evaluation_result('grader', %s::uuid, '{}'::jsonb, %s)",
            lambda w: [w.a.submissions[0], "\u2003"],
        ),
        "error is a vertical tab": Pin(
            "SELECT scoreledger.record_evaluation_result('grader', %s::uuid, '{}'::jsonb, %s)",
            lambda w: [w.a.submissions[0], "\x0b"],
        ),
    },
    "record_evaluation_results": {
        "error is a form feed": Pin(
            "SELECT scoreledger.record_evaluation_results(%s::jsonb)",
            lambda w: [
                to_json([{"evaluator": "grader", "submission_id": w.a.submissions[0], "payload": {}, "error": "\x0c"}])
            ],
        ),
    },
    "register_evaluator": {
        # Longer than a btree entry may be (UNIQUE (tenant_id, name)) -> 54000.
        "name of 3000 incompressible characters": Pin(
            "SELECT scoreledger.register_evaluator(%s)", lambda w: [HUGE_RANDOM[:3000]]
        ),
    },
    "create_review_queue": {
        "name of 3000 incompressible characters": Pin(
            "SELECT scoreledger.create_review_queue(%s)", lambda w: [HUGE_RANDOM[:3000]]
        ),
    },
    "record_submission": {
        # The SQLSTATE and the message come from two CASEs that test in a
        # different order: SL404 (not found) for a malformed document.
        "bad user_id and an unknown assignment_id": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, user_id="not-a-uuid", assignment_id=str(uuid.UUID(int=1)))],
        ),
        "bad submission_id and an unknown evaluation_version_id": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, submission_id="not-a-uuid", evaluation_version_id=str(uuid.UUID(int=2)))],
        ),
        # The entry named is a field 'answer' that no document has.
        "an answer that is not an object": Pin(
            "SELECT scoreledger.record_submission(%s::jsonb)",
            lambda w: [_submission(w, answers=[5])],
            message=r"^answers\[0\]: must be a JSON object$",
        ),
    },
    "record_submissions": {
        "bad user_id and an unknown assignment_id": Pin(
            "SELECT scoreledger.record_submissions(%s::jsonb)",
            lambda w: [f"[{_submission(w, user_id='not-a-uuid', assignment_id=str(uuid.UUID(int=1)))}]"],
        ),
        # The entry is named twice: 'submissions[0].submissions[0]: ...'.
        "an element that is not an object": Pin(
            "SELECT scoreledger.record_submissions(%s::jsonb)",
            lambda w: ["[5]"],
            message=r"^submissions\[0\]: must be a JSON object$",
        ),
    },
}


def check_function(w: World, label: str, search: Callable[[], None]) -> None:
    """Run `label`'s pinned inputs, then the Hypothesis `search`; fail with
    everything that broke."""
    broken = []
    for name, pin in PINS.get(label, {}).items():
        try:
            out = w.call(label, pin.query, pin.params(w))
            if pin.message is not None:
                assert not out.ok and re.search(pin.message, out.message or ""), (
                    f"{label}: expected a message matching {pin.message!r}, got {out}"
                )
        except AssertionError as exc:
            broken.append(f"[pinned: {name}] {exc}")
    try:
        search()
    except BaseException as exc:
        for line in broken:
            exc.add_note(line)
        raise
    if broken:
        raise AssertionError("\n".join(broken))
