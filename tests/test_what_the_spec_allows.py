"""The suite passes what the spec allows, not only the reference hub: a hub of kind
``other`` on every statement that is not about a store, and a SQLite file with columns and
tables of the implementation's own (``tests/other_hubs.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentcomm_conformance.spec import statements

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SUITE = "conformance/agentcomm_conformance/suite"


def suite_run(tmp_path: Path, factory: str, *args: str) -> tuple[int, dict[str, Any]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            SUITE,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            f"--impl=python:other_hubs:{factory}",
            f"--conformance-report={tmp_path}",
            f"--basetemp={tmp_path / 'tmp'}",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert (tmp_path / "report.json").exists(), done.stdout[-3000:]
    return done.returncode, json.loads((tmp_path / "report.json").read_text())


@pytest.mark.timeout(900)
def test_a_hub_of_kind_other_passes_every_statement_not_about_a_store(tmp_path: Path) -> None:
    code, report = suite_run(tmp_path, "of_kind_other", "-n", "2")
    assert code == 0 and report["implementation"]["kind"] == "other"
    rows = {r["id"]: r for r in report["statements"]}
    for statement in statements().values():
        row = rows[statement.id]
        if "all" in statement.hubs:
            assert row["verdict"] == "pass", (statement.id, row["reason"])
        else:  # though some of their tests also check an `all` statement, and ran
            assert (row["verdict"], row["reason"]) == (
                "unknown",
                "not applicable to a hub of kind 'other'",
            ), statement.id


@pytest.mark.timeout(300)
def test_columns_and_tables_of_an_implementations_own_are_allowed(tmp_path: Path) -> None:
    code, report = suite_run(tmp_path, "with_columns_of_its_own", "-k", "compat_sqlite")
    verdicts = {r["id"]: r["verdict"] for r in report["statements"]}
    assert code == 0
    assert {
        verdicts[s] for s in ("COMPAT-001", "COMPAT-002", "COMPAT-003", "COMPAT-004", "COMPAT-005")
    } == {"pass"}


@pytest.mark.timeout(300)
def test_an_added_column_without_a_default_fails_compat_002(tmp_path: Path) -> None:
    code, report = suite_run(
        tmp_path, "with_a_column_without_default", "-k", "design_tables_keep_every_design_column"
    )
    row = next(r for r in report["statements"] if r["id"] == "COMPAT-002")
    assert code == 1 and row["verdict"] == "fail"
    assert "added columns without a default: ['tenant']" in row["reason"]
