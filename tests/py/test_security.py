"""Security review (docs/security.md), the parts that need real connections:
a pooled connection handed from one tenant's client to another's carries
nothing over, and code the application plants in its own session never
runs with the owner's rights.

The pool is one psycopg connection that stays `SET ROLE scoreledger_app`
for its whole life (as a pool's connection set-up would leave it) and runs
one client's transaction after another -- what a transaction-pooling proxy
does. Each view is discovered from the catalog, so a new view is held to
the same rules. The catalog-side checks are in tests/pgtap/60_security.sql.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from helpers import connect, drop_item, evaluation_doc, standard_items, submission_doc
from psycopg import sql
from psycopg.types.json import Jsonb
from scoreledger import db

# Global by design (docs/security.md): the tenant registry, the error
# registry and the input bounds. Every other view of schema scoreledger holds tenant data.
GLOBAL_VIEWS = {"scoreledger.tenants", "scoreledger.error_codes", "scoreledger.input_limits"}
# The functions that need no tenant context.
CONTEXT_FREE_FUNCTIONS = {"set_context", "create_tenant", "current_tenant", "current_actor"}


# ---------------------------------------------------------------------------
# Fixtures and helpers
# ---------------------------------------------------------------------------


def populate(dsn: str, tenant: str, actor: str, label: str) -> None:
    """One tenant's data, through the API: a row in every view of tenant
    data (a new view needs one here). Names carry `label`, so that no row of
    one tenant can equal a row of the other."""
    items = standard_items()
    version_id = str(uuid.uuid4())
    evaluation_id = str(uuid.uuid4())
    assignment_id = str(uuid.uuid4())
    submission_id = str(uuid.uuid4())
    judge = f"judge {label}"
    with db.acting(dsn, tenant, actor) as conn:

        def call(query: str, *params):
            return next(iter(conn.execute(query, list(params)).fetchone().values()))

        call(
            "SELECT scoreledger.import_evaluation_version(%s)", Jsonb(evaluation_doc(evaluation_id, version_id, items))
        )
        remedial_id = str(uuid.uuid4())
        call(
            "SELECT scoreledger.upsert_assignment(%s)",
            Jsonb({"assignment_id": remedial_id, "title": f"Remedial {label}", "evaluation_id": evaluation_id}),
        )
        call(
            "SELECT scoreledger.upsert_assignment(%s)",
            Jsonb(
                {
                    "assignment_id": assignment_id,
                    "title": f"Assignment {label}",
                    "evaluation_id": evaluation_id,
                    "intervention_after_fails": 1,
                    "remedial_assignment_id": remedial_id,
                }
            ),
        )
        doc = submission_doc(submission_id, version_id, str(uuid.uuid4()), {items[0].question_version_id: {"B"}})
        doc["assignment_id"] = assignment_id
        call("SELECT scoreledger.record_submission(%s)", Jsonb(doc))
        # A failed attempt of another learner: a rule intervention, its event, remedial work.
        failed = submission_doc(str(uuid.uuid4()), version_id, str(uuid.uuid4()), {items[0].question_version_id: set()})
        failed["assignment_id"] = assignment_id
        call("SELECT scoreledger.record_submission(%s)", Jsonb(failed))
        batch = call(
            "SELECT scoreledger.create_correction_batch(%s, %s)",
            f"security {label}",
            Jsonb([drop_item(version_id, items[0].question_version_id)]),
        )
        call("SELECT scoreledger.apply_correction_batch(%s)", batch)
        call("SELECT scoreledger.grant_capability(%s, 'approve_batch')", str(uuid.uuid4()))
        # A lowering of the policy awaiting another user's confirmation.
        call("SELECT scoreledger.set_tenant_policy(true, NULL)")
        call("SELECT scoreledger.set_tenant_policy(false, NULL)")
        call(
            "SELECT scoreledger.register_evaluator(%s, %s)",
            judge,
            Jsonb({f"tone {label}": {"type": "choice", "choices": ["ok", "rude"]}}),
        )
        call(
            "SELECT scoreledger.record_evaluation_result(%s, %s, %s)",
            judge,
            submission_id,
            Jsonb({f"accuracy {label}": 0.9, f"tone {label}": "ok", f"skipped {label}": None}),
        )
        # A score the poison trigger refuses (see two_tenants): the write
        # fails and is logged in score_write_failures; the result is kept.
        call(
            "SELECT scoreledger.record_evaluation_result(%s, %s, %s)",
            judge,
            submission_id,
            Jsonb({f"poison {label}": 1}),
        )
        queue = call("SELECT scoreledger.create_review_queue(%s)", f"queue {label}")
        review_item = call("SELECT scoreledger.add_review_item(%s, %s)", queue, submission_id)
        call(
            "SELECT scoreledger.save_annotation(%s, %s, 'submitted', true)",
            review_item,
            Jsonb({f"accuracy {label}": 0.8}),
        )


@pytest.fixture
def two_tenants(dsn):
    """Tenants A and B, each with data in every view, and each one's views
    as a fresh connection acting for it sees them."""
    tenants = {}
    # A failing score writer, for a row in score_write_failures: a trigger
    # that refuses scores named "poison ...", only while populating.
    with db.connect(dsn, autocommit=True) as root:
        root.execute(
            """CREATE FUNCTION public.tg_security_poison() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION 'injected failure on score %', NEW.name; END $$"""
        )
        root.execute(
            """CREATE TRIGGER security_poison BEFORE INSERT ON scoreledger_private.scores FOR EACH ROW
               WHEN (NEW.name LIKE 'poison%') EXECUTE FUNCTION public.tg_security_poison()"""
        )
    with db.acting(dsn) as conn:
        for label in ("A", "B"):
            tenant = str(
                conn.execute(
                    "SELECT scoreledger.create_tenant(%s) AS id", [f"security-{label}-{uuid.uuid4().hex[:8]}"]
                ).fetchone()["id"]
            )
            tenants[label] = {"tenant": tenant, "actor": str(uuid.uuid4())}
    for label, t in tenants.items():
        populate(dsn, t["tenant"], t["actor"], label)
    with db.connect(dsn, autocommit=True) as root:
        root.execute("DROP TRIGGER security_poison ON scoreledger_private.scores")
        root.execute("DROP FUNCTION public.tg_security_poison()")
    for t in tenants.values():
        with db.acting(dsn, t["tenant"], t["actor"]) as conn:
            t["rows"] = view_rows(conn)
    return tenants


def views(conn: psycopg.Connection) -> list[tuple[str, str]]:
    """Every view of schema scoreledger, from the catalog."""
    return [
        (r["nspname"], r["relname"])
        for r in conn.execute(
            """SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = 'scoreledger' AND c.relkind IN ('v', 'm') ORDER BY c.relname"""
        )
    ]


def view_rows(conn: psycopg.Connection) -> dict[str, set[str]]:
    """Each view's rows (as JSON text) for the current role and context."""
    rows = {}
    for schema, name in views(conn):
        query = sql.SQL("SELECT to_jsonb(x)::text AS row FROM {} x").format(sql.Identifier(schema, name))
        rows[f"{schema}.{name}"] = {r["row"] for r in conn.execute(query)}
    return rows


def tenant_views(rows: dict[str, set[str]]) -> dict[str, set[str]]:
    return {name: r for name, r in rows.items() if name not in GLOBAL_VIEWS}


def sqlstate_of(conn: psycopg.Connection, query: str, params=None) -> str | None:
    """The SQLSTATE `query` raises (None on success), without spoiling the
    caller's transaction."""
    try:
        # A savepoint inside a transaction; in an idle autocommit connection,
        # a transaction of its own.
        with conn.transaction():
            conn.execute(query, params)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def api_without_context(conn: psycopg.Connection) -> dict[str, str | None]:
    """Every API function the application may call, but the context-free
    ones, called with null arguments: signature -> the SQLSTATE it raised."""
    calls = conn.execute(
        """SELECT p.oid::regprocedure::text AS signature,
                  format('SELECT %%s(%%s)', p.oid::regproc,
                         (SELECT string_agg(format('NULL::%%s', t::regtype), ', ' ORDER BY n)
                            FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY a(t, n))) AS call
           FROM pg_proc p
           WHERE p.pronamespace = 'scoreledger'::regnamespace
             AND has_function_privilege(current_user, p.oid, 'EXECUTE')
             AND NOT (p.proname = ANY (%s))
           ORDER BY 1""",
        [sorted(CONTEXT_FREE_FUNCTIONS)],
    ).fetchall()
    return {c["signature"]: sqlstate_of(conn, c["call"]) for c in calls}


def context(conn: psycopg.Connection) -> tuple:
    row = conn.execute("SELECT scoreledger.current_tenant() AS t, scoreledger.current_actor() AS a").fetchone()
    return row["t"], row["a"]


def pooled_connection(dsn: str, name: str = "security-pool") -> psycopg.Connection:
    """A pool's connection: autocommit (the client sends BEGIN/COMMIT), and
    the application role for the connection's whole life."""
    conn = connect(dsn, name)
    conn.autocommit = True
    conn.execute("SET ROLE scoreledger_app")
    return conn


def assert_sees_only(rows: dict[str, set[str]], own: dict[str, set[str]], other: dict[str, set[str]], who: str):
    for name, expected in tenant_views(own).items():
        assert rows[name] == expected, f"{who}: {name} differs from what a fresh connection shows"
        assert not rows[name] & other[name], f"{who}: {name} shows rows of the other tenant"


def assert_sees_nothing(conn: psycopg.Connection, who: str):
    assert context(conn) == (None, None), who
    shown = {name: len(r) for name, r in tenant_views(view_rows(conn)).items() if r}
    assert shown == {}, f"{who}: tenant-data views show rows without a context: {shown}"
    outcomes = api_without_context(conn)
    assert len(outcomes) >= 25, f"sanity: the API sweep found only {sorted(outcomes)}"
    wrong = {signature: state for signature, state in outcomes.items() if state != "SL401"}
    assert wrong == {}, f"{who}: API functions that did not raise SL401 without a context"


# ---------------------------------------------------------------------------
# The fixture itself reaches every view (else the sweeps below prove little)
# ---------------------------------------------------------------------------


def test_fixture_gives_every_tenant_view_rows_in_both_tenants(two_tenants):
    a, b = two_tenants["A"]["rows"], two_tenants["B"]["rows"]
    assert len(tenant_views(a)) >= 18, sorted(a)
    assert set(GLOBAL_VIEWS) <= set(a), "the global views exist"
    empty = sorted(
        f"{name} ({label})" for label, rows in (("A", a), ("B", b)) for name, r in tenant_views(rows).items() if not r
    )
    assert empty == [], "views the fixture leaves empty (add data to populate())"
    shared = sorted(name for name in tenant_views(a) if a[name] & b[name])
    assert shared == [], "rows a fresh connection shows both tenants"


# ---------------------------------------------------------------------------
# A pooled connection reused by another tenant's client
# ---------------------------------------------------------------------------


def test_pooled_connection_reused_by_another_tenant_sees_nothing_of_the_first(dsn, two_tenants):
    a, b = two_tenants["A"], two_tenants["B"]
    with pooled_connection(dsn) as conn:
        # Client 1, tenant A.
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
            assert context(conn) == (uuid.UUID(a["tenant"]), uuid.UUID(a["actor"]))
            first = view_rows(conn)
        assert_sees_only(first, a["rows"], b["rows"], "client 1 (tenant A)")

        # Client 2 forgets set_context: nothing at all, and SL401 everywhere.
        with conn.transaction():
            assert_sees_nothing(conn, "client 2 (no context) after tenant A's commit")

        # Client 3, tenant B: B's rows only, none of A's.
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
            third = view_rows(conn)
        assert_sees_only(third, b["rows"], a["rows"], "client 3 (tenant B) after tenant A")

        # And back: the connection carried nothing of B over either.
        with conn.transaction():
            assert_sees_nothing(conn, "client 4 (no context) after tenant B's commit")
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == "scoreledger_app", "sanity: the app's role"


def test_set_context_in_autocommit_has_no_lasting_effect(dsn, two_tenants):
    a, b = two_tenants["A"], two_tenants["B"]
    with pooled_connection(dsn, "security-autocommit") as conn:
        # A statement of its own is a transaction of its own: the context
        # it sets is gone when the statement ends.
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
        assert context(conn) == (None, None)
        assert tenant_views(view_rows(conn)) == {name: set() for name in tenant_views(a["rows"])}
        assert sqlstate_of(conn, "SELECT scoreledger.list_correction_batches()") == "SL401"
        assert_sees_nothing(conn, "autocommit statements after set_context(A)")

        conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
        conn.execute("SELECT set_config('scoreledger.tenant_id', %s, true)", [a["tenant"]])
        assert context(conn) == (None, None), "nor does a transaction-local setting made in autocommit"

        # Then a proper transaction for B sees B only.
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
            rows = view_rows(conn)
        assert_sees_only(rows, b["rows"], a["rows"], "tenant B after autocommit set_context calls")


def test_only_set_context_establishes_a_context(dsn, two_tenants):
    """Issue 12 item 14: a session-level SET by the application survives
    COMMIT and would follow a pooled connection to its next client; a value
    that is not a uuid would fail every view with 22P02. Both read as no
    context: views empty, SL401 from the API."""
    a, b = two_tenants["A"], two_tenants["B"]
    with pooled_connection(dsn, "security-session-set") as conn:
        # Client 1 sets the tenant at session level, with the settings of a
        # real set_context copied over (the marker included).
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
            for name in ("scoreledger.tenant_id", "scoreledger.actor_id", "scoreledger.context"):
                conn.execute("SELECT set_config(%s, current_setting(%s), false)", [name, name])
        assert conn.execute("SELECT current_setting('scoreledger.tenant_id') AS t").fetchone()["t"] == a["tenant"], (
            "sanity: the session-level setting survived the commit"
        )
        # Client 2 never calls set_context.
        with conn.transaction():
            assert_sees_nothing(conn, "a transaction after a session-level SET of tenant A")

        # A malformed tenant reads as no context too, not as a cast error.
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
            conn.execute("SET LOCAL scoreledger.tenant_id = 'not-a-uuid'")
            assert_sees_nothing(conn, "a malformed tenant setting after set_context")


def test_rolled_back_transaction_leaves_no_context(dsn, two_tenants):
    a, b = two_tenants["A"], two_tenants["B"]
    with pooled_connection(dsn, "security-rollback") as conn:
        # Rolled back on purpose.
        conn.execute("BEGIN")
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
        assert_sees_only(view_rows(conn), a["rows"], b["rows"], "tenant A before its rollback")
        conn.execute("ROLLBACK")
        assert context(conn) == (None, None)
        with conn.transaction():
            assert_sees_nothing(conn, "after tenant A's rollback")

        # Rolled back by an error after set_context.
        conn.execute("BEGIN")
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
        with pytest.raises(psycopg.Error) as failed:
            conn.execute("SELECT scoreledger.get_correction_batch(%s)", [str(uuid.uuid4())])
        assert failed.value.sqlstate == "SL404"
        conn.execute("ROLLBACK")
        with conn.transaction():
            assert_sees_nothing(conn, "after tenant A's failed transaction")

        # A context switched inside a rolled-back savepoint is undone with it.
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
            conn.execute("SAVEPOINT switch")
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
            conn.execute("ROLLBACK TO SAVEPOINT switch")
            assert_sees_only(view_rows(conn), a["rows"], b["rows"], "tenant A after B's savepoint was rolled back")


def test_prepared_statement_reused_by_another_tenant_sees_only_that_tenant(dsn, two_tenants):
    """A server-side prepared statement outlives its transaction on a pooled
    connection; its plan must not have captured the tenant."""
    query = "SELECT to_jsonb(s)::text AS row FROM scoreledger.submissions s"
    own = {label: two_tenants[label]["rows"]["scoreledger.submissions"] for label in ("A", "B")}
    with pooled_connection(dsn, "security-prepared") as conn:
        seen = []
        for label in ("A", None, "B", None, "A"):
            with conn.transaction():
                if label:
                    t = two_tenants[label]
                    conn.execute("SELECT scoreledger.set_context(%s, %s)", [t["tenant"], t["actor"]])
                rows = {r["row"] for r in conn.execute(query, prepare=True)}
            seen.append(rows)
            assert rows == (own[label] if label else set()), f"prepared statement as {label or 'no context'}"
        assert len(conn.execute("SELECT name FROM pg_prepared_statements").fetchall()) >= 1, "sanity: it was prepared"
    assert seen[0] and seen[2] and not seen[0] & seen[2], "sanity: A and B each see rows, none in common"


# ---------------------------------------------------------------------------
# Code the application plants in its own session never runs as the owner
# ---------------------------------------------------------------------------


def plant(conn: psycopg.Connection, statements: list[str]) -> bool:
    """Run the application's planting statements in one transaction; False
    when refused (e.g. no TEMP privilege): then there is nothing to exploit."""
    try:
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def note_definer_function(conn: psycopg.Connection) -> Callable[[], bool]:
    """Creates (as the connecting superuser) pg_temp.note_definer(text),
    which records -- in a sequence, which no rollback undoes -- that it ran as
    another role than scoreledger_app. Returns a probe: did it?"""
    conn.execute("CREATE TEMP SEQUENCE ran_as_definer")
    conn.execute("GRANT ALL ON SEQUENCE pg_temp.ran_as_definer TO PUBLIC")
    conn.execute(
        """CREATE FUNCTION pg_temp.note_definer(value text) RETURNS boolean LANGUAGE plpgsql AS $$
           BEGIN
             IF current_user <> 'scoreledger_app' THEN
               PERFORM nextval('pg_temp.ran_as_definer');
             END IF;
             RETURN true;
           END $$"""
    )
    return lambda: conn.execute("SELECT is_called FROM pg_temp.ran_as_definer").fetchone()["is_called"]


def test_temporary_types_of_the_application_never_run_as_the_owner(dsn, tenant, actor):
    """search_path = '' still searches the session's temporary schema FIRST
    for types: a temporary domain named uuid, text or jsonb replaces the
    built-in type in a definer function's body, and its CHECK then runs with
    the owner's rights. Pinning `search_path = pg_catalog, pg_temp` (pg_temp
    explicitly last) closes it."""
    items = standard_items()
    version_id = str(uuid.uuid4())
    # A fresh backend: nothing of the API compiled or planned yet.
    with connect(dsn, "security-temp-types") as conn:
        conn.autocommit = True
        ran_as_definer = note_definer_function(conn)
        conn.execute("SET ROLE scoreledger_app")
        planted = plant(
            conn,
            [
                f"CREATE DOMAIN pg_temp.{name} AS pg_catalog.{name} CHECK (pg_temp.note_definer(VALUE::pg_catalog.text))"
                for name in ("uuid", "text", "jsonb")
            ],
        )
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [tenant, actor])
            outcomes = {
                "import_evaluation_version": sqlstate_of(
                    conn,
                    "SELECT scoreledger.import_evaluation_version(%s)",
                    [Jsonb(evaluation_doc(str(uuid.uuid4()), version_id, items))],
                ),
                "record_submission": sqlstate_of(
                    conn,
                    "SELECT scoreledger.record_submission(%s)",
                    [
                        Jsonb(
                            submission_doc(
                                str(uuid.uuid4()), version_id, str(uuid.uuid4()), {items[0].question_version_id: {"B"}}
                            )
                        )
                    ],
                ),
                "list_correction_batches": sqlstate_of(conn, "SELECT * FROM scoreledger.list_correction_batches()"),
            }
        assert ran_as_definer() is False, (
            f"a temporary domain of the application ran its CHECK as the owner (planted: {planted}; calls: {outcomes})"
        )


def test_planted_scratch_tables_never_leak_the_next_tenants_documents(dsn, two_tenants):
    """record_submission works through scratch tables in pg_temp (the parsed
    documents and answers), created on first use in the session. A client
    that creates look-alikes first (with a trigger) gets its code run as the
    owner -- and, on a pooled connection, run on the next client's documents."""
    a, b = two_tenants["A"], two_tenants["B"]
    version_b = str(uuid.uuid4())
    items = standard_items()
    with db.acting(dsn, b["tenant"], b["actor"]) as conn:
        conn.execute(
            "SELECT scoreledger.import_evaluation_version(%s)",
            [Jsonb(evaluation_doc(str(uuid.uuid4()), version_b, items))],
        )
    with pooled_connection(dsn, "security-scratch") as conn:
        # Client 1 (tenant A) learns the scratch tables' definitions -- a
        # recording, rolled back -- then plants look-alikes that copy every
        # document into a table of its own, and commits.
        conn.execute("BEGIN")
        conn.execute("SELECT scoreledger.set_context(%s, %s)", [a["tenant"], a["actor"]])
        version_a = conn.execute(
            "SELECT evaluation_version_id::text AS v FROM scoreledger.evaluation_versions"
        ).fetchone()["v"]
        qv_a = conn.execute(
            "SELECT question_version_id::text AS q FROM scoreledger.items WHERE evaluation_version_id = %s LIMIT 1",
            [version_a],
        ).fetchone()["q"]
        conn.execute(
            "SELECT scoreledger.record_submission(%s)",
            [Jsonb(submission_doc(str(uuid.uuid4()), version_a, str(uuid.uuid4()), {qv_a: {"B"}}))],
        )
        scratch = conn.execute(
            """SELECT c.relname,
                      format('CREATE TEMP TABLE %I (%s)', c.relname,
                             (SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                                       coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')),
                                                ', ' ORDER BY a.attnum)
                              FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) AS ddl
               FROM pg_class c
               WHERE c.relnamespace = pg_my_temp_schema() AND c.relkind = 'r' AND c.relowner = 'scoreledger_owner'::regrole
               ORDER BY c.relname"""
        ).fetchall()
        conn.execute("ROLLBACK")
        assert scratch, "sanity: recording's scratch tables were found"

        statements = [
            "CREATE TEMP TABLE loot (tenant uuid, row jsonb)",
            "GRANT ALL ON pg_temp.loot TO scoreledger_owner",
        ]
        statements.append(
            """CREATE FUNCTION pg_temp.tg_copy_documents() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                 INSERT INTO pg_temp.loot SELECT scoreledger.current_tenant(), to_jsonb(n) FROM new_rows n;
                 RETURN NULL;
               END $$"""
        )
        for s in scratch:
            statements += [s["ddl"], f"GRANT ALL ON pg_temp.{s['relname']} TO scoreledger_owner"]
            statements.append(
                f"""CREATE TRIGGER copy_documents AFTER INSERT ON pg_temp.{s["relname"]}
                    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.tg_copy_documents()"""
            )
        planted = plant(conn, statements)

        # Client 2 (tenant B) records a submission on the same connection.
        secret = submission_doc(str(uuid.uuid4()), version_b, str(uuid.uuid4()), {items[0].question_version_id: {"C"}})
        with conn.transaction():
            conn.execute("SELECT scoreledger.set_context(%s, %s)", [b["tenant"], b["actor"]])
            outcome = sqlstate_of(conn, "SELECT scoreledger.record_submission(%s)", [Jsonb(secret)])

        # Client 1 again: nothing of B's may have reached it.
        loot = conn.execute("SELECT tenant::text, row FROM pg_temp.loot").fetchall() if planted else []
        leaked = [row for row in loot if row["tenant"] == b["tenant"]]
        assert leaked == [], (
            f"tenant B's submission document reached tenant A's client through planted scratch tables "
            f"(record_submission: {outcome or 'succeeded'}; {len(leaked)} document(s))"
        )
