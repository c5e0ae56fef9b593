"""The JSON form of the contract's values and errors, as the driver protocol carries them.

``to_wire`` turns a result (a model, a list of models, a dict of counts, ``None``) into
JSON-ready data; ``from_wire`` turns it back, given the operation that produced it.
Errors travel as ``{"code", "message", "definite"}`` and come back as the matching class
of the error tree, so a caller catches the same exceptions through a driver as in-process.

Arguments JSON cannot carry (NaN, infinities, text with lone surrogates, object keys that
are not strings) travel in **tagged form** (DRIVER.md, "Values JSON cannot carry"), so that
a driver can hand its hub exactly the value the suite means, and the hub refuse it::

    ["null"]  ["bool", true]  ["number", 1.5]  ["number", "NaN"]  ["string", [108, 55296]]
    ["array", [node, ...]]  ["object", [[key node, value node], ...]]

``is_plain`` says whether a value can travel as plain JSON; ``tag`` and ``untag`` convert.
"""

from __future__ import annotations

import math
import struct
from typing import Any

from agentcomm import errors
from agentcomm.models import (
    AgentInfo,
    Claim,
    Event,
    Message,
    Priority,
    Reply,
    ReplyStatus,
    Stats,
    Status,
    as_json,
)
from agentcomm.ops import OPS

__all__ = [
    "ERRORS",
    "RESULT_KINDS",
    "BadTag",
    "error_from_wire",
    "error_to_wire",
    "from_wire",
    "is_plain",
    "tag",
    "to_wire",
    "untag",
]

ERRORS: dict[str, type[errors.AgentCommError]] = {
    cls.code: cls
    for cls in (
        errors.AgentCommError,
        errors.ConfigurationError,
        errors.InvalidInput,
        errors.NotFound,
        errors.Conflict,
        errors.StaleLease,
        errors.AlreadyFinished,
        errors.DeadlineExceeded,
        errors.BackendUnavailable,
        errors.CorruptStore,
    )
}

RESULT_KINDS: dict[str, tuple[str, bool]] = {
    name: (op.result, op.many) for name, op in OPS.items() if op.result is not None
}
"""What each hub operation returns: (kind, a list of them?).  A ``null`` result stays
``None``; operations not named here return plain JSON (counts, lists of names)."""


NEXT_CLAIMING = frozenset({"complete", "complete_many", "reply", "fail", "release"})
"""Finishing operations that, with ``claim_next`` (SPEC CLAIM-009), return the next
Claim (``complete_many``: a list of them) instead of their usual result."""


def to_wire(value: Any) -> Any:
    return as_json(value)


def from_wire(op: str, data: Any) -> Any:
    if data is None:
        return data
    if op in NEXT_CLAIMING and _is_claims(data):
        return [_claim(d) for d in data] if isinstance(data, list) else _claim(data)
    if op not in RESULT_KINDS:
        return data
    kind, many = RESULT_KINDS[op]
    read = _READERS[kind]
    return [read(d) for d in data] if many else read(data)


def error_to_wire(exc: errors.AgentCommError) -> dict[str, Any]:
    return {"code": exc.code, "message": str(exc), "definite": exc.definite}


def error_from_wire(data: dict[str, Any]) -> errors.AgentCommError:
    cls = ERRORS.get(str(data.get("code")), errors.AgentCommError)
    error = cls(str(data.get("message", "")), definite=bool(data.get("definite", False)))
    error.code = str(data.get("code", cls.code))
    return error


def _is_claims(data: Any) -> bool:
    """A Claim, or a list of them: what a finishing call returns with ``claim_next``.
    (Only a Claim carries a ``token``.)"""
    items = data if isinstance(data, list) else [data]
    return all(isinstance(d, dict) and "token" in d for d in items)


def _message(d: dict[str, Any]) -> Message:
    return Message(
        **{**d, "status": Status(d["status"]), "priority": Priority.parse(d["priority"])}
    )


def _claim(d: dict[str, Any]) -> Claim:
    return Claim(_message(d["message"]), d["token"], d["lease_expires_at"])


def _reply(d: dict[str, Any]) -> Reply:
    return Reply(**{**d, "status": ReplyStatus(d["status"])})


def _event(d: dict[str, Any]) -> Event:
    return Event(**d)


def _agent(d: dict[str, Any]) -> AgentInfo:
    return AgentInfo(**{**d, "capabilities": tuple(d.get("capabilities", ()))})


def _stats(d: dict[str, Any]) -> Stats:
    return Stats(d["depths"], d["counters"], d["agents_alive"], d["agents_known"])


_READERS = {
    "message": _message,
    "claim": _claim,
    "reply": _reply,
    "event": _event,
    "agent": _agent,
    "stats": _stats,
}


# -- values JSON cannot carry ------------------------------------------------------------------
NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class BadTag(ValueError):
    """A tagged value that does not follow the tagged form."""


def is_plain(value: Any) -> bool:
    """Whether ``value`` (already JSON-shaped: dicts, lists, scalars) is exactly JSON."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(k) and is_plain(v) for k, v in value.items())
    return value is None or isinstance(value, (bool, int))


def tag(value: Any) -> list[Any]:
    """The tagged form of a JSON-shaped value; ``TypeError`` for anything else."""
    if value is None:
        return ["null"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, (int, float)):
        finite = isinstance(value, int) or math.isfinite(value)
        return ["number", value if finite else _non_finite_name(value)]
    if isinstance(value, str):
        units = value.encode("utf-16-le", "surrogatepass")
        return ["string", list(struct.unpack(f"<{len(units) // 2}H", units))]
    if isinstance(value, list):
        return ["array", [tag(v) for v in value]]
    if isinstance(value, dict):
        return ["object", [[tag(k), tag(v)] for k, v in value.items()]]
    raise TypeError(f"no tagged form for {type(value).__name__}")


def untag(node: Any) -> Any:
    """The value a tagged node stands for; ``BadTag`` naming what is wrong with it."""
    if not (isinstance(node, list) and node and isinstance(node[0], str)):
        raise BadTag(f"a tagged value is a list starting with its tag, not {node!r:.60}")
    name, rest = node[0], node[1:]
    reader = _UNTAG.get(name)
    if reader is None or len(rest) != (0 if name == "null" else 1):
        raise BadTag(f"unknown tag or wrong length: {node!r:.60}")
    return reader(*rest)


def _non_finite_name(value: float) -> str:
    return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"


def _number(value: Any) -> Any:
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadTag(f"a number node holds a number or NaN/Infinity/-Infinity, not {value!r}")
    return value


def _string(units: Any) -> str:
    if not (
        isinstance(units, list)
        and all(isinstance(u, int) and not isinstance(u, bool) and 0 <= u <= 0xFFFF for u in units)
    ):
        raise BadTag("a string node holds a list of UTF-16 code units (0..65535)")
    return struct.pack(f"<{len(units)}H", *units).decode("utf-16-le", "surrogatepass")


def _array(items: Any) -> list[Any]:
    if not isinstance(items, list):
        raise BadTag("an array node holds a list of nodes")
    return [untag(i) for i in items]


def _object(pairs: Any) -> dict[Any, Any]:
    if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs)):
        raise BadTag("an object node holds a list of [key node, value node] pairs")
    found = {}
    for key, value in pairs:
        found[_hashable(untag(key))] = untag(value)
    return found


def _hashable(key: Any) -> Any:
    if isinstance(key, (list, dict)):
        raise BadTag("an object key is a scalar node")
    return key


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadTag(f"a bool node holds true or false, not {value!r}")
    return value


_UNTAG: dict[str, Any] = {
    "null": lambda: None,
    "bool": _bool,
    "number": _number,
    "string": _string,
    "array": _array,
    "object": _object,
}
