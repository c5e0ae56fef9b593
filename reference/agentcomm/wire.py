"""The JSON form of the contract's values and errors, as the driver protocol carries them.

``to_wire`` turns a result (a model, a list of models, a dict of counts, ``None``) into
JSON-ready data; ``from_wire`` turns it back, given the operation that produced it.
Errors travel as ``{"code", "message", "definite"}`` and come back as the matching class
of the error tree, so a caller catches the same exceptions through a driver as in-process.
"""

from __future__ import annotations

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

__all__ = ["ERRORS", "RESULT_KINDS", "error_from_wire", "error_to_wire", "from_wire", "to_wire"]

ERRORS: dict[str, type[errors.AgentCommError]] = {
    cls.code: cls
    for cls in (
        errors.AgentCommError, errors.ConfigurationError, errors.InvalidInput, errors.NotFound,
        errors.Conflict, errors.StaleLease, errors.AlreadyFinished, errors.DeadlineExceeded,
        errors.BackendUnavailable, errors.CorruptStore,
    )
}

RESULT_KINDS: dict[str, tuple[str, bool]] = {
    "send": ("message", False), "get": ("message", False), "fail": ("message", False),
    "release": ("message", False), "replay": ("message", False),
    "send_many": ("message", True), "dead_letters": ("message", True),
    "claim": ("claim", False), "claim_many": ("claim", True), "extend": ("claim", False),
    "request": ("reply", False), "wait_reply": ("reply", False), "reply": ("reply", False),
    "get_reply": ("reply", False),
    "publish": ("event", False), "events": ("event", True), "tail_events": ("event", True),
    "register": ("agent", False), "heartbeat": ("agent", False), "agents": ("agent", True),
    "stats": ("stats", False),
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
    return Message(**{**d, "status": Status(d["status"]),
                      "priority": Priority.parse(d["priority"])})


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


_READERS = {"message": _message, "claim": _claim, "reply": _reply, "event": _event,
            "agent": _agent, "stats": _stats}
