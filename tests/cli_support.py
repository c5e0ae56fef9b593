"""Running the ``agentcomm`` command line in its tests, and reading its JSON.

Most tests run the command in-process (the ``run`` fixture, over ``cli_runner``); the
ones about bytes on real pipes, signals and ``python -m`` run the command as its own
process (``agentcomm``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import cli_runner
from agentcomm.api import Hub
from cli_runner import Result
from support import opening

DEADLINE = 10.0
MESSAGE_KEYS = {
    "id",
    "from_agent",
    "to_agent",
    "type",
    "payload",
    "status",
    "priority",
    "created_at",
    "timeout_seconds",
    "retry_count",
    "max_retries",
    "correlation_id",
    "expires_at",
    "available_at",
    "claimed_by",
    "last_error",
    "reply_id",
}
CLAIM_KEYS = MESSAGE_KEYS | {"token", "lease_expires_at"}

Run = Callable[..., Result]


@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def run(url: str) -> Run:
    """``run(*args, agent=..., input=...)``: the CLI on the test's hub, as that agent."""

    def invoke(
        *args: str,
        agent: str | None = None,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        base: tuple[str, ...] | None = None,
    ) -> Result:
        head = ["--url", url] if base is None else list(base)
        head += ["--agent", agent] if agent else []
        return cli_runner.invoke([*head, *args], input=input, env=env)

    return invoke


@pytest.fixture
def hubs(url: str) -> Iterator[Callable[[str | None], Hub]]:
    yield from opening(url)


def out(result: Result, code: int = 0) -> Any:
    """The JSON on stdout, after checking the exit code (stderr shown on mismatch)."""
    assert result.exit_code == code, result.stderr
    return json.loads(result.stdout)


def err(result: Result, code: int) -> dict[str, Any]:
    """The JSON error report on stderr, after checking the exit code."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stderr)
    assert set(report) == {"error", "message", "definite"}
    return report


def agentcomm(
    *args: str, input: bytes | None = None, env: dict[str, str] | None = None, **popen: Any
) -> subprocess.CompletedProcess[bytes]:
    """The command as its own process (``python -m agentcomm.cli``)."""
    command = [sys.executable, "-m", "agentcomm.cli", *args]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return subprocess.run(
        command,
        input=input,
        capture_output=True,
        env={**clean, **(env or {})},
        timeout=DEADLINE,
        check=False,
        **popen,
    )
