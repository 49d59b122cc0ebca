"""The package's shape: no import cycles (lazy imports count), engines never import front ends,
no source file over 500 lines. Read from the source with ``ast``, so nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
ENGINES = ("retrace", "cnn", "snn", "naming", "attention")
FRONT_ENDS = ("cli", "dashboard", "experiments")


def _modules() -> dict[str, Path]:
    found = {}
    for path in (SRC / "recollection").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its file (inside functions too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        out |= {c for c in candidates if c in MODULES}
    out.discard(name)
    if path.name == "__init__.py":  # a package re-exporting its own children is not a cycle
        out = {m for m in out if not m.startswith(name + ".")}
    return out


GRAPH = {name: _imported(name, path) for name, path in MODULES.items()}


def _cycle_from(start: str, graph: dict[str, set[str]] = GRAPH) -> list[str] | None:
    """One import path that leads from ``start`` back to itself, if any (iterative DFS)."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        module, path = stack.pop()
        for nxt in graph[module]:
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def test_the_module_graph_was_read():
    assert "recollection.retrace.engine" in MODULES
    assert "recollection.retrace.record" in GRAPH["recollection.retrace.engine"]


def test_a_constructed_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle_from("a", graph) == ["a", "b", "c", "a"]
    assert _cycle_from("d", graph) is None


def test_no_import_cycles():
    cycles = [c for m in sorted(GRAPH) if (c := _cycle_from(m))]
    assert not cycles, "import cycle: " + " -> ".join(cycles[0])


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_never_import_front_ends(engine):
    prefix = f"recollection.{engine}"
    wrong = sorted(
        f"{m} imports {d}"
        for m, deps in GRAPH.items() if m == prefix or m.startswith(prefix + ".")
        for d in deps if any(d == f"recollection.{f}" or d.startswith(f"recollection.{f}.") for f in FRONT_ENDS)
    )
    assert not wrong, wrong


def test_no_source_file_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in MODULES.values()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500}
    assert not long, long
