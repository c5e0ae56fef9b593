"""A hub written in another language, judged through the driver route: the Node.js hub in
``tests/drivers/jsonfile_hub.js`` (kind ``other``, one JSON file shared by its processes,
written from SPEC.md and DRIVER.md alone) passes every statement the run judges, and the
statements about the three named kinds' stores are unknown for it.

The run leaves out most of test_limits.py (three hundred argument checks) to stay short,
but keeps LIMIT-003 (values JSON cannot carry, sent tagged) and the null rule.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agentcomm_conformance.spec import statements

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "drivers" / "jsonfile_hub.js"
SELECTION = "not test_limits or not_json or not_strings or null"


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed, and CI=true: CI must provide it", pytrace=False)
        pytest.skip("node is not installed (Debian: apt-get install nodejs)")
    return found


@pytest.mark.timeout(900)
def test_the_node_hub_passes_every_statement_judged_through_its_driver(tmp_path: Path) -> None:
    impl = f"driver:{node()} {DRIVER}"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "conformance/agentcomm_conformance/suite",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",
            "-n",
            "2",
            f"--impl={impl}",
            f"--conformance-report={tmp_path}",
            f"--basetemp={tmp_path / 'tmp'}",
            "-k",
            SELECTION,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = json.loads((tmp_path / "report.json").read_text())
    assert done.returncode == 0, done.stdout[-3000:]
    assert (report["implementation"]["name"], report["implementation"]["kind"]) == (
        "jsonfile-node",
        "other",
    )
    rows = {r["id"]: r for r in report["statements"]}
    failed = {i: r["reason"] for i, r in rows.items() if r["verdict"] == "fail"}
    assert failed == {}
    judged = {i for i, r in rows.items() if r["verdict"] == "pass"}
    store = {s.id for s in statements().values() if "all" not in s.hubs}
    assert not judged & store
    assert all(rows[i]["reason"] == "not applicable to a hub of kind 'other'" for i in store)
    # Across every section, with real processes: races, a SIGKILL, tagged NaN, the clock.
    assert {
        "ENV-005",
        "MSG-003",
        "MSG-004",
        "REQ-006",
        "EVT-003",
        "EVT-004",
        "CLAIM-002",
        "CLAIM-005",
        "LEASE-003",
        "LEASE-007",
        "RETRY-002",
        "DLQ-001",
        "PRIO-003",
        "REG-003",
        "EXP-003",
        "EXP-004",
        "ORD-001",
        "LIMIT-003",
        "ERR-003",
        "CAP-001",
        "CAP-003",
    } <= judged
