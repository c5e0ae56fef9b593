"""A handler as a child process: its command parsed, run to completion under watch, its
input and output translated, its failure put in words.

Apart from the runner because it is the process side of the loop (sessions, signals,
pipes), the part that must never let a message reach a shell or a command line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from agentcomm import validation as v
from agentcomm.agent.control import POLL_STEP
from agentcomm.errors import ConfigurationError, InvalidInput

__all__ = [
    "EX_DATAERR",
    "Argv",
    "Finished",
    "failure_reason",
    "output_payload",
    "parse_handler",
    "run_child",
    "stdin_for",
]

EX_DATAERR = 65
"""sysexits.h: the input was bad.  A handler exiting with it dead-letters the message."""
TERMINATE_GRACE = 1.0
"""Seconds a handler gets between SIGTERM and SIGKILL."""
STDERR_TAIL = 1000

Argv = tuple[str, ...]


def parse_handler(spec: str, *, event: bool = False) -> tuple[str, Argv]:
    """``TYPE=CMD`` -> (type, argv).  CMD is split with shlex and its program must exist."""
    kind, sep, command = spec.partition("=")
    check = v.check_event_type if event else v.check_message_type
    if not sep:
        raise InvalidInput(f"handler {spec!r} is not TYPE=CMD")
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise InvalidInput(f"handler command {command!r} cannot be split: {exc}") from None
    if not argv:
        raise InvalidInput(f"handler {spec!r} names no command")
    if shutil.which(argv[0]) is None:
        raise ConfigurationError(f"handler program {argv[0]!r} for {kind!r} is not executable")
    return check(kind), argv


@dataclasses.dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


def run_child(
    argv: Argv,
    stdin: bytes,
    env: Mapping[str, str],
    keep_going: Callable[[], bool],
    step: float = POLL_STEP,
) -> Finished | None:
    """Run ``argv`` to completion, calling ``keep_going()`` every ``step`` seconds.

    Returns None when ``keep_going`` said stop (the child is then terminated); a program
    that cannot be started exits 127, as in a shell.  The input
    comes from a temporary file, not a pipe: a timed-out ``communicate`` can be resumed for
    output but would never finish writing input, and a file needs no writer.
    """
    with tempfile.TemporaryFile() as feed:
        feed.write(stdin)
        feed.seek(0)
        # A session of its own: SIGTERM reaches the handler's children, and a Ctrl-C meant
        # for the agent reaches only the agent, which then stops the handler itself.
        try:
            proc = subprocess.Popen(
                argv,
                stdin=feed,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:  # reported like a shell's 127, so it is retried like a failure
            return Finished(127, b"", f"cannot start {argv[0]!r}: {exc}".encode())
    with proc:
        try:
            return _supervise(proc, keep_going, step)
        except BaseException:
            _terminate(proc)
            raise


def _supervise(
    proc: subprocess.Popen[bytes], keep_going: Callable[[], bool], step: float
) -> Finished | None:
    # communicate() rather than wait(): it drains both pipes, so a chatty handler cannot
    # block on a full pipe while we wait for it.
    while True:
        try:
            out, err = proc.communicate(timeout=step)
        except subprocess.TimeoutExpired:
            if keep_going():
                continue
            _terminate(proc)
            return None
        return Finished(proc.returncode, out, err)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the handler's process group; SIGKILL it after TERMINATE_GRACE."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.communicate(timeout=TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


def stdin_for(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def output_payload(stdout: bytes) -> Any:
    """A handler's answer: its stdout as JSON, else as a string; nothing at all is null."""
    text = stdout.decode("utf-8", errors="replace").removesuffix("\n")
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError:
        return text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def failure_reason(result: Finished) -> str:
    code = result.returncode
    how = f"handler exited {code}"
    if code < 0:
        with contextlib.suppress(ValueError):
            how = f"handler killed by {signal.Signals(-code).name}"
    return f"{how}: {result.stderr.decode('utf-8', errors='replace')[-STDERR_TAIL:]}"
