"""Deterministic submission ids (contract v2 section 3; issue 12, item 3).

A document without submission_id gets a UUID version 5, in the namespace
4c0a5f8e-2d3b-5e7a-9c61-7f0d2b9e8a13, of the name
"<tenant>:<evaluation_version_id>:<user_id>:<submitted_at>" (lower-case
uuids, submitted_at in UTC as YYYY-MM-DDTHH:MI:SS.ffffffZ). A client can
compute it; re-importing the same attempts is a no-op.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from helpers import acting_on, connect, evaluation_doc, invariant_breaches, standard_items
from psycopg.types.json import Jsonb

NAMESPACE = uuid.UUID("4c0a5f8e-2d3b-5e7a-9c61-7f0d2b9e8a13")


def client_side_id(tenant: str, version_id: str, user_id: str, submitted_at: str) -> uuid.UUID:
    moment = datetime.fromisoformat(submitted_at.replace("Z", "+00:00")).astimezone(UTC)
    name = f"{tenant.lower()}:{version_id.lower()}:{user_id.lower()}:{moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    return uuid.uuid5(NAMESPACE, name)


@pytest.fixture
def versions(dsn, tenant, actor):
    """Two evaluation versions (two exams) with the standard items; returns
    [(version_id, item ids)]."""
    out = []
    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        for _ in range(2):
            items = standard_items()
            version_id = str(uuid.uuid4())
            conn.execute(
                "SELECT scoreledger.import_evaluation_version(%s)",
                [Jsonb(evaluation_doc(str(uuid.uuid4()), version_id, items))],
            )
            out.append((version_id, [i.question_version_id for i in items]))
    return out


def doc(version, user, submitted_at, selected=("B",)):
    version_id, qvs = version
    return {
        "evaluation_version_id": version_id,
        "user_id": user,
        "submitted_at": submitted_at,
        "answers": [{"question_version_id": qvs[0], "selected": list(selected)}],
    }


def record_all(dsn, tenant, actor, docs):
    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        return conn.execute("SELECT scoreledger.record_submissions(%s) AS n", [Jsonb(docs)]).fetchone()["n"]


def submissions(dsn, tenant, actor):
    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        return conn.execute(
            "SELECT submission_id::text AS id, user_id::text AS user_id, attempt_no"
            " FROM scoreledger.submissions ORDER BY submission_id"
        ).fetchall()


def test_the_id_is_the_documented_uuid5_a_client_can_compute(dsn, tenant, actor, versions):
    user = str(uuid.uuid4())
    at = "2026-11-01T12:30:05.25+02:00"  # another offset, fewer fractional digits: normalised
    with connect(dsn) as conn, acting_on(conn, tenant, actor):
        sid = conn.execute(
            "SELECT scoreledger.record_submission(%s) AS id", [Jsonb(doc(versions[0], user, at))]
        ).fetchone()["id"]
    assert sid == client_side_id(tenant, versions[0][0], user, at)
    assert sid.version == 5


def test_importing_the_same_file_four_times_records_each_attempt_once(dsn, tenant, actor, versions):
    """On main: four copies of every attempt (attempt_no up to 4 here) and
    check clean. Now: the first import records them, the next three are
    no-ops (0 newly recorded), attempt numbers unchanged, check clean."""
    users = [str(uuid.uuid4()) for _ in range(5)]
    file = [
        doc(versions[n % 2], u, f"2026-11-0{1 + n % 3}T10:00:00Z", ("B",) if n % 2 else ("C",))
        for n, u in enumerate(users)
    ] + [doc(versions[0], users[0], "2026-11-05T09:00:00Z")]
    counts = [record_all(dsn, tenant, actor, file) for _ in range(4)]
    assert counts == [6, 0, 0, 0]
    rows = submissions(dsn, tenant, actor)
    assert len(rows) == 6
    assert sorted(r["attempt_no"] for r in rows if r["user_id"] == users[0]) == [1, 2]
    assert max(r["attempt_no"] for r in rows) == 2
    assert invariant_breaches(dsn) == []


def test_one_learner_two_exams_same_second_in_one_call(dsn, tenant, actor, versions):
    """Refused on main with a generic SL422 naming no entry (Memoize reused
    one gen_random_uuid() for both). Now both are recorded, with different
    ids."""
    user = str(uuid.uuid4())
    at = "2026-11-01T10:00:00Z"
    assert record_all(dsn, tenant, actor, [doc(versions[0], user, at), doc(versions[1], user, at)]) == 2
    ids = {r["id"] for r in submissions(dsn, tenant, actor)}
    assert ids == {str(client_side_id(tenant, v[0], user, at)) for v in versions}


def test_twins_in_one_call_same_content_recorded_once(dsn, tenant, actor, versions):
    user = str(uuid.uuid4())
    d = doc(versions[0], user, "2026-11-01T10:00:00Z")
    same_moment = dict(d, submitted_at="2026-11-01T11:00:00+01:00")
    assert record_all(dsn, tenant, actor, [d, same_moment]) == 1
    assert [r["attempt_no"] for r in submissions(dsn, tenant, actor)] == [1]
    assert invariant_breaches(dsn) == []


def test_twins_in_one_call_with_different_answers_name_both_entries(dsn, tenant, actor, versions):
    user = str(uuid.uuid4())
    first = doc(versions[0], user, "2026-11-01T10:00:00Z", ("B",))
    other = doc(versions[0], user, "2026-11-01T10:00:00Z", ("C",))
    with pytest.raises(psycopg.Error) as caught:
        record_all(dsn, tenant, actor, [doc(versions[1], user, "2026-11-01T10:00:00Z"), first, other])
    assert caught.value.sqlstate == "SL422"
    assert "submissions[1] and submissions[2]" in str(caught.value)
    assert submissions(dsn, tenant, actor) == []


def test_a_null_submission_id_is_derived_too(dsn, tenant, actor, versions):
    user = str(uuid.uuid4())
    d = dict(doc(versions[0], user, "2026-11-01T10:00:00Z"), submission_id=None)
    assert record_all(dsn, tenant, actor, [d, d]) == 1
    assert [r["id"] for r in submissions(dsn, tenant, actor)] == [
        str(client_side_id(tenant, versions[0][0], user, "2026-11-01T10:00:00Z"))
    ]
