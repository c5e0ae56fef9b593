"""Histories of concurrent workers on one hub: how they are recorded and read back.

Each process appends JSON lines to its own file (``Recorder``): one per call to the hub,
with the call's bounds on the monotonic clock (``t0``/``t1``, shared by every process on
the machine: which call ended before which began) and on the wall clock (``w0``/``w1``,
the clock the hubs read: where a lease deadline falls).  Claims record each claimed
task's token and lease deadline as the hub returned them.  ``load`` reads every file's
records back; ``history_check.check`` judges them.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from agentcomm import AgentCommError

T = TypeVar("T")


class Recorder:
    """Appends one JSON line per call to ``path``, each with one ``write``: a process
    killed with SIGKILL loses no line it finished writing."""

    def __init__(self, path: Path, who: str) -> None:
        self.who = who
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, op: str, **fields: Any) -> None:
        line = json.dumps({"op": op, "who": self.who, **fields}, sort_keys=True) + "\n"
        os.write(self._fd, line.encode())

    def timed(
        self,
        op: str,
        action: Callable[[], T],
        describe: Callable[[T], dict[str, Any]],
        **fields: Any,
    ) -> T | None:
        """Run ``action``; record its bounds, ``ok`` and what ``describe`` says of its
        result, or the error's ``code`` and ``definite`` (the hub's error tree, ERR-002).
        Returns the result, or None when the hub refused."""
        t0, w0 = time.monotonic(), time.time()
        try:
            result = action()
        except AgentCommError as error:
            self.write(
                op, ok=False, error=error.code, definite=error.definite, **_bounds(t0, w0), **fields
            )
            return None
        self.write(op, ok=True, **_bounds(t0, w0), **fields, **describe(result))
        return result

    def close(self) -> None:
        os.close(self._fd)


def _bounds(t0: float, w0: float) -> dict[str, float]:
    return {"t0": t0, "w0": w0, "w1": time.time(), "t1": time.monotonic()}


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Every record of every file (a line cut short by a kill is dropped)."""
    found: list[dict[str, Any]] = []
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.endswith("}"):
                found.append(json.loads(line))
    return found
