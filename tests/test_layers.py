"""The layers of the project only point down.  Every non-test .py file is parsed (ast)
and each of its imports of a project package (``import x``, ``from x import y``,
relative imports; at module level and inside functions) is mapped to the top-level
package it names.  The layers, bottom up:

    0  toys       2-D objectives
    1  dynamics   optimizers, roll-outs, flows, sweeps, claims
    2  viz        Plotly figure builders (data in, figure out)
    3  figures    the paper figures: presets and their computation
       ui         the Streamlit views
       cli        the command line
    4  app.py, bench/, dev.py   entry points

A module may import its own package and the layers below it.  The three packages of
layer 3 are peers that do not import each other, except that ui and cli may import
figures (the paper figures are shared by the command line and the app).  Nothing
imports the entry points of layer 4.  The one exemption is ``dynamics/__main__.py``:
``python -m dynamics`` is an entry point that hands over to cli.main.  The package
graph must also have no cycle.
"""
from __future__ import annotations

import ast
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"toys": 0, "dynamics": 1, "viz": 2, "figures": 3, "ui": 3, "cli": 3, "app": 4, "bench": 4, "dev": 4}
PEER_IMPORTS = {("ui", "figures"), ("cli", "figures")}
EXEMPT = {"dynamics/__main__.py"}


def project_files() -> list[Path]:
    """Every .py file of the project outside tests/ and hidden or virtual-environment folders."""
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__")) and d not in ("tests", "venv", "node_modules"))
        out += [Path(folder) / f for f in sorted(files) if f.endswith(".py")]
    return out


def package_of(path: Path) -> str:
    """The top-level package (or entry point) a file belongs to: its first folder, or
    its name without .py at the root."""
    parts = path.relative_to(ROOT).parts
    return parts[0] if len(parts) > 1 else parts[0][:-3]


def imported_packages(source: str, package: str) -> list[tuple[int, str]]:
    """(line, top-level name) of every import in ``source`` (a file of ``package``),
    anywhere in it; relative imports resolve to ``package``."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.lineno, package if node.level else node.module.split(".")[0]))
    return out


def edges(files: list[Path]) -> list[tuple[str, int, str, str]]:
    """(file, line, importer package, imported package) for every import of another
    project package, the exempt files left out."""
    out = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel in EXEMPT:
            continue
        src = package_of(path)
        out += [(rel, line, src, dst) for line, dst in imported_packages(path.read_text(encoding="utf-8"), src)
                if dst in LAYERS and dst != src]
    return out


def allowed(src: str, dst: str) -> bool:
    """Whether package ``src`` may import package ``dst``."""
    return LAYERS[dst] < LAYERS[src] or (src, dst) in PEER_IMPORTS


def cycles(pairs: set[tuple[str, str]]) -> list[list[str]]:
    """The cycles of the package graph ``pairs`` (src -> dst), each as a closed path."""
    graph: dict[str, set[str]] = {}
    for src, dst in pairs:
        graph.setdefault(src, set()).add(dst)
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append(path[path.index(node):] + [node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, path + [node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def test_every_package_has_a_layer():
    unknown = {package_of(p) for p in project_files()} - set(LAYERS)
    assert not unknown, f"files outside the known layers: {sorted(unknown)} (add them to LAYERS)"


def test_imports_only_point_down():
    bad = [f"{rel}:{line}: {src} (layer {LAYERS[src]}) imports {dst} (layer {LAYERS[dst]})"
           for rel, line, src, dst in edges(project_files()) if not allowed(src, dst)]
    assert not bad, "upward or sideways imports:\n" + "\n".join(bad)


def test_no_package_cycle():
    found = cycles({(src, dst) for _, _, src, dst in edges(project_files())})
    assert not found, "package cycles: " + "; ".join(" -> ".join(c) for c in found)


def test_the_checks_catch_what_they_should():
    """The checker itself: a relative import, and upward imports inside a function, are
    found; a two-package cycle is reported."""
    source = "from . import theme\n\ndef f():\n    import cli.options\n    from figures import presets\n"
    assert imported_packages(source, "viz") == [(1, "viz"), (4, "cli"), (5, "figures")]
    assert not allowed("viz", "cli") and not allowed("figures", "ui") and not allowed("ui", "cli")
    assert allowed("cli", "figures") and allowed("app", "ui") and allowed("viz", "toys")
    assert cycles({("viz", "dynamics"), ("dynamics", "viz"), ("toys", "dynamics")}) == [["dynamics", "viz", "dynamics"]]
