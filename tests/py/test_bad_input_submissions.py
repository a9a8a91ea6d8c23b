"""Bad input: record_submission and record_submissions, and the agreement
of the bulk checks with the diagnosis (the property and the world:
bad_input.py)."""

from __future__ import annotations

from bad_input import FUZZ, doc_of, jparam, note, rows_in, submission_diagnosis
from bad_input_pins import check_function
from bad_input_strategies import contexts, documents, sqlnull_or, submission_docs
from hypothesis import assume, given
from hypothesis import strategies as st


def test_record_submission(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, submission_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_submission",
            "SELECT scoreledger.record_submission(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT score, max_score FROM scoreledger_private.submissions WHERE tenant_id = %s AND submission_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()
            assert row is not None and row["score"] is not None, f"record_submission returned {out.value}: stored {row}"

    check_function(w, "record_submission", search)


def test_record_submissions(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(sqlnull_or(documents(w, st.lists(submission_docs(w), max_size=3))), label="docs")
        ctx = data.draw(contexts(w, weight=12), label="context")
        before = rows_in(w, "submissions", w.a.tenant)
        out = w.call(
            "record_submissions",
            "SELECT scoreledger.record_submissions(%s::jsonb) AS n",
            [jparam(docs)],
            context=ctx,
            document=doc_of(docs, {"submissions"}),
        )
        if out.ok:
            added = rows_in(w, "submissions", w.a.tenant) - before
            assert out.value == added, f"record_submissions returned {out.value} but {added} submissions were added"
            assert isinstance(docs, list) and out.value <= len(docs)

    check_function(w, "record_submissions", search)


def test_recording_refuses_exactly_what_the_diagnosis_names(world):
    """Recording checks documents in bulk and asks the diagnosis
    (submission_document_errors, then submission_answer_errors) for the
    message only when a bulk check fails. The two must agree: a document the
    diagnosis faults is refused with the diagnosis's own error, and one it
    passes is never refused as invalid."""
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(documents(w, st.lists(submission_docs(w), min_size=1, max_size=3)), label="docs")
        assume(isinstance(docs, list) and docs)
        expected = submission_diagnosis(w, docs)
        note(f"diagnosis: {expected}")
        out = w.call(
            "record_submissions",
            "SELECT scoreledger.record_submissions(%s::jsonb) AS n",
            [jparam(docs)],
            document=doc_of(docs, {"submissions"}),
        )
        if expected is None:
            assert out.ok or out.sqlstate not in ("SL422", "SL404"), (
                f"recording refused documents the diagnosis passes: {out.sqlstate}: {out.message}"
            )
        else:
            assert not out.ok, f"recording accepted documents the diagnosis faults: {expected}"
            assert (out.sqlstate, out.message) == expected, (
                f"recording raised {out.sqlstate}: {out.message!r}; the diagnosis names {expected}"
            )

    check_function(w, "record_submissions (bulk checks = diagnosis)", search)
