"""Helpers for tests that watch other processes: wait on observable state, never sleep."""

from __future__ import annotations

import socketserver
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from agentcomm import Clock, Hub, connect

DEADLINE = 20.0

HubFactory = Callable[..., Hub]


def opening(url: str, clock: Clock | None = None) -> Iterator[HubFactory]:
    """For fixtures: yield ``open_as("@agent")`` on ``url``; close every handle afterwards.

    ``open_as("@agent", clock=other)`` opens one handle on another clock."""
    opened: list[Hub] = []

    def open_as(agent: str | None = None, *, clock: Clock | None = clock) -> Hub:
        opened.append(connect(url, agent=agent, create=True, clock=clock))
        return opened[-1]

    yield open_as
    for hub in opened:
        hub.close()


def until(condition: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline``."""
    end = time.monotonic() + deadline
    while not (found := condition()):
        assert time.monotonic() < end, "condition not reached before the deadline"
        time.sleep(0.02)
    return found


_STARTED: list[subprocess.Popen[Any]] = []


def spawn(argv: list[str], **options: Any) -> subprocess.Popen[Any]:
    """Start a process that ``reap_all`` kills if the test leaves it running."""
    proc = subprocess.Popen(argv, **options)
    _STARTED.append(proc)
    return proc


def reap_all() -> None:
    """Kill and reap every process ``spawn`` started that is still running."""
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def served(server: socketserver.BaseServer) -> Iterator[int]:
    """For fixtures: serve ``server`` (bound to a loopback port) from a thread; yield its
    port; shut it down afterwards."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    address = server.server_address
    assert isinstance(address, tuple)  # an IP socket, not a Unix one
    yield address[1]
    server.shutdown()
    server.server_close()
    thread.join()
