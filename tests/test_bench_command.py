"""``agentcomm bench`` runs real processes against any target and checks its own work.

Speed is never asserted: the sizes are small, and the goals given here are impossible or
trivially met, so what is checked is the verdicts, the files and the exactly-once check.
Every run gets its own TMPDIR, which must be empty again when the command has exited.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentcomm import __version__
from agentcomm.cli import exits
from agentcomm_conformance.servers import require_redis_server

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("--messages", "300", "--samples", "30", "--workers", "2")
PNG = b"\x89PNG\r\n\x1a\n"
EXACTLY_ONCE = {"duplicates": 0, "missing": 0, "left_pending": 0, "exactly_once": True}


def run(
    tmp_path: Path, *args: str, url: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``agentcomm [--url URL] bench --out-dir ... ARGS`` in its own process and TMPDIR."""
    scratch = tmp_path / "tmp"
    scratch.mkdir(exist_ok=True)
    # Not a parent pytest's variables either: pytest-benchmark takes PYTEST_XDIST_WORKER
    # for xdist and would silently stop timing the --ops run.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCOMM_", "PYTEST_"))}
    command = [
        sys.executable,
        "-m",
        "agentcomm.cli",
        *(["--url", url] if url else []),
        "bench",
        "--out-dir",
        str(tmp_path / "results"),
        *args,
    ]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**clean, "TMPDIR": str(scratch), **(env or {})},
    )
    assert list(scratch.iterdir()) == [], "the run left something in its TMPDIR"
    return done


def result(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_one_run_measures_throughput_then_latency_and_stores_both(tmp_path: Path) -> None:
    out = tmp_path / "printed.json"
    done = run(tmp_path, *SMALL, "--output", str(out))
    printed = result(done)
    assert printed["throughput"]["check"] == {"completed": 300, **EXACTLY_ONCE}
    assert printed["throughput"]["msg_per_s"] > 0
    latency = printed["latency"]
    assert latency["samples"] == 30 and latency["check"] == {"completed": 30, **EXACTLY_ONCE}
    assert 0 < latency["p50_ms"] <= latency["p90_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert printed["exactly_once"] is True
    assert json.loads(out.read_text()) == printed
    assert "exactly once: yes" in done.stderr


def test_the_result_names_its_goals_verdicts_and_what_it_ran_on(tmp_path: Path) -> None:
    printed = result(run(tmp_path, *SMALL))
    assert printed["goals"]["msg_per_s"] == 1000 and printed["goals"]["p99_ms"] == 100
    assert {v["verdict"] for v in printed["verdicts"].values()} <= {"met", "missed"}
    assert printed["verdicts"]["throughput"]["figure"] == printed["throughput"]["msg_per_s"]
    meta = printed["meta"]
    assert meta["agentcomm"] == __version__
    assert meta["target"]["impl"] == "sqlite:" and meta["target"]["kind"] == "sqlite"
    assert {
        "python",
        "sqlite",
        "platform",
        "cpus",
        "processor",
        "load_average_start",
        "load_average_end",
    } <= set(meta["machine"])
    assert meta["timestamp"].endswith("+00:00") and meta["command"].startswith("agentcomm ")
    assert printed["config"]["phases"] == ["throughput", "latency"]


def test_the_stored_json_keeps_every_sample_and_the_png_is_a_png(tmp_path: Path) -> None:
    printed = result(run(tmp_path, *SMALL))
    stored = json.loads(Path(printed["files"]["json"]).read_text())
    assert len(stored["latency"].pop("samples_ms")) == 30
    assert stored == printed
    png = Path(printed["files"]["png"])
    assert png.parent == tmp_path / "results" and png.name.endswith("-sqlite.png")
    assert png.read_bytes().startswith(PNG)


def test_batches_complete_every_task_exactly_once(tmp_path: Path) -> None:
    printed = result(run(tmp_path, "--messages", "600", "--batch", "50", "--only", "throughput"))
    assert printed["throughput"]["check"] == {"completed": 600, **EXACTLY_ONCE}
    assert printed["latency"] is None and printed["files"]["png"] is None
    assert printed["verdicts"]["latency_p99"]["verdict"] == "not measured"


def test_the_latency_flag_runs_the_latency_phase_alone(tmp_path: Path) -> None:
    printed = result(run(tmp_path, "--latency", "--samples", "20"))
    assert printed["throughput"] is None and printed["latency"]["samples"] == 20


def test_a_gated_run_that_misses_a_goal_exits_10_and_says_missed(tmp_path: Path) -> None:
    done = run(tmp_path, *SMALL, "--only", "throughput", "--gate", "--target-rate", "1e9")
    assert done.returncode == exits.TARGET_MISSED == 10
    assert json.loads(done.stdout)["verdicts"]["throughput"]["verdict"] == "missed"
    assert re.search(r"throughput goal: .* vs >= 1,000,000,000 msg/s: MISSED", done.stderr)


def test_a_missed_goal_without_the_gate_is_reported_and_exits_0(tmp_path: Path) -> None:
    done = run(tmp_path, *SMALL, "--only", "throughput", "--target-rate", "1e9")
    assert result(done)["verdicts"]["throughput"]["verdict"] == "missed"
    assert "MISSED" in done.stderr


def test_a_gated_run_that_meets_its_goals_exits_0(tmp_path: Path) -> None:
    done = run(tmp_path, *SMALL, "--gate", "--target-rate", "1", "--target-p99", "100000")
    printed = result(done)
    assert {v["verdict"] for v in printed["verdicts"].values()} == {"met"}
    assert "overridden by --target-rate and --target-p99" in printed["goals"]["source"]
    assert "MISSED" not in done.stderr


def test_the_bench_runs_on_fakeredis_served_to_the_workers(tmp_path: Path) -> None:
    printed = result(run(tmp_path, *SMALL, "--impl", "fakeredis:"))
    assert printed["exactly_once"] is True
    assert printed["meta"]["target"]["kind"] == "redis"
    assert printed["meta"]["redis_server"]["implementation"] == "fakeredis"
    assert printed["goals"]["msg_per_s"] == 10_000 and printed["goals"]["p99_ms"] == 10


def test_the_bench_runs_through_a_driver(tmp_path: Path) -> None:
    driver = f"{shlex.quote(sys.executable)} -m agentcomm.cli driver --url sqlite:"
    printed = result(run(tmp_path, *SMALL, "--impl", f"driver:{driver}"))
    assert printed["exactly_once"] is True
    assert printed["meta"]["target"]["impl"].startswith("driver:")
    assert printed["meta"]["target"]["name"] == "agentcomm-reference"


@pytest.mark.redis
def test_a_private_redis_server_is_measured_named_and_removed(tmp_path: Path) -> None:
    require_redis_server()
    printed = result(run(tmp_path, *SMALL, "--impl", "redis:"))  # run() checks TMPDIR is empty
    assert printed["exactly_once"] is True
    server = printed["meta"]["redis_server"]
    assert server["implementation"] == "redis" and re.fullmatch(r"\d+\.\d+\.\d+", server["version"])


def test_the_bench_refuses_a_hub_whose_bench_queue_is_not_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    assert result(run(tmp_path, "--only", "throughput", "--messages", "10", url=url))
    done = run(tmp_path, "--only", "throughput", url=url)
    assert done.returncode == exits.CONFIGURATION and "not empty" in done.stderr


def test_the_bench_leaves_the_hub_named_by_agentcomm_url_alone(tmp_path: Path) -> None:
    """AGENTCOMM_URL is where the agents run: only an explicit --url is measured."""
    live = tmp_path / "live.db"
    printed = result(
        run(
            tmp_path,
            "--only",
            "throughput",
            "--messages",
            "10",
            env={"AGENTCOMM_URL": f"sqlite:///{live}"},
        )
    )
    assert printed["meta"]["target"]["impl"] == "sqlite:"
    assert not live.exists()


def test_without_matplotlib_the_bench_runs_and_says_what_to_install(tmp_path: Path) -> None:
    hidden = tmp_path / "hide" / "matplotlib"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    done = run(tmp_path, "--latency", "--samples", "20", env={"PYTHONPATH": str(hidden.parent)})
    assert result(done)["files"]["png"] is None
    notice = [line for line in done.stderr.splitlines() if "no plot written" in line]
    assert len(notice) == 1 and "pip install 'agentcomm[bench]'" in notice[0]


# -- per-operation costs (pytest-benchmark) ---------------------------------------------------
def test_the_operation_benchmarks_run_once_on_sqlite(tmp_path: Path) -> None:
    done = run(tmp_path, "--ops", "--impl", "sqlite:", "--", "--benchmark-disable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b6 passed\b", done.stdout)


def test_the_operation_benchmarks_store_their_json_with_the_implementation(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        "--ops",
        "--",
        "-k",
        "send_one",
        "--benchmark-max-time=0.001",
        "--benchmark-min-rounds=1",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    [stored] = (tmp_path / "results").glob("*-ops.json")
    data = json.loads(stored.read_text())
    assert data["agentcomm"]["implementation"]["kind"] == "sqlite"
    assert [b["name"] for b in data["benchmarks"]] == ["test_send_one_message"]


def test_without_pytest_benchmark_the_operation_benchmarks_say_what_to_install(
    tmp_path: Path,
) -> None:
    hidden = tmp_path / "hide" / "pytest_benchmark"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    done = run(tmp_path, "--ops", env={"PYTHONPATH": str(hidden.parent)})
    assert done.returncode == exits.CONFIGURATION
    [line] = done.stderr.splitlines()
    assert "pip install 'agentcomm[bench]'" in json.loads(line)["message"]


def test_the_checkout_s_own_run_deselects_the_operation_benchmarks() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:xdist",
            "conformance/agentcomm_conformance/benchmarks",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert re.search(r"\b0 selected\b|no tests collected \(6 deselected\)", done.stdout), (
        done.stdout
    )
