"""docs/read-path.md's degradation table names, for each row of DESIGN.md's failure table, the tests that
prove it: every row must name at least one, and every named test must exist (a renamed or deleted test
must not leave the documentation pointing at nothing)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "read-path.md"

# DESIGN.md section 1, "Failure behaviour": one row each (the doc may word them more precisely).
FAILURES = ("redis down", "replica down", "primary down", "every database down", "pool exhausted", "api instance dies")


def degradation_rows(text: str) -> list[list[str]]:
    section = text.split("## Degradation", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[0] == "what fails"
    assert header[-1] == "tests"
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            names |= {
                f"{node.name}::{item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
            }
    return names


def named_tests(cell: str) -> list[str]:
    return re.findall(r"`(tests/[\w/]+\.py::[\w:]+)`", cell)


def test_every_failure_row_names_tests_that_exist() -> None:
    rows = degradation_rows(DOC.read_text())
    for failure in FAILURES:
        assert any(failure in row[0].lower() for row in rows), (
            f"no row for {failure!r} in {DOC.name}'s degradation table"
        )
    for row in rows:
        node_ids = named_tests(row[-1])
        assert node_ids, f"the row {row[0]!r} names no test"
        for node_id in node_ids:
            file, name = node_id.split("::", 1)
            path = ROOT / file
            assert path.is_file(), f"{node_id}: no such file"
            assert name.startswith("test_") or "::test_" in name, f"{node_id}: not a test"
            assert name in functions_in(path), f"{node_id}: no such test"
