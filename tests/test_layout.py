"""How the code is laid out, where a rule keeps it changeable (STYLE.md, issue 14).

The reference implementation never depends on the suite that judges it: nothing under
``reference/`` imports ``agentcomm_conformance`` (the suite adds its ``agentcomm`` commands
through an entry point instead).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every import statement in ``path``, wherever it stands."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_nothing_in_the_reference_imports_the_suite() -> None:
    sources = sorted((ROOT / "reference").rglob("*.py"))
    assert len(sources) > 40
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sources
        for line, module in imported(path)
        if module.split(".")[0] == "agentcomm_conformance"
    ]
    assert offenders == []


def test_the_suite_commands_reach_the_cli_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    from agentcomm.cli.app import PLUGINS, command_names, find_command
    from agentcomm.cli.command import Command

    found = {e.name: e.value for e in entry_points(group=PLUGINS)}
    assert found == {
        "conformance": "agentcomm_conformance.cli.conformance:conformance",
        "bench": "agentcomm_conformance.cli.bench:bench",
    }
    assert {"conformance", "bench", "send"} <= set(command_names())
    command = find_command("conformance")
    assert isinstance(command, Command) and command.name == "conformance"
    assert find_command("no-such-command") is None


def test_the_lua_library_takes_the_vocabulary_from_its_python_definition() -> None:
    from agentcomm.models import FINISHED, Priority
    from agentcomm.redis import scripts

    code = scripts.common()
    for table in ("local FINISHED =", "local LEVEL ="):  # generated once, never retyped
        assert code.count(table) == 1, table
    finished = ", ".join(f"{name} = true" for name in sorted(s.value for s in FINISHED))
    assert f"local FINISHED = {{{finished}}}" in code
    assert all(f"['{p.value}'] = '{p.name.lower()}'" in code for p in Priority)
    for spelled in ("'completed' or", "== 'expired' or", "or '3'"):  # the old hand copies
        assert spelled not in code, spelled


def test_the_table_of_operations_names_every_operation_and_every_function_once() -> None:
    from agentcomm import Hub
    from agentcomm.ops import OPS, functions
    from agentcomm.redis import scripts

    public = {n for n in vars(Hub) if not n.startswith("_") and callable(getattr(Hub, n))}
    assert set(OPS) == public - {"close"}  # closing the handle is not an operation
    lua = ROOT / "reference" / "agentcomm" / "redis" / "lua"
    files = {p.stem for p in lua.glob("*.lua")} - {"common", "design"}
    assert set(functions()) == files == set(scripts.NAMES)


SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|BEGIN|WITH)\b", re.IGNORECASE)


def sql_literals(path: Path) -> Iterator[tuple[int, str]]:
    """(line, opening) of every string literal in ``path`` that starts as a statement does;
    docstrings are prose, not statements, and are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        if isinstance(node.value, str) and SQL_START.match(node.value):
            yield node.lineno, node.value.strip()[:40]


def test_every_statement_of_the_sqlite_hub_is_in_statements_py() -> None:
    """Each statement is written once, named and documented, in ``sqlite/statements.py``,
    as every Redis key is in ``redis/keys.py``: a mutant swaps one by name.  Left where
    they are: the DDL of ``schema.sql`` and ``migrations.py`` (the schema and its
    versions), and the PRAGMAs of ``store.py``, which set up the connection and the
    file rather than do hub work (``PRAGMA user_version = N`` cannot take a parameter)."""
    sources = sorted((ROOT / "reference" / "agentcomm" / "sqlite").glob("*.py"))
    assert len(sources) > 5
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {opening!r}"
        for path in sources
        if path.name != "statements.py"
        for line, opening in sql_literals(path)
    ]
    assert offenders == []
    from agentcomm.sqlite import statements

    assert len(list(sql_literals(Path(statements.__file__)))) > 40  # the check sees them


MAX_LINES = 400
"""The most lines a Python source file may have (STYLE.md section 1, issue 14): past it a
file has, in this project so far, always held more than one concept."""

LONG_FILES = {
    # Each waits for its split, or is one table that reads best whole.  The list only
    # shrinks: a file here that drops to the limit, or goes, fails the test below.
    "reference/agentcomm/api.py": "the contract: each operation, then its primitive's contract",
}


def line_counts() -> dict[str, int]:
    """Lines of every Python source file of the project's four trees, by relative path."""
    trees = ("reference", "conformance", "scenarios", "tests")
    return {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for tree in trees
        for path in sorted((ROOT / tree).rglob("*.py"))
    }


def test_no_source_file_is_longer_than_the_limit_unless_listed() -> None:
    counts = line_counts()
    assert len(counts) > 150
    too_long = {p: n for p, n in counts.items() if n > MAX_LINES and p not in LONG_FILES}
    assert too_long == {}, f"split these along their section rulers: {too_long}"


def test_the_list_of_long_files_only_shrinks() -> None:
    """A listed file that is gone or fits the limit now must leave the list."""
    counts = line_counts()
    stale = {p: counts.get(p, "gone") for p in LONG_FILES if counts.get(p, 0) <= MAX_LINES}
    assert stale == {}, f"remove these from LONG_FILES: {stale}"
