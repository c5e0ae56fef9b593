"""What a driver wrote back, checked: the handshake, each response, the control results.

Each check returns what is wrong in plain words (or None), and ``DriverProcess``
(``process.py``) turns that into a ``DriverFailure`` that names the driver.  Apart from the
process handling because these are pure functions of what came back: no pipes, no clock.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from typing import Any

from agentcomm.driver import PROTOCOL

__all__ = [
    "CONTROL_RESULTS",
    "KINDS",
    "envelope_problem",
    "exit_status",
    "hello_problem",
    "no_constant",
    "quote",
    "quote_bytes",
    "refusal",
    "response_problem",
]

KINDS = ("sqlite", "redis", "hybrid", "other")
QUOTE = 200


def hello_problem(result: Any) -> str | None:
    """What is wrong with the result of ``hello``, in plain words, or None."""
    if not isinstance(result, dict):
        return (
            f"answered 'hello' with {quote(result)}; expected an object with "
            "protocol, implementation, kind and capabilities"
        )
    for field in ("protocol", "implementation", "kind", "capabilities"):
        if field not in result:
            return f"answered 'hello' without {field!r}: {quote(result)}"
    if isinstance(result["protocol"], bool) or result["protocol"] != PROTOCOL:
        return f"speaks protocol {result['protocol']!r}; this suite speaks protocol {PROTOCOL}"
    impl, kind, caps = result["implementation"], result["kind"], result["capabilities"]
    if not (
        isinstance(impl, dict) and all(isinstance(impl.get(k), str) for k in ("name", "version"))
    ):
        return (
            f"answered 'hello' with implementation {quote(impl)}; expected "
            '{"name": "...", "version": "..."}'
        )
    if kind not in KINDS:
        return f"declared kind {kind!r}; expected one of {', '.join(KINDS)}"
    if not (isinstance(caps, list) and all(isinstance(c, str) for c in caps)):
        return f"declared capabilities {quote(caps)}; expected a list of names"
    return None


def refusal(error: dict[str, Any]) -> str:
    """What a driver that answered ``hello`` with an error did, in plain words."""
    if error["code"] == "protocol":
        return (
            f"refused the handshake: it does not speak protocol {PROTOCOL}, "
            f"this suite's ({error['message']})"
        )
    return f"refused the handshake with {error['code']!r}: {error['message']}"


def response_problem(data: Any, request_id: int, op: str) -> str | None:
    """What is wrong with the response read while ``request_id`` (an ``op``) was due."""
    waiting = f"{op!r} (request {request_id})"
    problem = envelope_problem(data)
    if problem:
        return f"{problem} while {waiting} was due: {quote(data)}"
    if data["id"] is None and not data["ok"]:
        return f"could not read request {request_id} ({op!r}): {data['error']['message']}"
    if data["id"] != request_id:
        return (
            f"answered with id {data['id']!r} while {waiting} was due (a driver "
            "answers every request once, in the order they came)"
        )
    return None


def envelope_problem(data: Any) -> str | None:
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


def exit_status(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"code {code}"


def quote(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= QUOTE else f"{text[:QUOTE]}... ({len(text)} characters)"


def quote_bytes(line: bytes) -> str:
    text = repr(line.decode("utf-8", "replace")[:QUOTE])
    return text if len(line) <= QUOTE else f"{text}... ({len(line)} bytes)"


def no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")
