"""``agentcomm bench`` runs real processes and checks its own work (speed is not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def bench(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-m", "agentcomm.cli", *args], capture_output=True,
                          text=True, timeout=120, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("batch", ["1", "50"])
def test_the_throughput_bench_completes_every_task_exactly_once(
        tmp_path: Path, batch: str) -> None:
    out = tmp_path / "result.json"
    result = bench("--url", f"sqlite:///{tmp_path / 'b.db'}", "bench", "--messages", "600",
                   "--batch", batch, "--output", str(out))
    assert result["check"] == {"completed": 603, "exactly_once": True, "left_pending": 0}
    assert json.loads(out.read_text()) == result
    assert {"python", "sqlite", "cpus"} <= set(result["machine"])  # type: ignore[arg-type]


def test_the_latency_bench_times_every_sample(tmp_path: Path) -> None:
    result = bench("--url", f"sqlite:///{tmp_path / 'b.db'}", "bench", "--latency",
                   "--samples", "50")
    assert result["samples"] == 50
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]  # type: ignore[operator]


def test_the_bench_refuses_a_hub_whose_bench_queue_is_not_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    bench("--url", url, "bench", "--messages", "10")
    done = subprocess.run([sys.executable, "-m", "agentcomm.cli", "--url", url, "bench"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 9 and "not empty" in done.stderr
