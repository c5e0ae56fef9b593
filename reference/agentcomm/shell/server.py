"""``agentcomm session``: run the command line's commands in this process, hubs kept open.

One thread reads requests and runs them, one at a time, exactly as ``agentcomm`` would
(``agentcomm.cli.run``, with stdin, stdout and stderr captured); a second thread only
writes a sign of life while a command runs, and ends the process if the script that
started it is gone.  See ``agentcomm.shell`` for the protocol.
"""

from __future__ import annotations

import contextlib
import io
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from agentcomm.shell.hubs import OpenHubs
from agentcomm.shell.protocol import (
    READY,
    SIGN_OF_LIFE,
    FrameError,
    FrameReader,
    Request,
    response,
)

TICK = 0.25
"""Seconds between looks at whether the script that started the session is still there."""
LONG_RUNNING = frozenset({"agent", "demo", "bench", "conformance", "driver", "session"})
"""Commands that run until stopped or start processes: run them as their own process."""


class Gone(Exception):
    """The script is gone (its end of a pipe closed, or it died): the session ends."""


def serve(directory: Path, defaults: list[str], stall: float) -> int:
    """Serve the session whose FIFOs are in ``directory`` until the script lets go."""
    _close_inherited()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the script, which closes us
    parent = os.getppid()
    try:
        requests = os.open(directory / "requests", os.O_RDONLY | os.O_NONBLOCK)
        responses = os.open(directory / "responses", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:  # ENXIO: nobody reads the responses; the script is gone
        print(f"agentcomm session: cannot open the pipes in {directory}: {exc}", file=sys.stderr)
        return 1
    os.set_blocking(responses, True)
    replies = Replies(responses, parent, stall / 4)
    hubs = OpenHubs()
    try:
        replies.write(READY)
        _loop(requests, replies, Runner(hubs, defaults), parent)
    except Gone:
        pass
    except FrameError as exc:
        replies.write(response("0", 2, b"", _error_line("usage", f"session protocol: {exc}")))
        print(f"agentcomm session: {exc}; closing", file=sys.stderr)
        return 2
    finally:
        hubs.close()
    return 0


def _loop(requests: int, replies: Replies, runner: Runner, parent: int) -> None:
    frames = FrameReader()
    while True:
        readable, _, _ = select.select([requests], [], [], TICK)
        if os.getppid() != parent:
            raise Gone
        if not readable:
            continue
        try:
            data = os.read(requests, 1 << 16)
        except BlockingIOError:
            continue
        if not data:
            raise Gone
        for request in frames.feed(data):
            replies.begin()
            code, out, err = runner.run(request)
            replies.write(response(request.call, code, out, err))


class Replies:
    """Writes responses; while a command runs, a sign of life every ``every`` seconds."""

    def __init__(self, fd: int, parent: int, every: float) -> None:
        self.fd, self.parent, self.every = fd, parent, every
        self._lock = threading.Lock()
        self._busy = False
        threading.Thread(target=self._beat, name="sign-of-life", daemon=True).start()

    def begin(self) -> None:
        with self._lock:
            self._busy = True

    def write(self, data: bytes) -> None:
        with self._lock:
            self._busy = False
            self._send(data)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self.fd, view) :]
        except BrokenPipeError:
            raise Gone from None

    def _beat(self) -> None:
        while True:
            time.sleep(self.every)
            with self._lock:
                if not self._busy:
                    continue
                if os.getppid() != self.parent:
                    os._exit(0)  # the command cannot finish for anyone: do not wait for it
                try:
                    self._send(SIGN_OF_LIFE)
                except Gone:
                    os._exit(0)


class Runner:
    """Runs one request as ``agentcomm ARGS`` would, on the session's open hubs."""

    def __init__(self, hubs: OpenHubs, defaults: list[str]) -> None:
        self.hubs, self.defaults = hubs, defaults

    def run(self, request: Request) -> tuple[int, bytes, bytes]:
        refusal = _refusal(request.argv)
        if refusal:
            return 2, b"", _error_line("usage", refusal)
        stdin = _Stdin(request.stdin or b"", terminal=request.terminal)
        with captured(stdin) as (out, err):
            code = self._invoke([*self.defaults, *request.argv])
        return code, out.getvalue(), err.getvalue()

    def _invoke(self, argv: list[str]) -> int:
        from agentcomm.cli.app import run

        try:
            return run(argv, opener=self.hubs)
        except Exception as exc:  # a bug in one command must not end the session
            sys.stderr.buffer.write(
                _error_line("error", f"unexpected {type(exc).__name__}: {exc}", definite=False)
            )
            return 1


def _refusal(argv: list[str]) -> str | None:
    """Why ``argv`` cannot run in a session, or None."""
    from agentcomm.cli.app import split_command

    _, name, rest = split_command(argv)
    if name in LONG_RUNNING or (name == "tail" and "--follow" in rest):
        shown = "tail --follow" if name == "tail" else name
        return (
            f"`agentcomm {shown}` runs until stopped: start it as its own process "
            "(agent run: ac_agent_start), not through a session"
        )
    return None


def _error_line(code: str, message: str, *, definite: bool = True) -> bytes:
    from agentcomm.cli.common import dumps

    return dumps({"error": code, "message": message, "definite": definite}).encode() + b"\n"


class _Stdin(io.BytesIO):
    def __init__(self, data: bytes, *, terminal: bool) -> None:
        super().__init__(data)
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@contextlib.contextmanager
def captured(stdin: io.BytesIO) -> Iterator[tuple[io.BytesIO, io.BytesIO]]:
    """The command's stdin, stdout and stderr, as in a process of its own: text streams
    on bytes, so ``sys.stdout.buffer`` works; yields the stdout and stderr bytes."""
    out, err = io.BytesIO(), io.BytesIO()
    saved = sys.stdin, sys.stdout, sys.stderr
    streams = [io.TextIOWrapper(b, encoding="utf-8", write_through=True) for b in (stdin, out, err)]
    sys.stdin, sys.stdout, sys.stderr = streams
    try:
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        for stream in streams:
            stream.flush()
            stream.detach()  # leaves the buffers open for reading


def _close_inherited() -> None:
    """Keep no copy of the script's other descriptors (another session's pipes, our own
    pipes' other ends): when the script goes, every session must see its pipes close."""
    try:
        found = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        found = list(range(3, 256))
    for fd in found:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)
