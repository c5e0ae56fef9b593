"""The suite's side of the driver protocol (``protocol/DRIVER.md``): any language's hub.

``DriverProcess`` runs one driver command and talks JSON lines with it: a handshake, then
requests answered in order.  Every read has a deadline (``select`` on the pipe), so a
driver that hangs, crashes or writes garbage becomes a ``DriverFailure`` whose message
says in plain words what it did, never a hung suite::

    driver '@a' (./my-driver) exited with code 3 before answering 'claim' (request 4)
      its stderr ends with:
        | panic: no such table

What travels is ``args.py``'s, and ``checks.py`` judges what came back.
``DriverHub`` and ``DriverTarget`` (``targets/driver.py``) build on it: one driver seen
as an ``agentcomm.Hub``, and what ``--impl driver:COMMAND`` runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import shlex
import subprocess
import tempfile
import threading
import time
from collections import deque
from typing import IO, Any, NoReturn, cast

from agentcomm.driver import PROTOCOL
from agentcomm.errors import ConfigurationError
from agentcomm.wire import error_from_wire, from_wire
from agentcomm_conformance import __version__
from agentcomm_conformance.driver.args import Inexpressible, allowance, encode, wire_args
from agentcomm_conformance.driver.checks import (
    CONTROL_RESULTS,
    exit_status,
    hello_problem,
    no_constant,
    quote,
    quote_bytes,
    refusal,
    response_problem,
)

__all__ = ["DriverFailure", "DriverProcess", "Hello", "Inexpressible", "allowance"]

SUITE = f"agentcomm-conformance {__version__}"
DEFAULT_TIMEOUT = 10.0
EXIT_GRACE = 5.0
"""Seconds a driver gets to exit after ``close`` (or after its stdout closed)."""
STDERR_LINES = 12

Transcript = list[tuple[str, Any]]


class DriverFailure(Exception):
    """The driver itself misbehaved: it exited, hung, or broke the protocol.

    Not an ``AgentCommError``: no hub answered, so nothing can be said about the hub.
    """

    def __init__(self, message: str, *, driver: str, op: str | None) -> None:
        super().__init__(message)
        self.driver = driver
        self.op = op


@dataclasses.dataclass(frozen=True)
class Hello:
    """What the driver declared in the handshake."""

    protocol: int
    name: str
    version: str
    kind: str
    capabilities: frozenset[str]


@dataclasses.dataclass
class _Pending:
    request_id: int
    op: str
    submitted: float
    allowance: float


class DriverProcess:
    """One running driver: send requests, read their answers, each within a deadline."""

    hello: Hello
    """What it declared in the handshake (set by ``start``)."""

    def __init__(
        self,
        command: str,
        argv: list[str],
        *,
        timeout: float,
        name: str,
        transcript: Transcript | None = None,
    ) -> None:
        self.command = command
        self.name = name
        self.timeout = timeout
        self.transcript = transcript
        self.failure: DriverFailure | None = None
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in _release
        self._proc = _spawn(argv, self._stderr, command, name)
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        os.set_blocking(self._in, False)
        self._buffer = bytearray()
        self._next_id = 0
        self._pending: deque[_Pending] = deque()
        self._answers: dict[int, tuple[str, dict[str, Any]]] = {}
        self._last_answer = time.monotonic()
        self._lock = threading.RLock()  # suite tests may drive handles from threads

    @classmethod
    def start(
        cls,
        command: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        name: str = "driver",
        transcript: Transcript | None = None,
    ) -> DriverProcess:
        """Spawn ``command`` (split like a shell would, never run by one) and shake hands."""
        argv = shlex.split(command)
        if not argv:
            raise ConfigurationError("the driver command is empty")
        process = cls(command, argv, timeout=timeout, name=name, transcript=transcript)
        process.hello = process._handshake()
        return process

    @property
    def alive(self) -> bool:
        return self.failure is None and self._proc.returncode is None

    @property
    def pid(self) -> int:
        return self._proc.pid

    # -- requests ------------------------------------------------------------------------------
    def call(self, op: str, /, **args: Any) -> Any:
        """Send one request and return its result (``from_wire``); an error answer raises
        the matching ``AgentCommError``; a misbehaving driver raises ``DriverFailure``."""
        return self.collect(self.submit(op, **args))

    def submit(self, op: str, /, **args: Any) -> int:
        """Send one request without waiting; ``collect`` its id later.  Lets several
        drivers work at once: submit to each, then collect from each."""
        plain, tagged = wire_args(op, args)
        with self._lock:
            self._check_running(op)
            request_id = self._next_id
            request = {"id": request_id, "op": op, "args": plain}
            if tagged:  # arguments JSON cannot carry, in tagged form (DRIVER.md)
                request["nonjson"] = tagged
            line = encode(request)
            self._next_id += 1
            self._pending.append(_Pending(request_id, op, time.monotonic(), allowance(op, args)))
            self._record("request", request)
            self._write(line, op, time.monotonic() + self.timeout)
            return request_id

    def collect(self, request_id: int) -> Any:
        """The result of a submitted request (see ``call``)."""
        op, response = self._response(request_id)
        if not response["ok"]:
            error = error_from_wire(response["error"])
            # What the driver said, for a report on a test that did not expect it.
            error.driver_said = (  # type: ignore[attr-defined]
                f"driver {self.name!r} ({self.command}) answered {op!r} (request {request_id})"
                f" with error {error.code!r}: {error}{self._stderr_tail()}"
            )
            raise error
        return self._result(op, response["result"])

    def close(self) -> None:
        """Ask the driver to close, then make sure it is gone.  Idempotent; always reaps.

        Raises ``DriverFailure`` (after reaping) if it did not acknowledge ``close`` or did
        not exit 0 after it."""
        if not self.alive:
            self._reap(0.0)
            return
        try:
            self.call("close")
            code = self._wait_exit(EXIT_GRACE)
        except Exception:
            self._reap(0.0)
            raise
        if code != 0:
            what = (
                f"did not exit within {EXIT_GRACE:g} s of 'close'; it was killed"
                if code is None
                else f"exited with {exit_status(code)} after 'close'"
            )
            self._fail(what, "close")
        self._reap(0.0)

    def kill(self) -> None:
        """SIGKILL it, as a crash would, and reap it: its pending requests get no answer."""
        if self._proc.returncode is None:
            self._proc.kill()
        self._reap(0.0)

    def __enter__(self) -> DriverProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the handshake -----------------------------------------------------------------------------
    def _handshake(self) -> Hello:
        request_id = self.submit("hello", protocol=PROTOCOL, suite=SUITE)
        _, response = self._response(request_id)
        if not response["ok"]:
            self._fail(refusal(response["error"]), "hello")
        result = response["result"]
        problem = hello_problem(result)
        if problem:
            self._fail(problem, "hello")
        impl, caps = result["implementation"], frozenset(result["capabilities"])
        return Hello(PROTOCOL, impl["name"], impl["version"], result["kind"], caps)

    # -- reading answers ---------------------------------------------------------------------------
    def _response(self, request_id: int) -> tuple[str, dict[str, Any]]:
        """The checked response to ``request_id``, reading (in order) until it is there."""
        with self._lock:
            return self._read_until(request_id)

    def _read_until(self, request_id: int) -> tuple[str, dict[str, Any]]:
        if request_id not in self._answers and all(
            p.request_id != request_id for p in self._pending
        ):
            raise ValueError(f"request {request_id} was not submitted or was collected already")
        while request_id not in self._answers:
            self._check_running(self._pending[0].op)
            due = self._pending[0]
            response = self._read_response(due)
            self._pending.popleft()
            self._last_answer = time.monotonic()
            self._answers[due.request_id] = (due.op, response)
        return self._answers.pop(request_id)

    def _read_response(self, due: _Pending) -> dict[str, Any]:
        budget = self.timeout + due.allowance
        deadline = max(due.submitted, self._last_answer) + budget
        waiting = f"{due.op!r} (request {due.request_id})"
        line = self._read_line(deadline, waiting, budget, due.op)
        try:
            data = json.loads(line.decode("utf-8"), parse_constant=no_constant)
        except (UnicodeDecodeError, ValueError):
            self._fail(
                f"wrote a line that is not JSON while {waiting} was due: "
                f"{quote_bytes(line)} (the protocol is one JSON object per line on "
                "stdout; logs belong on stderr)",
                due.op,
            )
        self._record("response", data)
        problem = response_problem(data, due.request_id, due.op)
        if problem:
            self._fail(problem, due.op)
        return cast(dict[str, Any], data)

    def _read_line(self, deadline: float, waiting: str, budget: float, op: str) -> bytes:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                if line.strip():
                    return line
                continue
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._out], [], [], max(0.0, remaining))
            if not ready:
                self._fail(f"did not answer {waiting} within {budget:g} s; it was killed", op)
            chunk = os.read(self._out, 65536)
            if not chunk:
                rest = bytes(self._buffer).strip()
                tail = f", after an unfinished line {quote_bytes(rest)}" if rest else ""
                self._lost(f"before answering {waiting}{tail}", op, "stdout")
            self._buffer += chunk

    def _result(self, op: str, result: Any) -> Any:
        expected = CONTROL_RESULTS.get(op)
        if expected is not None:
            if not expected[0](result):
                self._fail(f"answered {op!r} with {quote(result)}; expected {expected[1]}", op)
            return result
        try:
            return from_wire(op, result)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._fail(
                f"answered {op!r} with a result the suite cannot read "
                f"({type(exc).__name__}: {exc}): {quote(result)}",
                op,
            )

    # -- writing requests --------------------------------------------------------------------------
    def _write(self, data: bytes, op: str, deadline: float) -> None:
        view = memoryview(data)
        while view:
            _, ready, _ = select.select([], [self._in], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                self._fail(
                    f"did not read its stdin for {self.timeout:g} s (request {op!r}); "
                    "it was killed",
                    op,
                )
            try:
                view = view[os.write(self._in, view) :]
            except BlockingIOError:
                continue
            except BrokenPipeError:
                self._lost(f"before reading request {op!r}", op, "stdin")

    # -- failures and cleanup ----------------------------------------------------------------------
    def _check_running(self, op: str) -> None:
        if self.failure is not None:
            raise DriverFailure(
                f"driver {self.name!r} is stopped, so {op!r} cannot run; it "
                f"failed earlier: {self.failure}",
                driver=self.name,
                op=op,
            )
        if self._proc.returncode is not None:
            raise DriverFailure(
                f"driver {self.name!r} is closed, so {op!r} cannot run", driver=self.name, op=op
            )

    def _lost(self, when: str, op: str, pipe: str) -> NoReturn:
        """Its stdout or stdin closed: say how it exited (or kill it if it did not)."""
        code = self._wait_exit(EXIT_GRACE)
        if code is None:
            self._fail(f"closed its {pipe} {when} but did not exit; it was killed", op)
        self._fail(f"exited with {exit_status(code)} {when}", op)

    def _fail(self, what: str, op: str) -> NoReturn:
        """Stop the driver for good and raise its verdict, with the tail of its stderr."""
        self._stop(0.0)
        message = f"driver {self.name!r} ({self.command}) {what}{self._stderr_tail()}"
        self._release()
        self.failure = DriverFailure(message, driver=self.name, op=op)
        raise self.failure from None  # the verdict says it all; no harness internals

    def _wait_exit(self, grace: float) -> int | None:
        try:
            return self._proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return None

    def _reap(self, grace: float) -> None:
        """End the process (killed after ``grace`` s), wait for it, close the pipes."""
        self._stop(grace)
        self._release()

    def _stop(self, grace: float) -> None:
        if self._wait_exit(grace) is None:
            self._proc.kill()
            self._proc.wait()

    def _release(self) -> None:
        for stream in (self._proc.stdin, self._proc.stdout, self._stderr):
            if stream is not None:
                stream.close()

    def _stderr_tail(self) -> str:
        if self._stderr.closed:
            return ""
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - 4096))
        lines = self._stderr.read().decode("utf-8", "replace").splitlines()[-STDERR_LINES:]
        if not lines:
            return " (its stderr is empty)"
        return "\n  its stderr ends with:\n" + "\n".join(f"    | {line}" for line in lines)

    def _record(self, direction: str, data: Any) -> None:
        if self.transcript is not None:
            self.transcript.append((direction, data))


def _spawn(argv: list[str], stderr: IO[bytes], command: str, name: str) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, bufsize=0
        )
    except OSError as exc:
        stderr.close()
        raise DriverFailure(
            f"driver {name!r} could not be started from {command!r}: {exc.strerror or exc}",
            driver=name,
            op=None,
        ) from None
