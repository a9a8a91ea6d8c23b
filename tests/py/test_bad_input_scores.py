"""Bad input: evaluators, review queues, evaluation results and annotations
(the property and the world: bad_input.py)."""

from __future__ import annotations

from bad_input import FUZZ, doc_of, jparam
from bad_input_pins import check_function
from bad_input_strategies import (
    contexts,
    documents,
    names,
    payload_docs,
    result_docs,
    schema_docs,
    sqlnull_or,
    text_values,
    uuid_args,
)
from hypothesis import given
from hypothesis import strategies as st


def test_register_evaluator(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        name = data.draw(names, label="name")
        schema = data.draw(sqlnull_or(documents(w, schema_docs())), label="output_schema")
        ctx = data.draw(contexts(w, weight=12), label="context")
        w.call(
            "register_evaluator",
            "SELECT scoreledger.register_evaluator(%s, %s::jsonb) AS id",
            [name, jparam(schema)],
            context=ctx,
        )

    check_function(w, "register_evaluator", search)


def test_create_review_queue(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        name = data.draw(names, label="name")
        schema = data.draw(sqlnull_or(documents(w, schema_docs())), label="form_schema")
        ctx = data.draw(contexts(w, weight=12), label="context")
        w.call(
            "create_review_queue",
            "SELECT scoreledger.create_review_queue(%s, %s::jsonb) AS id",
            [name, jparam(schema)],
            context=ctx,
        )

    check_function(w, "create_review_queue", search)


def test_record_evaluation_result(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        evaluator = data.draw(
            st.one_of(st.just("grader"), st.just("grader"), st.just(" grader "), names), label="evaluator"
        )
        submission = data.draw(uuid_args(w, *w.a.submissions), label="submission_id")
        payload = data.draw(sqlnull_or(documents(w, payload_docs())), label="payload")
        error = data.draw(st.one_of(st.just(None), st.just(None), st.just("timeout"), text_values()), label="error")
        result_id = data.draw(st.one_of(st.just(None), uuid_args(w, w.a.result_id)), label="result_id")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_evaluation_result",
            "SELECT scoreledger.record_evaluation_result(%s, %s::uuid, %s::jsonb, %s, %s::uuid) AS id",
            [evaluator, submission, jparam(payload), error, result_id],
            context=ctx,
        )
        if out.ok:
            assert w.admin.execute(
                "SELECT 1 FROM scoreledger_private.evaluation_results WHERE tenant_id = %s AND result_id = %s",
                [w.a.tenant, out.value],
            ).fetchone(), f"record_evaluation_result returned {out.value} but stored nothing"

    check_function(w, "record_evaluation_result", search)


def test_record_evaluation_results(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        docs = data.draw(sqlnull_or(documents(w, st.lists(result_docs(w), max_size=3))), label="docs")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "record_evaluation_results",
            "SELECT scoreledger.record_evaluation_results(%s::jsonb) AS n",
            [jparam(docs)],
            context=ctx,
            document=doc_of(docs, {"docs"}),
        )
        if out.ok:
            # All or nothing; a document without result_id already recorded (its id is derived from its
            # content) is a no-op, not counted, so the count is at most the documents given.
            assert isinstance(docs, list) and 0 <= out.value <= len(docs), (
                f"record_evaluation_results is all or nothing, yet returned {out.value} for {len(docs)} documents"
            )
            # result_id null is the contract's "derive it", as absent is.
            assert out.value == len(docs) or any(d.get("result_id") is None for d in docs if isinstance(d, dict)), (
                "only documents with derived ids can be no-ops"
            )

    check_function(w, "record_evaluation_results", search)


def test_save_annotation(world):
    w = world
    a = w.a

    @FUZZ
    @given(data=st.data())
    def search(data):
        item = data.draw(uuid_args(w, a.review_item, a.message_item), label="review_item_id")
        annotation_data = data.draw(sqlnull_or(documents(w, payload_docs())), label="data")
        status = data.draw(
            st.one_of(
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["submitted", "draft"]),
                st.sampled_from(["SUBMITTED", " draft", "deleted"]),
                text_values(),
                st.just(None),
            ),
            label="status",
        )
        authoritative = data.draw(st.sampled_from([False, True, False, True, None]), label="is_authoritative")
        annotation_id = data.draw(
            st.one_of(st.just(None), st.just(None), uuid_args(w, a.annotation, a.foreign_annotation)),
            label="annotation_id",
        )
        ctx = data.draw(contexts(w), label="context")
        out = w.call(
            "save_annotation",
            "SELECT scoreledger.save_annotation(%s::uuid, %s::jsonb, %s, %s::boolean, %s::uuid) AS id",
            [item, jparam(annotation_data), status, authoritative, annotation_id],
            context=ctx,
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT reviewer_id::text AS reviewer, item_id::text AS item FROM scoreledger_private.annotations "
                "WHERE tenant_id = %s AND annotation_id = %s",
                [a.tenant, out.value],
            ).fetchone()
            assert row is not None, f"save_annotation returned {out.value} but stored nothing"
            assert ctx is not None and row["reviewer"] == ctx[1] and row["item"] == item, (
                f"save_annotation stored {row} for actor {ctx} and item {item}"
            )

    check_function(w, "save_annotation", search)
