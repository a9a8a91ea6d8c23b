"""The library: one function per SQL API call, over a psycopg connection.

Nothing here scores, validates or decides: the database does. These wrap
calls so that the CLI (and tests) read as operations, not SQL strings.
"""

from __future__ import annotations

import psycopg
from psycopg.types.json import Jsonb


def create_tenant(conn: psycopg.Connection, name: str, tenant_id: str | None = None) -> str:
    return str(conn.execute("SELECT scoreledger.create_tenant(%s, %s) AS id", [name, tenant_id]).fetchone()["id"])


def list_tenants(conn: psycopg.Connection) -> list[dict]:
    """Every tenant with its policy. The view shows a policy only to its own tenant, so each is read
    under that tenant's context, in this one transaction (set_context is transaction-local)."""
    tenants = conn.execute("SELECT tenant_id, name, created_at FROM scoreledger.tenants ORDER BY name").fetchall()
    listed = []
    for t in tenants:
        conn.execute("SELECT scoreledger.set_context(%s)", [t["tenant_id"]])
        policy = conn.execute(
            "SELECT require_approval, enforce_capabilities FROM scoreledger.tenants"
            " WHERE tenant_id = scoreledger.current_tenant()"
        ).fetchone()
        listed.append({"tenant_id": t["tenant_id"], "name": t["name"], **policy, "created_at": t["created_at"]})
    return listed


def import_evaluation_version(conn: psycopg.Connection, doc: dict) -> str:
    row = conn.execute("SELECT scoreledger.import_evaluation_version(%s) AS id", [Jsonb(doc)]).fetchone()
    return str(row["id"])


def upsert_assignment(conn: psycopg.Connection, doc: dict) -> str:
    return str(conn.execute("SELECT scoreledger.upsert_assignment(%s) AS id", [Jsonb(doc)]).fetchone()["id"])


def record_submission(conn: psycopg.Connection, doc: dict) -> str:
    return str(conn.execute("SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc)]).fetchone()["id"])


class JsonLines(str):
    """Documents as an import reads them: one JSON text per line, sent as they are."""


def docs_argument(docs: list[dict] | JsonLines) -> tuple[str, object]:
    """The SQL for a documents argument and its parameter. JSON lines are parsed one by one
    in the server, so a line holding two values is refused, not read as two documents."""
    if isinstance(docs, JsonLines):
        return "(SELECT jsonb_agg(l::jsonb ORDER BY n) FROM string_to_table(%s, E'\\n') WITH ORDINALITY t(l, n))", str(
            docs
        )
    return "%s", Jsonb(docs)


def record_submissions(conn: psycopg.Connection, docs: list[dict] | JsonLines) -> int:
    sql, param = docs_argument(docs)
    return conn.execute(f"SELECT scoreledger.record_submissions({sql}) AS n", [param]).fetchone()["n"]


def submission_problems(conn: psycopg.Connection, docs: list[dict] | JsonLines) -> list[dict]:
    """The documents record_submissions would refuse: idx, sqlstate, message (the database's rules)."""
    sql, param = docs_argument(docs)
    return conn.execute(f"SELECT * FROM scoreledger.submission_problems({sql})", [param]).fetchall()


def submission_history(conn: psycopg.Connection, submission_id: str) -> list[dict]:
    """Each score a submission has had, oldest first, with the batch, who applied it and its reason."""
    return conn.execute(
        """SELECT h.history_id, h.correction_batch_id, h.score, h.max_score, h.created_at,
                  CASE WHEN b.id IS NOT NULL
                       THEN (scoreledger.get_correction_batch(b.id)->>'applied_by')::uuid END AS actor,
                  b.reason, b.reverts_batch_id
           FROM scoreledger.submission_score_history(%s) h
           LEFT JOIN scoreledger.correction_batches b ON b.id = h.correction_batch_id
           ORDER BY h.history_id""",
        [submission_id],
    ).fetchall()


def submission(conn: psycopg.Connection, submission_id: str) -> dict | None:
    return conn.execute("SELECT * FROM scoreledger.submissions WHERE submission_id = %s", [submission_id]).fetchone()


def check_invariants(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT scope, invariant, breaches, sample FROM scoreledger.check_invariants()").fetchall()


def list_evaluation_versions(conn: psycopg.Connection) -> list[dict]:
    return conn.execute(
        """SELECT v.evaluation_id, v.evaluation_version_id, v.title, v.version_no, v.pass_mark, v.item_count,
                  (SELECT count(*) FROM scoreledger.submissions s
                    WHERE s.evaluation_version_id = v.evaluation_version_id) AS submissions,
                  v.created_at
           FROM scoreledger.evaluation_versions v ORDER BY v.title, v.evaluation_id, v.version_no"""
    ).fetchall()


def evaluation_versions_of(conn: psycopg.Connection, evaluation_or_version_id: str) -> list[dict]:
    """The versions of the evaluation named by its id or by one of its versions' ids (empty: neither exists)."""
    return conn.execute(
        """SELECT v.evaluation_id, v.evaluation_version_id, v.title, v.version_no, v.pass_mark, v.item_count,
                  (SELECT count(*) FROM scoreledger.submissions s
                    WHERE s.evaluation_version_id = v.evaluation_version_id) AS submissions,
                  v.created_at
           FROM scoreledger.evaluation_versions v
           WHERE v.evaluation_id = (SELECT w.evaluation_id FROM scoreledger.evaluation_versions w
                                    WHERE w.evaluation_id = %(id)s OR w.evaluation_version_id = %(id)s LIMIT 1)
           ORDER BY v.version_no""",
        {"id": evaluation_or_version_id},
    ).fetchall()


def items_of(conn: psycopg.Connection, version_ids: list) -> list[dict]:
    """Every column of scoreledger.items (tags included where items carry them), in position order."""
    return conn.execute(
        "SELECT * FROM scoreledger.items WHERE evaluation_version_id = ANY(%s) ORDER BY evaluation_version_id, position",
        [version_ids],
    ).fetchall()


def score_spread(conn: psycopg.Connection, version_ids: list) -> list[dict]:
    """How many submissions of each version hold each (score, max_score) now: few rows, whatever the count."""
    return conn.execute(
        """SELECT evaluation_version_id, score, max_score, count(*) AS n FROM scoreledger.submissions
           WHERE evaluation_version_id = ANY(%s) GROUP BY 1, 2, 3""",
        [version_ids],
    ).fetchall()


def list_assignments(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.assignments ORDER BY title, assignment_id").fetchall()


def create_correction_batch(conn: psycopg.Connection, reason: str, corrections: list[dict]) -> str:
    row = conn.execute(
        "SELECT scoreledger.create_correction_batch(%s, %s) AS id", [reason, Jsonb(corrections)]
    ).fetchone()
    return str(row["id"])


def list_correction_batches(conn: psycopg.Connection, status: str | None = None) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.list_correction_batches(%s)", [status]).fetchall()


def action_center(conn: psycopg.Connection, status: str | None = None) -> list[dict]:
    """The batches with what each waits for and its stored figures, in the action center's order."""
    return conn.execute(
        """SELECT b.id, b.status, b.reason, b.created_by, b.created_at, b.applied_at, b.reverts_batch_id,
                  b.reverted_by_batch_id, b.correction_types, b.corrections,
                  n.waiting_for, n.next_actions, n.action_order,
                  n.submissions_affected, n.pass_to_fail, n.fail_to_pass, n.figures_at,
                  n.interventions_opened, n.interventions_withdrawn, n.remedial_completed
           FROM scoreledger.list_correction_batches(%s) b
           JOIN scoreledger.batch_next_actions n ON n.batch_id = b.id
           ORDER BY n.action_order, b.created_at DESC, b.id""",
        [status],
    ).fetchall()


def next_actions(conn: psycopg.Connection, batch_id: str) -> list[str]:
    """What may be done with the batch now (empty when it does not exist in this tenant)."""
    row = conn.execute(
        "SELECT next_actions FROM scoreledger.batch_next_actions WHERE batch_id = %s", [batch_id]
    ).fetchone()
    return row["next_actions"] if row else []


def get_correction_batch(conn: psycopg.Connection, batch_id: str) -> dict:
    return conn.execute("SELECT scoreledger.get_correction_batch(%s) AS doc", [batch_id]).fetchone()["doc"]


def apply_correction_batch(conn: psycopg.Connection, batch_id: str) -> dict:
    return conn.execute("SELECT scoreledger.apply_correction_batch(%s) AS result", [batch_id]).fetchone()["result"]


def revert_correction_batch(conn: psycopg.Connection, batch_id: str, reason: str) -> str:
    row = conn.execute("SELECT scoreledger.revert_correction_batch(%s, %s) AS id", [batch_id, reason]).fetchone()
    return str(row["id"])


def parse_item_ref(text: str) -> tuple[str | None, str]:
    """[EV:]QV -> (evaluation_version_id or None, question_version_id); the database checks they exist.

    Without EV the entry targets every evaluation version containing the question version
    (the database expands it when the batch is created).
    """
    version, sep, question = text.partition(":")
    if not sep:
        version, question = None, version
    if (sep and not version.strip()) or not question.strip():
        raise ValueError(f"{text!r}: expected [EVALUATION_VERSION_ID:]QUESTION_VERSION_ID")
    return (version.strip() if version is not None else None), question.strip()


def _target(kind: str, ref: str) -> dict:
    version, question = parse_item_ref(ref)
    entry = {"type": kind, "question_version_id": question}
    if version is not None:
        entry["evaluation_version_id"] = version
    return entry


def _tag(kind: str, tag: str) -> dict:
    if not tag.strip():
        raise ValueError(f"{tag!r}: expected a tag")
    return {"type": kind, "tag": tag}


def shorthand_corrections(
    drop_items=(), replace_keys=(), mark_corrects=(), drop_tags=(), mark_correct_tags=()
) -> list[dict]:
    """The CLI's --drop-item / --replace-key / --mark-correct / --drop-tag / --mark-correct-tag
    flags as a corrections document (the database expands the entries without EV and the tags)."""
    corrections: list[dict] = [_target("drop_item", ref) for ref in drop_items]
    for spec in replace_keys:
        ref, sep, options = spec.partition("=")
        if not sep or not options.strip():
            raise ValueError(f"{spec!r}: expected [EV:]QV=OPTION[,OPTION]")
        corrections.append(_target("replace_key", ref) | {"correct": [o.strip() for o in options.split(",")]})
    corrections += [_target("mark_correct", ref) for ref in mark_corrects]
    corrections += [_tag("drop_item", tag) for tag in drop_tags]
    corrections += [_tag("mark_correct", tag) for tag in mark_correct_tags]
    return corrections


def preview_correction_batch(conn: psycopg.Connection, batch_id: str) -> dict:
    return conn.execute("SELECT scoreledger.preview_correction_batch(%s) AS doc", [batch_id]).fetchone()["doc"]


def preview_correction_batch_changes(conn: psycopg.Connection, batch_id: str) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.preview_correction_batch_changes(%s)", [batch_id]).fetchall()


def preview_revert(conn: psycopg.Connection, batch_id: str) -> dict:
    return conn.execute("SELECT scoreledger.preview_revert(%s) AS doc", [batch_id]).fetchone()["doc"]


def preview_revert_changes(conn: psycopg.Connection, batch_id: str) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.preview_revert_changes(%s)", [batch_id]).fetchall()


def batch_pass_marks(conn: psycopg.Connection, batch_id: str) -> list:
    """The pass marks of the evaluation versions a batch's corrections name (for the histogram's marks)."""
    return [
        r["pass_mark"]
        for r in conn.execute(
            """SELECT DISTINCT v.pass_mark FROM scoreledger.evaluation_versions v
               WHERE v.evaluation_version_id IN (
                 SELECT (c->>'evaluation_version_id')::uuid
                 FROM jsonb_array_elements(scoreledger.get_correction_batch(%s)->'corrections') c)""",
            [batch_id],
        )
    ]


def batch_action(conn: psycopg.Connection, action: str, batch_id: str, note: str | None = None) -> dict:
    """submit / approve / reject / discard a batch; the database checks the workflow."""
    if action in ("approve", "reject"):
        sql = f"SELECT scoreledger.{action}_correction_batch(%s, %s) AS doc"
        return conn.execute(sql, [batch_id, note]).fetchone()["doc"]
    sql = f"SELECT scoreledger.{action}_correction_batch(%s) AS doc"
    return conn.execute(sql, [batch_id]).fetchone()["doc"]


def update_correction_batch(
    conn: psycopg.Connection, batch_id: str, reason: str | None, corrections: list | None
) -> dict:
    row = conn.execute(
        "SELECT scoreledger.update_correction_batch(%s, %s, %s) AS doc",
        [batch_id, reason, Jsonb(corrections) if corrections is not None else None],
    ).fetchone()
    return row["doc"]


def set_tenant_policy(
    conn: psycopg.Connection, require_approval: bool | None, enforce_capabilities: bool | None
) -> dict:
    return conn.execute(
        "SELECT scoreledger.set_tenant_policy(%s, %s) AS policy", [require_approval, enforce_capabilities]
    ).fetchone()["policy"]


def grant_capability(conn: psycopg.Connection, user_id: str, capability: str) -> bool:
    return conn.execute("SELECT scoreledger.grant_capability(%s, %s) AS ok", [user_id, capability]).fetchone()["ok"]


def revoke_capability(conn: psycopg.Connection, user_id: str, capability: str) -> bool:
    return conn.execute("SELECT scoreledger.revoke_capability(%s, %s) AS ok", [user_id, capability]).fetchone()["ok"]


def list_capabilities(conn: psycopg.Connection) -> list[dict]:
    return conn.execute("SELECT * FROM scoreledger.capabilities ORDER BY user_id, capability").fetchall()


def tenant_policy(conn: psycopg.Connection) -> dict:
    """The policy in force, shaped as set_tenant_policy returns it (with
    pending_change when a lowering awaits confirmation)."""
    policy = conn.execute(
        "SELECT require_approval, enforce_capabilities FROM scoreledger.tenants WHERE tenant_id = scoreledger.current_tenant()"
    ).fetchone()
    pending = conn.execute(
        "SELECT change_id::text AS change_id, require_approval, enforce_capabilities, requested_by::text AS requested_by,"
        " requested_at FROM scoreledger.policy_changes WHERE status = 'pending'"
    ).fetchone()
    return dict(policy) | ({"pending_change": dict(pending)} if pending else {})


def confirm_tenant_policy(conn: psycopg.Connection, change_id: str) -> dict:
    return conn.execute("SELECT scoreledger.confirm_tenant_policy(%s) AS policy", [change_id]).fetchone()["policy"]


# ------------------------------------------------------------ learners' gates (contract section 11)


def start_attempt(conn: psycopg.Connection, assignment_id: str, user_id: str) -> dict:
    return conn.execute("SELECT scoreledger.start_attempt(%s, %s) AS doc", [assignment_id, user_id]).fetchone()["doc"]


def check_attempt(conn: psycopg.Connection, assignment_id: str, user_id: str) -> dict:
    return conn.execute("SELECT scoreledger.check_attempt(%s, %s) AS doc", [assignment_id, user_id]).fetchone()["doc"]


def learner_status(conn: psycopg.Connection, assignment_id: str, user_id: str) -> dict:
    return conn.execute("SELECT scoreledger.learner_status(%s, %s) AS doc", [assignment_id, user_id]).fetchone()["doc"]


def list_interventions(conn: psycopg.Connection, status: str | None = None, assignment_id: str | None = None) -> list:
    return conn.execute("SELECT * FROM scoreledger.list_interventions(%s, %s)", [status, assignment_id]).fetchall()


def open_intervention(conn: psycopg.Connection, assignment_id: str, user_id: str, reason: str) -> str:
    return str(
        conn.execute(
            "SELECT scoreledger.open_intervention(%s, %s, %s) AS id", [assignment_id, user_id, reason]
        ).fetchone()["id"]
    )


def resolve_intervention(conn: psycopg.Connection, intervention_id: str, note: str) -> dict:
    return conn.execute("SELECT scoreledger.resolve_intervention(%s, %s) AS doc", [intervention_id, note]).fetchone()[
        "doc"
    ]
