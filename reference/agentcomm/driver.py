"""The reference driver: this project's hubs behind the conformance driver protocol.

One process serves one hub handle.  It reads one JSON request per line on stdin and
writes one JSON response per line on stdout, in order; logs and tracebacks go to stderr.
The protocol is written down in DRIVER.md (``agentcomm_conformance/protocol/``)::

    {"id": 3, "op": "claim", "args": {"source": "jobs"}}
    {"id": 3, "ok": true, "result": {"message": {...}, "token": "...", ...}}
    {"id": 4, "ok": false, "error": {"code": "stale_lease", "message": "...", "definite": true}}

Only the operations named in ``CONTROL_OPS`` and ``HUB_OPS`` can be called: a name from
the wire is looked up in those tables, never on an object.
"""

from __future__ import annotations

import inspect
import json
import math
import operator
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

import agentcomm
from agentcomm.api import Hub
from agentcomm.clock import ManualClock
from agentcomm.errors import AgentCommError, ConfigurationError
from agentcomm.models import Outgoing
from agentcomm.ops import OPS
from agentcomm.urls import KINDS, connect, fresh_url, hub_class, parse
from agentcomm.wire import ERRORS, BadTag, error_to_wire, to_wire, untag

__all__ = ["HUB_OPS", "KINDS", "MANUAL_CLOCK", "PROTOCOL", "Driver", "serve"]

PROTOCOL = 1
"""The driver protocol version this module speaks."""

IMPLEMENTATION = "agentcomm-reference"

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
WIRE_CODES = {*ERRORS, "protocol", "unsupported", "internal"} - {"error"}
"""The error codes of DRIVER.md's table."""

MANUAL_CLOCK = "manual_clock"
"""The capability of a hub whose time a test sets (``now=``); the suite imports it from here."""
CLAIM_NEXT = "claim_next"

HUB_OP_NAMES = tuple(OPS)

HUB_OPS: dict[str, Callable[[Hub], Callable[..., Any]]] = {
    name: operator.attrgetter(name) for name in HUB_OP_NAMES
}
"""Wire op -> the bound method of the open hub it calls (``Hub`` keyword arguments)."""

SIGNATURES = {name: inspect.signature(getattr(Hub, name)) for name in HUB_OP_NAMES}

REQUIRES = {
    **{name: op.needs for name, op in OPS.items() if op.needs},
    "advance_clock": MANUAL_CLOCK,
    "read_clock": MANUAL_CLOCK,
}
"""Ops that only a driver declaring the capability answers (others: ``unsupported``)."""


class ProtocolViolation(AgentCommError):
    """The request is malformed, or arrives out of order; definite."""

    code = "protocol"


class Unsupported(AgentCommError):
    """An op this driver does not know, or whose capability it did not declare; definite."""

    code = "unsupported"


def serve(
    stdin: IO[bytes],
    stdout: IO[bytes],
    url_template: str,
    clock_mode: str = "system",
    stderr: IO[str] | None = None,
) -> int:
    """Answer requests from ``stdin`` until ``close`` or end of input; return the exit code."""
    driver = Driver(url_template, clock_mode, stderr or sys.stderr)
    try:
        for line in stdin:
            if line.strip():
                stdout.write(driver.respond(line))
                stdout.flush()
            if driver.closed:
                break
    finally:
        driver.shutdown()
    return 0


class Driver:
    """The state of one driver process: the handshake, and the one hub handle it opened."""

    def __init__(self, url_template: str, clock_mode: str, log: IO[str]) -> None:
        if clock_mode not in {"system", "manual"}:
            raise ConfigurationError(f"clock {clock_mode!r} is not 'system' or 'manual'")
        self.template = full_template(url_template)
        scheme = parse(self.template).scheme  # a bad template fails at start, not later
        self.kind = KINDS.get(scheme, "other")
        self.capabilities = declared_capabilities(scheme, clock_mode == "manual")
        self.log = log
        self.greeted = False
        self.closed = False
        self.hub: Hub | None = None
        self.clock: ManualClock | None = None

    # -- one request -----------------------------------------------------------------------
    def respond(self, line: bytes) -> bytes:
        """The response line (UTF-8, newline-terminated) to one request line."""
        request_id: int | None = None
        try:
            request = decode_request(line)
            request_id = request_id_of(request)
            op, args = op_and_args(request)
            return encode({"id": request_id, "ok": True, "result": to_wire(self.run(op, args))})
        except AgentCommError as exc:
            return encode({"id": request_id, "ok": False, "error": wire_error(exc)})
        except Exception as exc:  # any other failure is reported, and the driver goes on
            traceback.print_exc(file=self.log)
            error = {
                "code": "internal",
                "message": f"{type(exc).__name__}: {exc}",
                "definite": False,
            }
            return encode({"id": request_id, "ok": False, "error": error})

    def run(self, op: str, args: dict[str, Any]) -> Any:
        if op != "hello" and not self.greeted:
            raise ProtocolViolation(f"the first request must be 'hello', not {op!r}")
        needed = REQUIRES.get(op)
        if needed is not None and needed not in self.capabilities:
            raise Unsupported(
                f"op {op!r} needs capability {needed!r}, which this driver "
                f"does not declare (it declares {sorted(self.capabilities)})"
            )
        control = CONTROL_OPS.get(op)
        if control is not None:
            return control(self, **bind(op, inspect.signature(control), args, self))
        if op in HUB_OPS:
            return self.hub_op(op, args)
        raise Unsupported(f"unknown op {op!r}")

    def hub_op(self, op: str, args: dict[str, Any]) -> Any:
        if self.hub is None:
            raise ProtocolViolation(f"no hub is open: send 'open' before {op!r}")
        if args.get("claim_next") and CLAIM_NEXT not in self.capabilities:
            raise Unsupported(
                f"claim_next needs capability {CLAIM_NEXT!r}, which this driver "
                f"does not declare (it declares {sorted(self.capabilities)})"
            )
        arguments = bind(op, SIGNATURES[op], args, self.hub)
        reader = ARG_READERS.get(op)
        return HUB_OPS[op](self.hub)(**(reader(arguments) if reader else arguments))

    # -- control ops -------------------------------------------------------------------------
    def hello(self, *, protocol: object, suite: object = None) -> dict[str, Any]:
        if isinstance(protocol, bool) or protocol != PROTOCOL:
            raise ProtocolViolation(
                f"this driver speaks protocol {PROTOCOL}; the suite asked for {protocol!r}"
            )
        print(
            f"agentcomm driver: hello from {suite!r}; {self.kind} hub, "
            f"capabilities {sorted(self.capabilities)}",
            file=self.log,
            flush=True,
        )
        self.greeted = True
        return {
            "protocol": PROTOCOL,
            "implementation": {"name": IMPLEMENTATION, "version": agentcomm.__version__},
            "kind": self.kind,
            "capabilities": sorted(self.capabilities),
        }

    def new_hub(self, *, workdir: object) -> dict[str, str]:
        directory = Path(text("workdir", workdir))
        if not directory.is_absolute():
            raise ProtocolViolation(f"workdir {workdir!r} is not an absolute path")
        directory.mkdir(parents=True, exist_ok=True)
        url = fresh_url(self.template, directory)
        connect(url, create=True).close()
        return {"hub": url}

    def open(self, *, hub: object, agent: object = None, now: object = None) -> None:
        if self.hub is not None:
            raise ProtocolViolation(
                f"this driver already has a hub open as {self.hub.agent_id!r}"
                "; start one driver per handle"
            )
        if now is not None and MANUAL_CLOCK not in self.capabilities:
            raise Unsupported(
                "'now' needs capability 'manual_clock', which this driver "
                "does not declare (run it with --clock manual)"
            )
        # Without 'now' the handle runs on the system clock: the suite opens such handles
        # for what must wait in real time (a waiter's CPU, a process killed mid-lease).
        self.clock = None if now is None else ManualClock(number("now", now))
        # The hub judges the agent id, as in-process: InvalidInput for 42 or "bob".
        self.hub = connect(text("hub", hub), agent=cast(Any, agent), clock=self.clock)

    def advance_clock(self, *, seconds: object) -> None:
        self.open_clock("advance_clock").advance(duration("seconds", seconds))

    def read_clock(self) -> float:
        return self.open_clock("read_clock").now()

    def open_clock(self, op: str) -> ManualClock:
        if self.hub is None:
            raise ProtocolViolation(f"no hub is open: send 'open' before {op!r}")
        if self.clock is None:
            raise ProtocolViolation(
                f"{op!r}: this handle runs on the system clock (it was opened without 'now')"
            )
        return self.clock

    def close(self) -> None:
        self.closed = True
        self.shutdown()

    def shutdown(self) -> None:
        if self.hub is not None:
            self.hub.close()


CONTROL_OPS: dict[str, Callable[..., Any]] = {
    "hello": Driver.hello,
    "new_hub": Driver.new_hub,
    "open": Driver.open,
    "advance_clock": Driver.advance_clock,
    "read_clock": Driver.read_clock,
    "close": Driver.close,
}
"""The protocol's own ops; every other op must be in ``HUB_OPS``."""


# -- framing ------------------------------------------------------------------------------------
def decode_request(line: bytes) -> dict[str, Any]:
    try:
        data = json.loads(line.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(
            f"the request line is not UTF-8 JSON ({exc}): {line[:200]!r}"
        ) from None
    if not isinstance(data, dict):
        raise ProtocolViolation(f"a request is a JSON object, not {type(data).__name__}")
    return data


def request_id_of(request: dict[str, Any]) -> int:
    found = request.get("id")
    if isinstance(found, bool) or not isinstance(found, int) or found < 0:
        raise ProtocolViolation(f"request id {found!r} is not a non-negative integer")
    return found


def op_and_args(request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    extra = sorted(set(request) - {"id", "op", "args", "nonjson"})
    if extra:
        raise ProtocolViolation(f"a request has only id, op, args and nonjson, not {extra}")
    op, args = request.get("op"), request.get("args", {})
    if not isinstance(op, str):
        raise ProtocolViolation(f"op {op!r} is not a string")
    if not isinstance(args, dict):
        raise ProtocolViolation(f"args of {op!r} must be a JSON object, not {args!r}")
    return op, {**args, **untagged(op, request.get("nonjson", {}), args)}


def untagged(op: str, nonjson: object, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments a request carries in tagged form (DRIVER.md), as the values they are."""
    if not isinstance(nonjson, dict):
        raise ProtocolViolation(f"nonjson of {op!r} must be a JSON object, not {nonjson!r:.60}")
    both = sorted(set(nonjson) & set(args))
    if both:
        raise ProtocolViolation(f"{op!r} has {both} both in args and in nonjson")
    try:
        return {name: untag(node) for name, node in nonjson.items()}
    except BadTag as exc:
        raise ProtocolViolation(f"nonjson of {op!r}: {exc}") from None


def encode(response: dict[str, Any]) -> bytes:
    """One response line.  A lone surrogate (a refused value quoted in an error message)
    is written as its ``\\uXXXX`` escape, which is JSON, instead of breaking UTF-8."""
    text = json.dumps(response, ensure_ascii=False, allow_nan=False)
    return LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text).encode("utf-8") + b"\n"


def wire_error(exc: AgentCommError) -> dict[str, Any]:
    """``error_to_wire``, with a code outside DRIVER.md's table (the tree's root) as internal."""
    found = error_to_wire(exc)
    return found if found["code"] in WIRE_CODES else {**found, "code": "internal"}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# -- arguments ----------------------------------------------------------------------------------
def bind(
    op: str, signature: inspect.Signature, args: dict[str, Any], owner: object
) -> dict[str, Any]:
    """``args`` checked against the op's keyword parameters (``owner`` fills ``self``)."""
    try:
        signature.bind(owner, **args)
    except TypeError as exc:
        raise ProtocolViolation(f"bad args for {op!r}: {exc}") from None
    return args


def read_outgoing(args: dict[str, Any]) -> dict[str, Any]:
    """``send_many``: each object of the list ``messages`` is an ``Outgoing`` by its fields.
    Anything else is left for the hub to refuse (``invalid_input`` naming it)."""
    items = args["messages"]
    if not isinstance(items, list):
        return args
    try:
        return {**args, "messages": [Outgoing(**m) if isinstance(m, dict) else m for m in items]}
    except TypeError as exc:
        raise ProtocolViolation(f"send_many: a message is not an Outgoing: {exc}") from None


def read_pairs(args: dict[str, Any]) -> dict[str, Any]:
    """``complete_many``: ``items`` is a list of ``[message_id, token]`` pairs; anything
    else is left for the hub to refuse (``invalid_input`` naming it)."""
    items = args["items"]
    if not isinstance(items, list):
        return args
    return {**args, "items": [tuple(p) if isinstance(p, list) else p for p in items]}


ARG_READERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "send_many": read_outgoing,
    "complete_many": read_pairs,
}


def text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ProtocolViolation(f"{name} must be a string, not {value!r}")
    return value


def number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolViolation(f"{name} must be a finite number, not {value!r}")
    return float(value)


def duration(name: str, value: object) -> float:
    found = number(name, value)
    if found < 0:
        raise ProtocolViolation(f"{name} must not be negative, got {value!r}")
    return found


# -- what the driver declares ---------------------------------------------------------------------
def declared_capabilities(scheme: str, manual_clock: bool) -> frozenset[str]:
    """The hub's own capabilities; ``manual_clock`` only when the driver runs one."""
    own = hub_class(scheme).capabilities
    if manual_clock and MANUAL_CLOCK not in own:
        raise ConfigurationError(
            f"--clock manual: the {scheme} hub does not declare {MANUAL_CLOCK!r}"
        )
    return own if manual_clock else own - {MANUAL_CLOCK}


def full_template(template: str) -> str:
    """``sqlite:`` and ``sqlite:?backoff_base=0.1`` stand for ``sqlite:///hub.db...``."""
    if "://" in template:
        return template
    scheme, mark, query = template.partition("?")
    return f"{scheme}///hub.db{mark}{query}"
