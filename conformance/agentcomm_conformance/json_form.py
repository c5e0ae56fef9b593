"""The JSON form of records (SPEC ENV-005), as a driver must write them.

The suite reads what a driver answers leniently, so that one wrongly written field does not
fail every statement; ENV-005's own test checks the form with ``problems``.  ``FORMS`` is
the ``properties`` of ``protocol/schemas/<record>.json`` (tests/test_driver_schemas.py keeps
the two equal), for the records a hub op returns.
"""

from __future__ import annotations

from typing import Any

Form = dict[str, Any]

_ID = {"type": "string"}
_TEXT = {"type": "string"}
_TIME = {"type": "number"}
_MAYBE_TEXT = {"type": ["string", "null"]}
_MAYBE_TIME = {"type": ["number", "null"]}

FORMS: dict[str, Form] = {
    "message": {
        "id": _ID,
        "from_agent": _TEXT,
        "to_agent": _TEXT,
        "type": _TEXT,
        "payload": {},
        "status": {"enum": ["pending", "processing", "completed", "dead", "expired"]},
        "priority": {"enum": ["low", "normal", "high"]},
        "created_at": _TIME,
        "timeout_seconds": _TIME,
        "retry_count": {"type": "integer"},
        "max_retries": {"type": "integer"},
        "correlation_id": _MAYBE_TEXT,
        "expires_at": _MAYBE_TIME,
        "available_at": _TIME,
        "claimed_by": _MAYBE_TEXT,
        "last_error": _MAYBE_TEXT,
        "reply_id": _MAYBE_TEXT,
    },
    "claim": {
        "message": {"$ref": "message.json"},
        "token": _TEXT,
        "lease_expires_at": _TIME,
        "id": _ID,
    },
    "reply": {
        "id": _ID,
        "request_id": _ID,
        "from_agent": _TEXT,
        "to_agent": _TEXT,
        "payload": {},
        "status": {"enum": ["success", "error"]},
        "created_at": _TIME,
        "correlation_id": _MAYBE_TEXT,
    },
    "event": {
        "id": _ID,
        "event_type": _TEXT,
        "publisher": _TEXT,
        "payload": {},
        "published_at": _TIME,
        "expires_at": _MAYBE_TIME,
    },
    "agent": {
        "agent_id": _TEXT,
        "status": _TEXT,
        "last_heartbeat": _TIME,
        "heartbeat_ttl": _TIME,
        "alive": {"type": "boolean"},
        "seconds_since_heartbeat": _TIME,
        "process_id": {"type": ["integer", "null"]},
        "capabilities": {"type": "array"},
        "current_load": {"type": "integer"},
        "max_concurrent": {"type": "integer"},
    },
    "stats": {
        "depths": {"type": "object"},
        "counters": {"type": "object"},
        "agents_alive": {"type": "integer"},
        "agents_known": {"type": "integer"},
    },
}
"""Each record's fields and their JSON form; every field is required, no other allowed."""

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


def problems(value: Any, kind: str, at: str = "$") -> list[str]:
    """What in ``value`` is not the JSON form of a ``kind`` record, as paths and reasons."""
    form = FORMS[kind]
    if not isinstance(value, dict):
        return [f"{at}: {value!r:.80} is not an object"]
    found = [f"{at}: has no field {k!r}" for k in form if k not in value]
    found += [f"{at}: has a field {k!r} that a {kind} does not" for k in value if k not in form]
    for name, rule in form.items():
        if name in value:
            found += _field(value[name], rule, f"{at}.{name}")
    return found


def _field(value: Any, rule: Form, at: str) -> list[str]:
    if "$ref" in rule:
        return problems(value, "message", at)
    if "enum" in rule:
        return (
            []
            if value in rule["enum"] and isinstance(value, str)
            else [f"{at}: {value!r} is not one of {rule['enum']}"]
        )
    if "type" not in rule:
        return []
    names = [rule["type"]] if isinstance(rule["type"], str) else rule["type"]
    for name in names:
        if isinstance(value, _TYPES[name]) and not (
            isinstance(value, bool) and name in {"number", "integer"}
        ):
            return []
    return [f"{at}: {value!r:.80} is not {' or '.join(names)}"]
