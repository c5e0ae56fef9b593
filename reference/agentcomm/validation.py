"""The grammar and limits of SPEC section LIMIT, shared by every backend.

Each check either returns the normalised value or raises ``InvalidInput`` naming the
value at fault.  Identifiers are restricted to characters that are safe in Redis key
names and file names; ``:`` is excluded because it separates Redis key parts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence

from agentcomm.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAX_BATCH",
    "MAX_ID_LENGTH",
    "check_agent_id",
    "check_batch",
    "check_capability",
    "check_correlation_id",
    "check_count",
    "check_event_type",
    "check_flag",
    "check_list",
    "check_max_retries",
    "check_message_id",
    "check_message_type",
    "check_pairs",
    "check_reason",
    "check_seconds",
    "check_target",
    "check_token",
    "decode_payload",
    "encode_payload",
    "is_agent_id",
    "label",
    "parse_payload_text",
    "shown",
]

MAX_ID_LENGTH = 100
MAX_TYPE_LENGTH = 50
MAX_REASON_LENGTH = 4096
MAX_SECONDS = 30 * 86_400.0
MAX_RETRIES_LIMIT = 100
MAX_BATCH = 10_000
"""The most messages, ids or claims one call takes (SPEC LIMIT)."""

_SEGMENTS = r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*"
_AGENT_ID = re.compile(rf"@{_SEGMENTS}")
_QUEUE = re.compile(_SEGMENTS)
_TYPE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_CORRELATION = re.compile(r"[A-Za-z0-9_.@/+=-]+")


def label(kind: str, name: str | None) -> str:
    """How a message names a value: by its parameter, with what it should be
    (``to (target)``), or by what it should be alone when that is its name."""
    if name is None or name == kind.replace(" ", "_"):
        return kind
    return f"{name} ({kind})"


def _check(
    kind: str,
    value: object,
    pattern: re.Pattern[str],
    limit: int,
    rule: str,
    name: str | None = None,
) -> str:
    if isinstance(value, str) and len(value) <= limit and pattern.fullmatch(value):
        return value
    what = label(kind, name)
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__} {value!r}")
    if len(value) > limit:
        raise InvalidInput(f"{what} {value[:40]!r}... is {len(value)} characters, limit {limit}")
    raise InvalidInput(f"{what} {value!r} is not valid: {rule}")


def check_agent_id(value: object, name: str | None = None) -> str:
    """``@`` then dot-separated segments of letters, digits, ``_`` and ``-``."""
    rule = "expected '@' then dot-separated segments of [A-Za-z0-9_-], e.g. '@service.auth'"
    return _check("agent id", value, _AGENT_ID, MAX_ID_LENGTH, rule, name)


def is_agent_id(value: str) -> bool:
    return value.startswith("@")


def check_target(value: object, name: str | None = None) -> str:
    """An agent id (its inbox) or a queue name (the same segments without ``@``)."""
    if isinstance(value, str) and value.startswith("@"):
        return check_agent_id(value, name or "target")
    rule = "expected an agent id like '@service.auth' or a queue name like 'ANY_AVAILABLE'"
    return _check("target", value, _QUEUE, MAX_ID_LENGTH, rule, name)


def check_message_type(value: object, name: str | None = None) -> str:
    rule = "expected letters, digits, '_', '.', '-', not starting with '.' or '-'"
    return _check("message type", value, _TYPE, MAX_TYPE_LENGTH, rule, name)


def check_capability(value: object, name: str | None = None) -> str:
    """A capability an agent registers with: a message type's grammar (SPEC REG-001)."""
    rule = "expected letters, digits, '_', '.', '-', not starting with '.' or '-'"
    return _check("capability", value, _TYPE, MAX_TYPE_LENGTH, rule, name)


def check_event_type(value: object, name: str | None = None) -> str:
    rule = "expected letters, digits, '_', '.', '-', not starting with '.' or '-'"
    return _check("event type", value, _TYPE, MAX_ID_LENGTH, rule, name)


def check_correlation_id(value: object, name: str | None = None) -> str:
    rule = "expected letters, digits and _ . @ / + = -"
    return _check("correlation id", value, _CORRELATION, MAX_ID_LENGTH, rule, name)


def check_message_id(value: object, name: str = "message_id", kind: str = "message id") -> str:
    """An id the hub gave out (a message, a request, an event): 1 to 100 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidInput(
            f"{label(kind, name)} {value!r:.60} is not a valid id: "
            "expected a string of 1 to 100 characters"
        )
    return value


def check_token(value: object) -> str:
    """A lease token, as a claim returned it."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_ID_LENGTH:
        raise InvalidInput(f"lease token {shown(value)} is not a valid token")
    return value


def check_batch(size: object, name: str = "batch size") -> int:
    """How many items one call takes: 1 to ``MAX_BATCH``."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH:
        raise InvalidInput(f"{name} {size!r:.60} must be an integer between 1 and {MAX_BATCH}")
    return size


def check_count(name: str, value: object) -> int:
    """A non-negative integer that fits a signed 32-bit field (a load, a process id)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31:
        raise InvalidInput(f"{name} {value!r} must be a non-negative integer")
    return value


def check_pairs(items: object) -> list[tuple[object, object]]:
    """``complete_many``'s items: (message id, token) pairs, each a 2-item sequence; the
    ids and tokens themselves are checked by the caller."""
    found = check_list("items", items)
    for i, item in enumerate(found):
        if (
            isinstance(item, (str, bytes, Mapping))
            or not isinstance(item, Sequence)
            or len(item) != 2
        ):
            raise InvalidInput(f"items[{i}] {item!r:.60} is not a (message_id, token) pair")
    pairs: list[Sequence[object]] = found  # type: ignore[assignment]  # checked just above
    return [(pair[0], pair[1]) for pair in pairs]


def shown(value: object) -> str:
    """A bad value for an error message: a long one by its beginning and length (LIMIT-005)."""
    if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
        return f"{value[:40]!r}... ({len(value)} characters)"
    return repr(value)


def check_list(name: str, value: object) -> list[object]:
    """A list of values (any iterable but text, bytes and mappings, whose items would be
    characters or keys): ``InvalidInput`` naming ``name`` otherwise."""
    if isinstance(value, (str, bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise InvalidInput(f"{name} must be a list, got {type(value).__name__} {value!r:.60}")
    return list(value)


def check_flag(name: str, value: object) -> bool:
    """``True`` or ``False``, nothing else (not 1, not "no")."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} {value!r:.60} must be true or false")
    return value


def check_seconds(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A finite number of seconds, positive (or zero when allowed), at most 30 days."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name} must be a number of seconds, got {value!r}")
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidInput(f"{name} {value!r} is too large") from None
    low_ok = seconds >= 0 if allow_zero else seconds > 0
    if not (math.isfinite(seconds) and low_ok and seconds <= MAX_SECONDS):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidInput(f"{name} {value!r} must be {bound} and at most {MAX_SECONDS:.0f}")
    return seconds


def check_max_retries(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"max_retries must be an integer, got {value!r}")
    if not 0 <= value <= MAX_RETRIES_LIMIT:
        raise InvalidInput(f"max_retries {value} must be between 0 and {MAX_RETRIES_LIMIT}")
    return value


def check_reason(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"reason must be a string, got {type(value).__name__}")
    if len(value) > MAX_REASON_LENGTH:
        raise InvalidInput(f"reason is {len(value)} characters, limit {MAX_REASON_LENGTH}")
    _utf8("reason", value)
    return value


def encode_payload(value: Any, limit: int) -> str:
    """Serialise a payload to canonical JSON text, enforcing JSON-ness and the size limit."""
    try:
        _string_keys(value)
        text = _encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"payload is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise InvalidInput("payload is nested too deeply to serialise") from None
    size = len(_utf8("payload", text))
    if size > limit:
        raise InvalidInput(f"payload is {_size(size)}, limit {_size(limit)}")
    return text


def _string_keys(value: Any) -> None:
    """JSON object keys are strings: json.dumps would turn 1 into "1", breaking round trips."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"payload has the object key {key!r}; JSON keys are strings")
            _string_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _string_keys(item)


def parse_payload_text(text: str, limit: int) -> Any:
    """Parse JSON text given by a user (command line, stdin, a handler's stdout)."""
    size = len(_utf8("payload", text))
    if size > limit:
        raise InvalidInput(f"payload is {_size(size)}, limit {_size(limit)}")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"payload is not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidInput("payload is nested too deeply to parse") from None


def decode_payload(text: str) -> Any:
    """Read back a stored payload."""
    return _decode(text)


def decode_payloads(texts: list[str]) -> list[Any]:
    """Read back several payloads: one parse of them as one JSON array, instead of a
    parse (and its Python call) each.  The array nests one level deeper, so a payload at
    the nesting limit is read on its own."""
    if len(texts) == 1:
        return [_decode(texts[0])]
    try:
        found: list[Any] = _decode("[" + ",".join(texts) + "]")
    except RecursionError:
        found = []
        for text in texts:  # not a comprehension: that is a frame deeper in Python 3.11
            found.append(_decode(text))
    return found


# Made once: json.dumps builds a new encoder on every call that passes options, which
# costs as much as encoding a small payload; json.loads checks for bytes first.
_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_decode = json.JSONDecoder().decode


def _reject_constant(name: str) -> Any:
    raise InvalidInput(f"payload contains {name}, which is not JSON")


def _utf8(name: str, text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{name} is not valid Unicode text: {exc.reason}") from None


def _size(n: int) -> str:
    mib = f" ({n / (1024 * 1024):.2f} MiB)" if n >= 1024 * 1024 else ""
    return f"{n} bytes{mib}"
