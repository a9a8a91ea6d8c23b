"""Bad input: create_correction_batch and update_correction_batch (the
property and the world: bad_input.py)."""

from __future__ import annotations

from bad_input import FUZZ, SQLNULL, batch_row, doc_of, jparam
from bad_input_pins import check_function
from bad_input_strategies import contexts, correction_docs, documents, sqlnull_or, text_values, titles, uuid_args
from hypothesis import given
from hypothesis import strategies as st


def test_create_correction_batch(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        reason = data.draw(st.one_of(st.just(None), titles, titles, text_values()), label="reason")
        corrections = data.draw(sqlnull_or(documents(w, correction_docs(w))), label="corrections")
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "create_correction_batch",
            "SELECT scoreledger.create_correction_batch(%s, %s::jsonb) AS id",
            [reason, jparam(corrections)],
            context=ctx,
            document=doc_of(corrections, {"corrections"}),
        )
        if out.ok:
            row, stored = batch_row(w, out.value)
            assert row is not None and row["status"] == "draft", (
                f"create_correction_batch returned {out.value}: stored {row}"
            )
            assert stored == len(row["payload"]), (
                f"batch {out.value}: {len(row['payload'])} corrections, {stored} stored"
            )

    check_function(w, "create_correction_batch", search)


def test_update_correction_batch(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        batch = data.draw(uuid_args(w, w.a.draft_batch, w.a.applied_batch), label="batch_id")
        reason = data.draw(st.one_of(st.just(None), titles, text_values()), label="reason")
        corrections = data.draw(st.one_of(st.just(SQLNULL), documents(w, correction_docs(w))), label="corrections")
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "update_correction_batch",
            "SELECT scoreledger.update_correction_batch(%s::uuid, %s, %s::jsonb) AS r",
            [batch, reason, jparam(corrections)],
            context=ctx,
            document=doc_of(corrections, {"corrections"}),
        )
        if out.ok:
            row, stored = batch_row(w, batch)
            assert row is not None and row["status"] == "draft", f"update_correction_batch({batch}): stored {row}"
            assert stored == len(row["payload"]), f"batch {batch}: {len(row['payload'])} corrections, {stored} stored"

    check_function(w, "update_correction_batch", search)
