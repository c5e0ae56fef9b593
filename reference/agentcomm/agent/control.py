"""The loop's time and its stop: a stop flag wired to signals, pauses that heed it, periodic
chores, and the ready file that tells a script the agent has started.

Apart from the runner because none of it knows about hubs or messages: it is how a
single-threaded loop waits, and stops within ``POLL_STEP`` of being asked.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import stat
import threading
import time
from collections.abc import Iterator

from agentcomm.errors import ConfigurationError

__all__ = ["POLL_STEP", "Every", "StopFlag", "pause", "signal_ready", "stop_on_signals"]

POLL_STEP = 0.2
"""How often a running handler is checked on; bounds how late a stop request is noticed."""


class StopFlag:
    """Set by SIGINT/SIGTERM.  The handler only records the signal: raising from it could
    cut a hub call in half, so the loop looks at the flag between steps instead."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def set(self, signum: int, _frame: object = None) -> None:
        self.signal = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """A StopFlag wired to SIGINT and SIGTERM for the duration of the block."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # only the main thread may install handlers; callers stop otherwise
        return
    previous = {s: signal.signal(s, flag.set) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pause(stop: StopFlag, seconds: float) -> None:
    """Sleep up to ``seconds``, waking within POLL_STEP of a stop request."""
    until = time.monotonic() + seconds
    while not stop.requested and (left := until - time.monotonic()) > 0:
        time.sleep(min(left, POLL_STEP))


class Every:
    """A periodic chore on the monotonic clock: ``due()`` is true once per period."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next = time.monotonic() + period

    def stop(self) -> None:
        self.next = float("inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.period
        return True


def signal_ready(path: str, line: str, stop: StopFlag) -> None:
    """Write ``line`` to ``path``: into it if it is a FIFO (once a reader has it open,
    so ``read -r line < PATH`` waits for readiness without polling), else as a new file
    that appears whole (written aside, then renamed)."""
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            _write_fifo(path, line.encode("utf-8"), stop)
            return
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path!r}: {exc}") from None
    aside = f"{path}.{os.getpid()}.tmp"
    try:
        with open(aside, "w", encoding="utf-8") as out:
            out.write(line)
        os.replace(aside, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path!r}: {exc}") from None


def _write_fifo(path: str, data: bytes, stop: StopFlag) -> None:
    # Non-blocking: a FIFO nobody reads yet must not keep a SIGTERM from stopping us.
    while not stop.requested:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            time.sleep(POLL_STEP)
            continue
        try:
            os.write(fd, data)  # one line, under PIPE_BUF: written whole
        finally:
            os.close(fd)
        return
