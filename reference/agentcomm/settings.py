"""Tunable limits and policies of a hub, set from the query string of its URL."""

from __future__ import annotations

from collections.abc import Mapping

from agentcomm.errors import ConfigurationError
from agentcomm.record import Record

__all__ = ["HubSettings"]

MIB = 1024 * 1024


class HubSettings(Record):
    """Every knob of a hub.  Each is one URL query parameter of the same name."""

    max_payload_bytes: int = MIB
    """Largest accepted payload, as UTF-8 JSON text (SPEC LIMIT-002)."""
    default_timeout: float = 300.0
    """Lease length of a claim when the sender gives none (the design's ``timeout_seconds``)."""
    default_max_retries: int = 3
    """Retries after the first delivery before a message is dead-lettered."""
    backoff_base: float = 1.0
    """Delay before the first retry; it doubles with each retry (SPEC RETRY-002)."""
    backoff_max: float = 300.0
    """Upper bound of the retry delay."""
    heartbeat_ttl: float = 60.0
    """An agent is alive while its last heartbeat is younger than this (the design's SETEX 60)."""
    retain_finished: float = 86_400.0
    """Completed and expired messages, and their replies, are kept this long."""
    retain_events: float = 7 * 86_400.0
    """Events without their own expiry are kept this long."""
    poll_interval: float = 0.001
    """How often a waiting caller looks for news (SQLite: ``PRAGMA data_version``)."""
    busy_timeout: float = 10.0
    """How long a write waits for the SQLite lock before failing definitely."""
    connect_timeout: float = 2.0
    """Redis: how long one attempt to reach the server may take."""
    socket_timeout: float = 5.0
    """Redis: how long a command may wait for its answer (blocking waits add their own),
    and the budget of one call's retries: a frozen server fails a call within it."""
    reconnect_attempts: int = 4
    """Redis: further attempts, with doubling pauses from 0.05 s, when the server cannot
    be reached; a write already sent is never repeated (it may have taken effect)."""

    def __post_init__(self) -> None:
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                raise ConfigurationError(
                    f"hub option {name}={value!r} is out of range [{low:g}, {high:g}]"
                )
        if self.backoff_max < self.backoff_base:
            raise ConfigurationError(
                f"hub option backoff_max={self.backoff_max:g} is below "
                f"backoff_base={self.backoff_base:g}"
            )

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> HubSettings:
        """Build from URL query parameters; unknown names and bad numbers are errors."""
        values: dict[str, float | int] = {}
        for name, raw in query.items():
            if name not in cls._types:
                known = ", ".join(sorted(cls.fields()))
                raise ConfigurationError(f"unknown hub option {name!r} (known: {known})")
            values[name] = _number(name, raw, int if cls._types[name] == "int" else float)
        return cls(**values)  # type: ignore[arg-type]

    def backoff(self, retry_count: int) -> float:
        """Delay before retry number ``retry_count + 1``: base * 2**retry_count, capped."""
        return float(min(self.backoff_base * (2 ** min(retry_count, 40)), self.backoff_max))


DAY = 86_400.0
BOUNDS: dict[str, tuple[float, float]] = {
    "max_payload_bytes": (1, 64 * MIB),
    "default_timeout": (0.001, 30 * DAY),
    "default_max_retries": (0, 100),
    "backoff_base": (0, DAY),
    "backoff_max": (0, DAY),
    "heartbeat_ttl": (0.001, 30 * DAY),
    "retain_finished": (0, 3650 * DAY),
    "retain_events": (0, 3650 * DAY),
    "poll_interval": (0.0001, 1.0),
    "busy_timeout": (0.001, 3600.0),
    "connect_timeout": (0.001, 600.0),
    "socket_timeout": (0.001, 3600.0),
    "reconnect_attempts": (0, 100),
}


def _number(name: str, raw: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(raw)
    except (ValueError, OverflowError):
        raise ConfigurationError(f"hub option {name}={raw!r} is not a {kind.__name__}") from None
    if value < 0 or value != value:
        raise ConfigurationError(f"hub option {name}={raw!r} must be a non-negative number")
    return value
