"""The path a user takes (issue 16): `scoreledger import submissions FILE`
from a real newline-delimited JSON file, against a bare `COPY` of the same
file into a jsonb table plus `INSERT … SELECT` into minimal tables (the
same bare tables as the ingest line: submissions and answers with their
primary keys, no triggers, no checks).

The file holds `scale` documents of the bench's generator with fresh
submission ids, so it is a first import even after the ingest part.

Run by `python -m bench --only import` (not part of the default parts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from .harness import Bench
from .remediation import RemediationBench

BARE_TABLES = """
  CREATE TABLE bare_import_submissions (submission_id uuid PRIMARY KEY, evaluation_version_id uuid NOT NULL,
    user_id uuid NOT NULL, submitted_at timestamptz NOT NULL);
  CREATE TABLE bare_import_answers (submission_id uuid NOT NULL, question_version_id uuid NOT NULL,
    selected text[] NOT NULL, PRIMARY KEY (submission_id, question_version_id));
  CREATE TABLE bare_import_docs (doc jsonb NOT NULL)"""


def _write_file(bench: Bench, path: str) -> None:
    with open(path, "w") as out, bench.conn.cursor() as cur:
        cur.execute(
            """SELECT jsonb_set(e, '{submission_id}', to_jsonb(gen_random_uuid()::text))::text
                   FROM bench_chunks, jsonb_array_elements(docs) e ORDER BY chunk"""
        )
        for (line,) in cur:
            out.write(line + "\n")


def _bare_import(bench: Bench, path: str) -> float:
    bench.conn.execute("DROP TABLE IF EXISTS bare_import_submissions, bare_import_answers, bare_import_docs")
    for statement in BARE_TABLES.split(";"):
        bench.conn.execute(statement)
    start = time.perf_counter()
    with bench.conn.transaction():
        with (
            open(path, "rb") as source,
            bench.conn.cursor() as cur,
            # CSV with quote and delimiter bytes that JSON text never holds: each
            # line arrives verbatim (text format would interpret backslashes).
            cur.copy("COPY bare_import_docs (doc) FROM STDIN (FORMAT csv, QUOTE e'\\x01', DELIMITER e'\\x02')") as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        bench.conn.execute(
            """WITH s AS (INSERT INTO bare_import_submissions (submission_id, evaluation_version_id, user_id, submitted_at)
                 SELECT (doc->>'submission_id')::uuid, (doc->>'evaluation_version_id')::uuid, (doc->>'user_id')::uuid,
                        (doc->>'submitted_at')::timestamptz FROM bare_import_docs)
               INSERT INTO bare_import_answers (submission_id, question_version_id, selected)
               SELECT (doc->>'submission_id')::uuid, (a->>'question_version_id')::uuid,
                      ARRAY(SELECT jsonb_array_elements_text(a->'selected'))
               FROM bare_import_docs, jsonb_array_elements(doc->'answers') a"""
        )
    seconds = time.perf_counter() - start
    bench.conn.execute("DROP TABLE bare_import_submissions, bare_import_answers, bare_import_docs")
    return seconds


def bench_import(bench: Bench, remediation: RemediationBench) -> None:
    fd, path = tempfile.mkstemp(prefix="scoreledger-bench-", suffix=".jsonl")
    os.close(fd)
    try:
        _write_file(bench, path)
        command = [sys.executable, "-m", "scoreledger.cli", "--dsn", bench.dsn, "--tenant", bench.tenant]
        command += ["--actor", bench.actor, "import", "submissions", path]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        ours = time.perf_counter() - start
        bare = _bare_import(bench, path)
    finally:
        os.unlink(path)
    bench.report("import submissions FILE (the CLI)", bench.scale, ours, bare, "submissions")
