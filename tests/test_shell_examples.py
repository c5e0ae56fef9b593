"""The design's three use cases as bash scripts using the shell library (``agentcomm
shell-lib --examples``), run as real processes on a SQLite and a Redis hub."""

from __future__ import annotations

import re
import subprocess

import pytest

from agentcomm import connect, shell
from shell_support import BASH, DEADLINE, script_env

EXAMPLES = {
    "token_validation.sh": [r'^jwt123: \{"valid":true,"user":"john_doe"\}$',
                            r'^forged: \{"valid":false\}$'],
    "event_broadcast.sh": [r"^user_login \S+: each of 3 subscribers handled it once$"],
    "batch_distribution.sh": [r"^100 of 100 batches processed, 100 runs$",
                              r"^@worker\.batch\.001: \d+ batches$"],
}


def test_the_examples_folder_holds_exactly_the_three_use_cases() -> None:
    assert sorted(p.name for p in shell.examples().iterdir()) == sorted(EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_each_use_case_runs_to_its_checked_end(shared_url: str, example: str) -> None:
    done = subprocess.run([BASH, str(shell.examples() / example)], env=script_env(shared_url),
                          capture_output=True, text=True, timeout=2 * DEADLINE, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for pattern in EXAMPLES[example]:
        assert re.search(pattern, done.stdout, re.MULTILINE), done.stdout
    with connect(shared_url) as hub:  # every agent that registered left cleanly
        assert [a.agent_id for a in hub.agents(alive_only=True)
                if a.status == "active"] == []
