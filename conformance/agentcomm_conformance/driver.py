"""The suite's side of the driver protocol (``protocol/DRIVER.md``): any language's hub.

``DriverProcess`` runs one driver command and talks JSON lines with it: a handshake, then
requests answered in order.  Every read has a deadline (``select`` on the pipe), so a
driver that hangs, crashes or writes garbage becomes a ``DriverFailure`` whose message
says in plain words what it did, never a hung suite::

    driver '@a' (./my-driver) exited with code 3 before answering 'claim' (request 4)
      its stderr ends with:
        | panic: no such table

``DriverHub`` and ``DriverTarget`` (``driver_target.py``) build on it: one driver seen
as an ``agentcomm.Hub``, and what ``--impl driver:COMMAND`` runs.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import select
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, NoReturn, cast

from agentcomm import Hub
from agentcomm.driver import PROTOCOL
from agentcomm.errors import ConfigurationError
from agentcomm.wire import error_from_wire, from_wire, is_plain, tag, to_wire
from agentcomm_conformance import __version__

__all__ = ["DriverFailure", "DriverProcess", "Hello", "Inexpressible", "allowance"]

SUITE = f"agentcomm-conformance {__version__}"
KINDS = ("sqlite", "redis", "hybrid", "other")
DEFAULT_TIMEOUT = 10.0
EXIT_GRACE = 5.0
"""Seconds a driver gets to exit after ``close`` (or after its stdout closed)."""
STDERR_LINES = 12
MANUAL_CLOCK = "manual_clock"
QUOTE = 200

WAITS = {
    "claim": "wait",
    "claim_many": "wait",
    "events": "wait",
    "request": "timeout",
    "wait_reply": "timeout",
}
"""Ops that may block by design, and the argument that bounds them: it adds to the timeout."""

MAX_ALLOWANCE = 3600.0

Transcript = list[tuple[str, Any]]


class DriverFailure(Exception):
    """The driver itself misbehaved: it exited, hung, or broke the protocol.

    Not an ``AgentCommError``: no hub answered, so nothing can be said about the hub.
    """

    def __init__(self, message: str, *, driver: str, op: str | None) -> None:
        super().__init__(message)
        self.driver = driver
        self.op = op


class Inexpressible(ValueError):
    """An argument that has no JSON form, not even a tagged one (bytes, an arbitrary
    object): nothing was sent, and ``DriverHub`` turns this into a skip, not a failure.
    NaN, infinities, lone surrogates and keys that are not strings travel tagged."""


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
        wire_args, tagged = _wire_args(op, args)
        with self._lock:
            self._check_running(op)
            request_id = self._next_id
            request = {"id": request_id, "op": op, "args": wire_args}
            if tagged:  # arguments JSON cannot carry, in tagged form (DRIVER.md)
                request["nonjson"] = tagged
            line = _encode(request)
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
                else f"exited with {_exit_status(code)} after 'close'"
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
            error = response["error"]
            if error["code"] == "protocol":
                self._fail(
                    f"refused the handshake: it does not speak protocol {PROTOCOL}, "
                    f"this suite's ({error['message']})",
                    "hello",
                )
            self._fail(f"refused the handshake with {error['code']!r}: {error['message']}", "hello")
        return self._read_hello(response["result"])

    def _read_hello(self, result: Any) -> Hello:
        if not isinstance(result, dict):
            self._fail(
                f"answered 'hello' with {_quote(result)}; expected an object with "
                "protocol, implementation, kind and capabilities",
                "hello",
            )
        for field in ("protocol", "implementation", "kind", "capabilities"):
            if field not in result:
                self._fail(f"answered 'hello' without {field!r}: {_quote(result)}", "hello")
        if isinstance(result["protocol"], bool) or result["protocol"] != PROTOCOL:
            self._fail(
                f"speaks protocol {result['protocol']!r}; this suite speaks protocol {PROTOCOL}",
                "hello",
            )
        impl, kind, caps = result["implementation"], result["kind"], result["capabilities"]
        if not (
            isinstance(impl, dict)
            and all(isinstance(impl.get(k), str) for k in ("name", "version"))
        ):
            self._fail(
                f"answered 'hello' with implementation {_quote(impl)}; expected "
                '{"name": "...", "version": "..."}',
                "hello",
            )
        if kind not in KINDS:
            self._fail(f"declared kind {kind!r}; expected one of {', '.join(KINDS)}", "hello")
        if not (isinstance(caps, list) and all(isinstance(c, str) for c in caps)):
            self._fail(f"declared capabilities {_quote(caps)}; expected a list of names", "hello")
        return Hello(PROTOCOL, impl["name"], impl["version"], kind, frozenset(caps))

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
            data = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError):
            self._fail(
                f"wrote a line that is not JSON while {waiting} was due: "
                f"{_quote_bytes(line)} (the protocol is one JSON object per line on "
                "stdout; logs belong on stderr)",
                due.op,
            )
        self._record("response", data)
        problem = _envelope_problem(data)
        if problem:
            self._fail(f"{problem} while {waiting} was due: {_quote(data)}", due.op)
        if data["id"] is None and not data["ok"]:
            self._fail(
                f"could not read request {due.request_id} ({due.op!r}): {data['error']['message']}",
                due.op,
            )
        if data["id"] != due.request_id:
            self._fail(
                f"answered with id {data['id']!r} while {waiting} was due (a driver "
                "answers every request once, in the order they came)",
                due.op,
            )
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
                tail = f", after an unfinished line {_quote_bytes(rest)}" if rest else ""
                self._lost(f"before answering {waiting}{tail}", op, "stdout")
            self._buffer += chunk

    def _result(self, op: str, result: Any) -> Any:
        expected = CONTROL_RESULTS.get(op)
        if expected is not None:
            if not expected[0](result):
                self._fail(f"answered {op!r} with {_quote(result)}; expected {expected[1]}", op)
            return result
        try:
            return from_wire(op, result)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._fail(
                f"answered {op!r} with a result the suite cannot read "
                f"({type(exc).__name__}: {exc}): {_quote(result)}",
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
        self._fail(f"exited with {_exit_status(code)} {when}", op)

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


# -- checking what came back ----------------------------------------------------------------------
def _envelope_problem(data: Any) -> str | None:
    """What is wrong with a response object, in plain words, or None."""
    if not isinstance(data, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(data), "number"
        )
        return f"wrote a JSON {kind} where a response object was due"
    if "id" not in data:
        return "answered without an 'id'"
    if isinstance(data["id"], bool) or not isinstance(data["id"], (int, type(None))):
        return f"answered with id {data['id']!r}, which is not an integer"
    if not isinstance(data.get("ok"), bool):
        return "answered without 'ok' true or false"
    body = "result" if data["ok"] else "error"
    if body not in data:
        return f"answered ok={str(data['ok']).lower()} without {body!r}"
    extra = sorted(set(data) - {"id", "ok", body})
    if extra:
        return f"answered with fields {extra} that a response does not have"
    return None if data["ok"] else _error_problem(data["error"])


def _error_problem(error: Any) -> str | None:
    if not isinstance(error, dict):
        return "answered ok=false with an 'error' that is not an object"
    for field, kind in (("code", str), ("message", str), ("definite", bool)):
        if not isinstance(error.get(field), kind):
            return f"answered ok=false with an error whose {field!r} is not a {kind.__name__}"
    return None


CONTROL_RESULTS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "new_hub": (
        lambda r: isinstance(r, dict) and set(r) == {"hub"} and isinstance(r["hub"], str),
        '{"hub": "<locator>"}',
    ),
    "open": (lambda r: r is None, "null"),
    "advance_clock": (lambda r: r is None, "null"),
    "read_clock": (
        lambda r: isinstance(r, (int, float)) and not isinstance(r, bool),
        "a number (the handle's time, epoch seconds)",
    ),
    "close": (lambda r: r is None, "null"),
}


def _exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def _quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= QUOTE else f"{text[:QUOTE]}... ({len(text)} characters)"


def _quote_bytes(line: bytes) -> str:
    text = repr(line.decode("utf-8", "replace")[:QUOTE])
    return text if len(line) <= QUOTE else f"{text}... ({len(line)} bytes)"


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# -- sending arguments -------------------------------------------------------------------------
def _wire_args(op: str, args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arguments that travel as plain JSON, and those that JSON cannot carry (NaN, a
    lone surrogate, a key that is not a string: JSON would turn ``{1: "a"}`` into
    ``{"1": "a"}``, hiding it from the hub that must refuse it) in tagged form."""
    plain: dict[str, Any] = {}
    tagged: dict[str, Any] = {}
    for name, value in args.items():
        wire = _jsonable(value)
        if is_plain(wire):
            plain[name] = wire
            continue
        try:
            tagged[name] = tag(wire)
        except TypeError as exc:
            raise Inexpressible(
                f"argument {name!r} of {op!r} cannot travel to a driver: {exc}"
            ) from None
    return plain, tagged


def _jsonable(value: Any) -> Any:
    """An argument in the shape of JSON: ``Outgoing`` as an object, enums by ``to_wire``;
    sets, tuples and generators as lists (which JSON can carry is ``_wire_args``' call)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray)):
        return [_jsonable(v) for v in value]
    return to_wire(value)


def _encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def allowance(op: str, args: Mapping[str, Any]) -> float:
    """How long ``op`` may block by design: its ``wait`` or ``timeout`` (0 for other ops)."""
    name = WAITS.get(op)
    if name is None:
        return 0.0
    value = args.get(name, inspect.signature(getattr(Hub, op)).parameters[name].default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    try:
        seconds = float(value)
    except OverflowError:  # 10**400: the hub refuses it at once
        return 0.0
    return min(max(0.0, seconds), MAX_ALLOWANCE) if math.isfinite(seconds) else 0.0
