"""Bad input: the harness itself, so that a property that never fails is
not vacuous (the property and the world: bad_input.py)."""

from __future__ import annotations

import uuid

from bad_input import Deep, to_json
from helpers import evaluation_doc, standard_items


def test_harness_sees_both_outcomes(world):
    """The harness itself: a valid document succeeds, broken ones fail with
    the right SQLSTATE, and a write that fails leaves every table as it was
    — so a property above that never fails is not vacuous."""
    w = world
    good = evaluation_doc(str(uuid.uuid4()), str(uuid.uuid4()), standard_items())
    before = w.fingerprint()
    assert w.call(
        "import_evaluation_version", "SELECT scoreledger.import_evaluation_version(%s::jsonb)", [to_json(good)]
    ).ok
    assert w.fingerprint() != before, "a successful import changed no table: the fingerprint sees nothing"
    out = w.call(
        "import_evaluation_version",
        "SELECT scoreledger.import_evaluation_version(%s::jsonb)",
        [to_json(dict(good, items=Deep("array", 250)))],
    )
    assert not out.ok and out.sqlstate == "SL422", out
    out = w.call(
        "record_submission", "SELECT scoreledger.record_submission(%s::jsonb)", [to_json({"x": 1})], context=None
    )
    assert not out.ok and out.sqlstate == "SL401", out
    assert {label for label, _ in w.calls} == {"import_evaluation_version", "record_submission"}
