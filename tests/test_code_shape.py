"""Shape of the code (issue 11): no function or method longer than MAX_FUNCTION_LINES
lines (docstring included) and no module longer than MAX_MODULE_LINES lines, in every
Python file of the project outside tests/ and docs/ (app.py, dynamics/, toys/, viz/,
ui/, bench/ and any package added later).  Longer code is split into named steps or,
for a module, by responsibility."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400
SKIPPED_DIRS = {"tests", "docs", "__pycache__", "node_modules", "build", "dist"}


def project_files() -> list[Path]:
    """The project's Python files: every *.py under the repository root except in
    SKIPPED_DIRS and hidden directories (.venv, .git, ...)."""
    return sorted(p for p in ROOT.rglob("*.py")
                  if not any(part in SKIPPED_DIRS or part.startswith(".")
                             for part in p.relative_to(ROOT).parent.parts))


def long_functions(path: Path) -> list[str]:
    """'path:line name (n lines)' for each function or method of ``path`` longer than
    MAX_FUNCTION_LINES lines."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT)
    return [f"{rel}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_the_project_files_are_found():
    names = {str(p.relative_to(ROOT)) for p in project_files()}
    assert {"app.py", "toys/expr.py", "viz/ratemap.py"} <= names
    assert not any(n.startswith(("tests/", ".venv/", "docs/")) for n in names)


def test_no_function_is_longer_than_the_limit():
    found = [entry for path in project_files() for entry in long_functions(path)]
    assert not found, (f"functions longer than {MAX_FUNCTION_LINES} lines (split them into named steps):\n  "
                       + "\n  ".join(found))


def test_no_module_is_longer_than_the_limit():
    found = [f"{p.relative_to(ROOT)} ({n} lines)" for p in project_files()
             if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    assert not found, (f"modules longer than {MAX_MODULE_LINES} lines (split them by responsibility):\n  "
                       + "\n  ".join(found))
