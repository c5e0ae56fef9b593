"""Helpers for tests that watch other processes: wait on observable state, never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEADLINE = 20.0


def until(condition: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``deadline``."""
    end = time.monotonic() + deadline
    while not (found := condition()):
        assert time.monotonic() < end, "condition not reached before the deadline"
        time.sleep(0.02)
    return found
