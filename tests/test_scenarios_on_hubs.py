"""Every scenario file passes on every reference hub, run the way a user runs them.

The default test run plays ``scenarios/cases`` on the ``conformance_impl`` hub (SQLite);
here the same files run against the Redis and hybrid hubs (each on a private
``redis-server`` that ``--impl redis:`` starts), fakeredis served on a port, and the
SQLite hub through its driver, with one real agent process per scenario agent.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agentcomm_conformance.resources import SCENARIO_CASES
from agentcomm_conformance.servers import require_redis_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CASES = SCENARIO_CASES.files()
DRIVER = f"{shlex.quote(sys.executable)} -m agentcomm.cli driver --url sqlite: --clock system"


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "impl",
    [
        pytest.param("redis:", marks=pytest.mark.redis, id="redis"),
        pytest.param("hybrid:", marks=pytest.mark.redis, id="hybrid"),
        pytest.param("fakeredis:", id="fakeredis"),
        pytest.param(f"driver:{DRIVER}", id="sqlite-driver"),
    ],
)
def test_every_scenario_passes_on_the_hub(impl: str, tmp_path: Path) -> None:
    if impl in {"redis:", "hybrid:"}:
        require_redis_server()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "scenarios/cases",
            f"--impl={impl}",
            f"--basetemp={tmp_path / 'runs'}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=580,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{len(CASES)} passed" in done.stdout, done.stdout[-2000:]  # none skipped
