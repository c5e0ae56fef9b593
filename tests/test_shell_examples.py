"""The design's three use cases as bash scripts using the shell library (``agentcomm
shell-lib --examples``), run as real processes on a SQLite and a Redis hub."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from agentcomm import connect, shell
from shell_support import BASH, DEADLINE, script_env

BENCH = Path(__file__).resolve().parent.parent / "scripts" / "bench_bash.sh"

EXAMPLES = {
    "token_validation.sh": [
        r'^jwt123: \{"valid":true,"user":"john_doe"\}$',
        r'^forged: \{"valid":false\}$',
    ],
    "event_broadcast.sh": [r"^user_login \S+: each of 3 subscribers handled it once$"],
    "batch_distribution.sh": [
        r"^100 of 100 batches processed, 100 runs$",
        r"^@worker\.batch\.001: \d+ batches$",
    ],
}


def test_the_examples_folder_holds_exactly_the_three_use_cases() -> None:
    assert sorted(p.name for p in shell.examples().iterdir()) == sorted(EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_use_case_runs_to_its_checked_end(shared_url: str, example: str) -> None:
    done = subprocess.run(
        [BASH, str(shell.examples() / example)],
        env=script_env(shared_url),
        capture_output=True,
        text=True,
        timeout=2 * DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for pattern in EXAMPLES[example]:
        assert re.search(pattern, done.stdout, re.MULTILINE), done.stdout
    with connect(shared_url) as hub:  # every agent that registered left cleanly
        assert [a.agent_id for a in hub.agents(alive_only=True) if a.status == "active"] == []


@pytest.mark.slow
def test_the_bash_benchmark_runs_and_its_workers_complete_each_task_once(shared_url: str) -> None:
    # Its figures are for BENCHMARKS.md, measured in a quiet sitting; here only that it runs.
    done = subprocess.run(
        [BASH, str(BENCH), "--url", shared_url, "--tasks", "60", "--calls", "3", "--samples", "3"],
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=4 * DEADLINE,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["workers"]["completed"] == 60 and result["workers"]["duplicates"] == 0
    assert result["request_reply_us"]["samples"] == 3
    assert result["one_call_us"]["tool"] in {"sqlite3", "redis-cli"}
