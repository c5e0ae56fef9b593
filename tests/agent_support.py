"""Running the agent loop runtime (``agentcomm.agent``) in its tests.

Handlers are real programs (small Python scripts written to ``tmp_path``).  Tests that
need the agent to run *beside* the test (leases, signals) start it as its own process
and wait on observable state (hub rows, files) with a bounded deadline, never a sleep.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Hub
from agentcomm.agent import AgentConfig, AgentRunner, StopFlag
from support import opening, spawn

DEADLINE = 10.0

Hubs = Callable[..., Hub]
Script = Callable[..., str]

ECHO = """
import json, os, sys
payload = json.load(sys.stdin)
names = ["AGENTCOMM_URL", "AGENTCOMM_AGENT", "AGENTCOMM_MESSAGE_ID", "AGENTCOMM_FROM",
         "AGENTCOMM_TO", "AGENTCOMM_TYPE", "AGENTCOMM_CORRELATION_ID", "AGENTCOMM_PRIORITY",
         "AGENTCOMM_RETRY_COUNT", "AGENTCOMM_MAX_RETRIES"]
print(json.dumps({"got": payload, "argv": sys.argv[1:],
                  "env": {n: os.environ.get(n) for n in names}}))
"""
PRINT_TEXT = """
import sys
sys.stdout.write(sys.argv[1])
"""
FAIL = """
import sys
sys.stderr.write("boom: cannot process\\n")
sys.exit(int(sys.argv[1]))
"""
SLOW = """
import os, sys, time
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()}\\n")
time.sleep(float(sys.argv[2]))
print('"done"')
"""
RECORD_EVENT = """
import json, os, sys
event = json.load(sys.stdin)
names = ["AGENTCOMM_URL", "AGENTCOMM_AGENT", "AGENTCOMM_EVENT_ID", "AGENTCOMM_EVENT_TYPE",
         "AGENTCOMM_PUBLISHER", "AGENTCOMM_PUBLISHED_AT"]
with open(sys.argv[1], "a") as log:
    log.write(json.dumps({"event": event, "env": {n: os.environ[n] for n in names}}) + "\\n")
"""


@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def hubs(url: str) -> Iterator[Hubs]:
    yield from opening(url)


@pytest.fixture
def script(tmp_path: Path) -> Script:
    """``script(SOURCE, *args)`` -> a handler command line running that Python source."""

    def make(source: str, *args: str) -> str:
        path = tmp_path / f"handler_{abs(hash(source))}.py"
        path.write_text(source, encoding="utf-8")
        return shlex.join([sys.executable, str(path), *args])

    return make


def run_inline(hub: Hub, url: str, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the loop in this process until its stop condition; (summary, log lines)."""
    handlers = options.pop("handlers", {})
    events = options.pop("event_handlers", {})
    config = AgentConfig(
        handlers={k: tuple(shlex.split(c)) for k, c in handlers.items()},
        event_handlers={k: tuple(shlex.split(c)) for k, c in events.items()},
        url=url,
        **options,
    )
    log = io.StringIO()
    summary = AgentRunner(hub, config, StopFlag(), log=log).run()
    return vars(summary), [json.loads(line) for line in log.getvalue().splitlines()]


def start_agent(url: str, agent: str, tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "agentcomm.cli", "--url", url, "agent", "run", agent, *options]
    log = open(tmp_path / f"{agent[1:]}.log", "w")  # noqa: SIM115 - the child keeps it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return spawn(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)


def alive(hub: Hub, agent: str) -> bool:
    return any(a.agent_id == agent and a.alive for a in hub.agents())
