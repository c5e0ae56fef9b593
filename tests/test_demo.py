"""``agentcomm demo``: the design's three use cases, run end to end by real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


def demo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return subprocess.run(
        [sys.executable, "-m", "agentcomm.cli", "demo", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_the_demo_passes_all_three_use_cases_quickly_and_exits_0(tmp_path: Path) -> None:
    started = time.monotonic()
    done = demo("--dir", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 20
    result = json.loads(done.stdout)
    assert result["ok"] is True
    assert [c["name"] for c in result["cases"]] == [
        "agents started",
        "token validation",
        "event broadcasting",
        "batch distribution",
        "clean shutdown",
    ]
    batches = result["cases"][3]["data"]
    assert batches["statuses"] == {"completed": 100}
    assert sum(batches["per_worker"].values()) == 100
    assert "all use cases passed" in done.stderr
    assert (tmp_path / "run" / "hub.db").exists()  # --dir is kept for inspection


@pytest.mark.slow
def test_the_demo_cleans_up_its_temporary_directory() -> None:
    done = demo()
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["kept"] is False and not Path(result["dir"]).exists()


def test_the_demo_refuses_a_directory_that_already_holds_a_hub(tmp_path: Path) -> None:
    (tmp_path / "hub.db").write_bytes(b"")
    done = demo("--dir", str(tmp_path))
    assert done.returncode == 9
    assert json.loads(done.stderr)["error"] == "configuration"
