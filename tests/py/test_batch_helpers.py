"""Batch creation helpers through the CLI (contract section 12, issue 15 part 1).

`--drop-item QV` / `--mark-correct QV` without `EV:`, `--drop-tag`, `--mark-correct-tag`
and `--file` as JSON or CSV (or `-`, stdin) all become a corrections document the
database expands; `batch show` lists the concrete corrections, and preview, apply,
revert and history then work as on a batch written out by hand. The CLI parses the
format only: every rule (a tag matching nothing, a duplicate target) is the database's.
"""

from __future__ import annotations

import json
import uuid

import pytest

EVALUATION = "11111111-0000-4000-8000-0000000000e1"
SHARED_QV = "33333333-0000-4000-8000-0000000000a1"


def qv(n: int) -> str:
    return f"33333333-0000-4000-8000-0000000000{n:02d}"


def item(question_version_id: str, tags: list[str] | None = None, n: int = 0) -> dict:
    doc = {
        "question_id": str(uuid.uuid5(uuid.NAMESPACE_URL, question_version_id)),
        "question_version_id": question_version_id,
        "kind": "single_choice",
        "prompt": f"Question {n}?",
        "options": ["A", "B", "C"],
        "correct": ["B"],
        "points": 1,
    }
    if tags is not None:
        doc["tags"] = tags
    return doc


def version_doc(version_no: int, items: list[dict]) -> dict:
    return {
        "evaluation_id": EVALUATION,
        "evaluation_version_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"helpers-v{version_no}")),
        "evaluation_title": "Safety",
        "version_no": version_no,
        "pass_mark": 0.5,
        "items": items,
    }


@pytest.fixture
def world(run, tmp_path, actor):
    """Two versions sharing SHARED_QV; tags: v1 [shared: retired, q2: safety], v2 [shared: none, q3: retired].
    Four submissions, two per version, each answering B (right) everywhere."""
    name = f"helpers-{uuid.uuid4().hex[:6]}"
    assert run("tenant", "create", name).exit_code == 0
    docs = [
        version_doc(1, [item(SHARED_QV, ["retired"], 1), item(qv(2), ["safety"], 2)]),
        version_doc(2, [item(SHARED_QV, None, 1), item(qv(3), ["retired"], 3)]),
    ]
    path = tmp_path / "evaluations.json"
    path.write_text(json.dumps(docs))
    imported = run("--json", "import", "evaluation", str(path), tenant=name, actor=actor)
    assert imported.exit_code == 0, imported.output
    v1, v2 = json.loads(imported.output)["evaluation_version_ids"]
    lines = []
    for n, (version, questions) in enumerate([(v1, [SHARED_QV, qv(2)])] * 2 + [(v2, [SHARED_QV, qv(3)])] * 2):
        lines.append(
            json.dumps(
                {
                    "submission_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"helpers-s{n}")),
                    "evaluation_version_id": version,
                    "user_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"helpers-u{n}")),
                    "submitted_at": f"2026-11-01T10:{n:02d}:00Z",
                    "answers": [{"question_version_id": q, "selected": ["B"]} for q in questions],
                }
            )
        )
    submissions = tmp_path / "submissions.jsonl"
    submissions.write_text("\n".join(lines) + "\n")
    assert run("import", "submissions", str(submissions), tenant=name).exit_code == 0
    return {"tenant": name, "actor": actor, "v1": v1, "v2": v2, "tmp": tmp_path}


def create(run, world, *args, input=None):
    return run(
        "--json",
        "batch",
        "create",
        "--reason",
        "helpers",
        *args,
        tenant=world["tenant"],
        actor=world["actor"],
        input=input,
    )


def stored(run, world, batch_id: str) -> list[tuple]:
    shown = json.loads(run("--json", "batch", "show", batch_id, tenant=world["tenant"]).output)
    return sorted((c["type"], c["evaluation_version_id"], c["question_version_id"]) for c in shown["corrections"])


def test_drop_item_without_ev_reaches_every_version(run, world):
    created = create(run, world, "--drop-item", SHARED_QV)
    assert created.exit_code == 0, created.output
    batch = json.loads(created.output)["batch_id"]
    assert stored(run, world, batch) == sorted(
        [("drop_item", world["v1"], SHARED_QV), ("drop_item", world["v2"], SHARED_QV)]
    )
    human = run(
        "batch",
        "create",
        "--reason",
        "again",
        "--mark-correct",
        SHARED_QV,
        tenant=world["tenant"],
        actor=world["actor"],
    )
    assert human.exit_code == 0 and "2 correction(s) (from 1 entries)" in human.output


def test_tags_and_the_expanded_batch_through_preview_apply_revert(run, world):
    created = create(run, world, "--drop-tag", "retired", "--mark-correct-tag", "safety")
    assert created.exit_code == 0, created.output
    batch = json.loads(created.output)["batch_id"]
    assert stored(run, world, batch) == sorted(
        [
            ("drop_item", world["v1"], SHARED_QV),
            ("drop_item", world["v2"], qv(3)),
            ("mark_correct", world["v1"], qv(2)),
        ]
    )
    # The same corrections written out by hand preview identically.
    by_hand = world["tmp"] / "by_hand.json"
    by_hand.write_text(
        json.dumps(
            [
                {"type": "drop_item", "evaluation_version_id": world["v1"], "question_version_id": SHARED_QV},
                {"type": "drop_item", "evaluation_version_id": world["v2"], "question_version_id": qv(3)},
                {"type": "mark_correct", "evaluation_version_id": world["v1"], "question_version_id": qv(2)},
            ]
        )
    )
    hand = json.loads(create(run, world, "--file", str(by_hand)).output)["batch_id"]
    previews = [json.loads(run("--json", "batch", "preview", b, tenant=world["tenant"]).output) for b in (batch, hand)]
    assert {k: v for k, v in previews[0].items() if k != "batch_id"} == {
        k: v for k, v in previews[1].items() if k != "batch_id"
    }
    assert previews[0]["submissionsAffected"] == 4
    assert run("batch", "discard", hand, "--yes", tenant=world["tenant"], actor=world["actor"]).exit_code == 0

    applied = json.loads(
        run("--json", "batch", "apply", batch, "--yes", tenant=world["tenant"], actor=world["actor"]).output
    )
    assert applied["submissions_rescored"] == 4
    submission = str(uuid.uuid5(uuid.NAMESPACE_URL, "helpers-s2"))  # version 2: shared + q3 (dropped)
    history = json.loads(run("--json", "submission", "history", submission, tenant=world["tenant"]).output)["history"]
    assert [(h["score"], h["max_score"]) for h in history] == [(2, 2), (1, 1)]
    reverted = run(
        "--json", "batch", "revert", batch, "--reason", "undo", "--yes", tenant=world["tenant"], actor=world["actor"]
    )
    assert reverted.exit_code == 0, reverted.output
    history = json.loads(run("--json", "submission", "history", submission, tenant=world["tenant"]).output)["history"]
    assert [(h["score"], h["max_score"]) for h in history] == [(2, 2), (1, 1), (2, 2)]


def test_file_as_csv_and_from_stdin(run, world):
    csv_text = (
        "type,evaluation_version_id,question_version_id,correct,tag\n"
        f'replace_key,,{SHARED_QV},"A,C",\n'
        "drop_item,,,,safety\n"
        f"mark_correct,{world['v2']},{qv(3)},,\n"
    )
    path = world["tmp"] / "corrections.csv"
    path.write_text(csv_text)
    from_file = create(run, world, "--file", str(path))
    assert from_file.exit_code == 0, from_file.output
    expected = sorted(
        [
            ("replace_key", world["v1"], SHARED_QV),
            ("replace_key", world["v2"], SHARED_QV),
            ("drop_item", world["v1"], qv(2)),
            ("mark_correct", world["v2"], qv(3)),
        ]
    )
    assert stored(run, world, json.loads(from_file.output)["batch_id"]) == expected
    shown = json.loads(
        run("--json", "batch", "show", json.loads(from_file.output)["batch_id"], tenant=world["tenant"]).output
    )
    assert [c["correct"] for c in shown["corrections"] if c["type"] == "replace_key"] == [["A", "C"], ["A", "C"]]

    from_stdin = create(run, world, "--file", "-", input=csv_text)
    assert from_stdin.exit_code == 0, from_stdin.output
    assert stored(run, world, json.loads(from_stdin.output)["batch_id"]) == expected

    as_json = create(run, world, "--file", "-", input=json.dumps([{"type": "drop_item", "tag": "retired"}]))
    assert as_json.exit_code == 0, as_json.output
    assert len(stored(run, world, json.loads(as_json.output)["batch_id"])) == 2


def test_edit_takes_the_helpers_too(run, world):
    batch = json.loads(create(run, world, "--drop-tag", "safety").output)["batch_id"]
    edited = run(
        "--json", "batch", "edit", batch, "--mark-correct", SHARED_QV, tenant=world["tenant"], actor=world["actor"]
    )
    assert edited.exit_code == 0, edited.output
    assert stored(run, world, batch) == sorted(
        [("mark_correct", world["v1"], SHARED_QV), ("mark_correct", world["v2"], SHARED_QV)]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--drop-tag", "nobody uses this"],
            'corrections[0].tag: no item of an evaluation version carries tag "nobody uses this"',
        ),
        (["--mark-correct", "33333333-0000-4000-8000-0000000000ff"], "is not an item of any evaluation version"),
        (["--drop-item", SHARED_QV, "--drop-tag", "retired"], "corrections[1]: a second drop_item for the same item"),
    ],
)
def test_database_refusals_are_one_line_and_write_nothing(run, world, args, message):
    result = run("batch", "create", "--reason", "r", *args, tenant=world["tenant"], actor=world["actor"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert "SL422" in result.output and message in result.output
    assert json.loads(run("--json", "batch", "list", tenant=world["tenant"]).output) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("type,question_version_id,colour\ndrop_item,x,red\n", "unknown CSV column 'colour'"),
        ("question_version_id\nx\n", "neither JSON nor a CSV"),
        ("type,tag\ndrop_item,a,b\n", "line 2: more cells than columns"),
        ('[{"type": ', "not valid JSON"),
        ('type,correct\nreplace_key,["A"\n', "correct: not a valid JSON array"),
    ],
)
def test_malformed_files_are_one_line_errors(run, world, content, message):
    result = create(run, world, "--file", "-", input=content)
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_usage_errors_and_help(run, world):
    assert create(run, world, "--drop-item", "ev-without-question:").exit_code == 2
    assert create(run, world, "--drop-tag", "  ").exit_code == 2
    assert create(run, world, "--replace-key", SHARED_QV).exit_code == 2
    helped = run("batch", "create", "--help")
    for flag in ("--drop-tag", "--mark-correct-tag", "[EV:]QV", "repeatable", "- reads stdin"):
        assert flag in helped.output
