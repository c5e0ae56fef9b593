"""The one error tree of agentcomm.

Every error a hub raises is an ``AgentCommError``; backend exceptions (sqlite3, redis)
are mapped at the boundary with the original chained as ``__cause__``::

    AgentCommError
    ├── ConfigurationError        bad URL, unknown option, conflicting options
    ├── InvalidInput              a value the caller passed breaks the spec's grammar or limits
    ├── NotFound                  no such message, agent, or hub file
    ├── Conflict                  the state changed under the caller
    │   ├── StaleLease            the token is not the current lease (expired or reclaimed)
    │   └── AlreadyFinished       the message is already completed, dead or expired
    ├── DeadlineExceeded          a wait ran out (a request got no reply in time)
    └── BackendUnavailable        the store could not be reached or used
        └── CorruptStore          the file is not a readable agentcomm hub

``definite`` tells a caller whether a retry is safe: ``True`` means the operation
certainly had no effect; ``False`` means it may have taken effect (for example a
connection lost after a command was sent).  Names avoid shadowing the builtins
``ConnectionError`` and ``TimeoutError``.
"""

from __future__ import annotations

__all__ = [
    "AgentCommError",
    "AlreadyFinished",
    "BackendUnavailable",
    "ConfigurationError",
    "Conflict",
    "CorruptStore",
    "DeadlineExceeded",
    "InvalidInput",
    "NotFound",
    "StaleLease",
]


class AgentCommError(Exception):
    """Base of every error agentcomm raises."""

    code = "error"
    definite = True

    def __init__(self, message: str, *, definite: bool | None = None) -> None:
        super().__init__(message)
        if definite is not None:
            self.definite = definite


class ConfigurationError(AgentCommError):
    """The hub URL or an option is wrong; nothing was attempted."""

    code = "configuration"


class InvalidInput(AgentCommError, ValueError):
    """A value breaks the spec's grammar or limits; the message names the value."""

    code = "invalid_input"


class NotFound(AgentCommError, LookupError):
    """The named message, agent or hub does not exist."""

    code = "not_found"


class Conflict(AgentCommError):
    """The state the caller relied on has changed; nothing was written."""

    code = "conflict"


class StaleLease(Conflict):
    """The lease token is not current: it expired, or the message was reclaimed."""

    code = "stale_lease"


class AlreadyFinished(Conflict):
    """The message is already completed, dead-lettered or expired."""

    code = "already_finished"


class DeadlineExceeded(AgentCommError):
    """A wait ran out before anything arrived.

    Indefinite by default: what was waited for (a request's handling) may still happen.
    """

    code = "deadline_exceeded"
    definite = False


class BackendUnavailable(AgentCommError):
    """The store could not be used (locked too long, unreachable, read-only...)."""

    code = "backend_unavailable"
    definite = False


class CorruptStore(BackendUnavailable):
    """The named file exists but is not a readable agentcomm hub."""

    code = "corrupt_store"
    definite = True
