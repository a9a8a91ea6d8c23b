"""Bad input: import_evaluation_version and upsert_assignment, fed
Hypothesis-generated documents (the property and the world: bad_input.py)."""

from __future__ import annotations

from bad_input import FUZZ, doc_of, jparam
from bad_input_pins import check_function
from bad_input_strategies import assignment_docs, contexts, documents, evaluation_docs, sqlnull_or
from hypothesis import given
from hypothesis import strategies as st


def test_import_evaluation_version(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, evaluation_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "import_evaluation_version",
            "SELECT scoreledger.import_evaluation_version(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            row = w.admin.execute(
                "SELECT jsonb_array_length(document->'items') AS n FROM scoreledger_private.evaluation_versions "
                "WHERE tenant_id = %s AND evaluation_version_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()
            assert row is not None, f"import_evaluation_version returned {out.value} but stored no such version"
            items = w.admin.execute(
                "SELECT count(*) AS n FROM scoreledger_private.items WHERE tenant_id = %s AND evaluation_version_id = %s",
                [w.a.tenant, out.value],
            ).fetchone()["n"]
            assert items == row["n"], f"version {out.value}: {row['n']} items in its document, {items} stored"

    check_function(w, "import_evaluation_version", search)


def test_upsert_assignment(world):
    w = world

    @FUZZ
    @given(data=st.data())
    def search(data):
        doc = data.draw(sqlnull_or(documents(w, assignment_docs(w))), label="doc")
        ctx = data.draw(contexts(w, weight=12), label="context")
        out = w.call(
            "upsert_assignment",
            "SELECT scoreledger.upsert_assignment(%s::jsonb) AS id",
            [jparam(doc)],
            context=ctx,
            document=doc_of(doc, {"document"}),
        )
        if out.ok:
            assert w.admin.execute(
                "SELECT 1 FROM scoreledger_private.assignments WHERE tenant_id = %s AND assignment_id = %s",
                [w.a.tenant, out.value],
            ).fetchone(), f"upsert_assignment returned {out.value} but stored no such assignment"

    check_function(w, "upsert_assignment", search)
