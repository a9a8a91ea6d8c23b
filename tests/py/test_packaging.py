"""The package carries its SQL, and `make install` installs only what the CLI needs.

The wheel is built from a copy of the sources, installed into a fresh venv
outside the repository (its dependencies from the machine's configured
package indexes), and migrates a new database from there.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

REPO = Path(__file__).resolve().parents[2]


def test_make_install_installs_the_cli_without_test_tools():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = " ".join(project["dependencies"])
    assert not re.search(r"pytest|ruff|hypothesis|squawk", runtime)
    recipe = (REPO / "Makefile").read_text().split("$(VENV)/.installed: pyproject.toml")[1].split("\n\n")[0]
    assert "pip install -q -e .\n" in recipe + "\n" and "[dev]" not in recipe
    # The test targets bring the tools.
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^pytest: dev", makefile, re.M) and re.search(r"^lint: dev", makefile, re.M)


def test_the_built_wheel_migrates_a_new_database_from_outside_the_repository(tmp_path, dsn):
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for part in ("shell", "sql", "migrations"):
        shutil.copytree(REPO / part, source / part, ignore=ignore)
    shutil.copy(REPO / "pyproject.toml", source)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], check=True, cwd=tmp_path, timeout=300)
    (wheel,) = wheels.glob("scoreledger-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q", "install", str(wheel)],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    shutil.rmtree(source)  # nothing may be read from a checkout

    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "from scoreledger import db; print(db.SQL_DIR, db.MIGRATIONS_DIR)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.split()
    assert all(Path(p).is_relative_to(venv) for p in where), where
    # The CLI alone: no test tools came with it.
    assert subprocess.run([str(venv / "bin/python"), "-c", "import pytest"], capture_output=True).returncode != 0

    name = f"scoreledger_wheel_{uuid.uuid4().hex[:8]}"
    fresh = make_conninfo(dsn, dbname=name)
    scoreledger = str(venv / "bin/scoreledger")
    try:
        migrated = subprocess.run(
            [scoreledger, "--dsn", fresh, "db", "migrate"], capture_output=True, text=True, cwd=tmp_path, timeout=300
        )
        assert migrated.returncode == 0, migrated.stderr
        assert f"created database {name}" in migrated.stdout and "0001_foundation" in migrated.stdout
        status = subprocess.run(
            [scoreledger, "--dsn", fresh, "db", "status", "--csv"], capture_output=True, text=True, cwd=tmp_path
        )
        assert status.returncode == 0, status.stdout + status.stderr
        assert {line.split(",")[2] for line in status.stdout.splitlines()[1:]} == {"applied", "loaded"}
        checked = subprocess.run([scoreledger, "--dsn", fresh, "check"], capture_output=True, text=True, cwd=tmp_path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        with psycopg.connect(make_conninfo(dsn, dbname="postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
