"""The shell and the bench import without circles (issue 11, point 6).

The graph is built from the source with `ast`, imports inside functions
included: a circle dodged by a late import is still a circle. Then every
module is imported for real, so a module that cannot be imported on its
own fails here too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"scoreledger": ROOT / "shell" / "scoreledger", "bench": ROOT / "bench"}
sys.path.insert(0, str(ROOT))  # the project root, for `bench`


def module_files() -> dict[str, Path]:
    """module name -> file, for every module of the packages."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.glob("*.py")):
            modules[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that module `name` imports, anywhere in its body."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            # `from pkg import mod` imports pkg.mod when it is a module, else a name of pkg.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {t for t in targets if t in known and t != name}
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imported_modules(name, path, set(files)) for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle_and_only_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_relative_absolute_and_late_imports(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "one.py").write_text("from . import two\nfrom .three import x\n")
    source = "import pkg.one\n\ndef f():\n    from pkg import one\n"
    (package / "two.py").write_text(source)
    known = {"pkg", "pkg.one", "pkg.two", "pkg.three"}
    assert imported_modules("pkg.one", package / "one.py", known) == {"pkg", "pkg.two", "pkg.three"}
    assert imported_modules("pkg.two", package / "two.py", known) == {"pkg", "pkg.one"}


def test_the_shell_and_the_bench_have_no_import_circle():
    graph = import_graph()
    # The modules the circles of issue 11 ran through are all there.
    assert {"scoreledger.cli", "scoreledger.cli_scores", "scoreledger.demo", "bench.__main__", "bench.scores"} <= set(
        graph
    )
    assert "scoreledger.render" in graph["scoreledger.demo"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


@pytest.mark.parametrize("name", sorted(module_files()))
def test_every_module_imports_on_its_own(name):
    # A fresh interpreter each: what an earlier import left in sys.modules cannot hide a circle.
    code = f"import importlib; assert importlib.import_module({name!r}).__name__ == {name!r}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
