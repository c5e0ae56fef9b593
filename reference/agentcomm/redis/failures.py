"""What a failed Redis command means: the contract's error, and whether to try again.

A failure is *definite* when the command certainly changed nothing (SPEC ERR-002): it
never reached the server, it only read, or the server refused it before running it.
Some of those refusals pass (a server loading its data after a restart, or busy with a
long script), so they are worth repeating within the call's time budget; a command that
reached the server and then lost its connection may have taken effect, and is never
repeated.
"""

from __future__ import annotations

import redis

from agentcomm.errors import (
    AgentCommError,
    AlreadyFinished,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
    StaleLease,
)

REFUSALS: dict[str, type[AgentCommError]] = {
    "invalid_input": InvalidInput,
    "not_found": NotFound,
    "stale_lease": StaleLease,
    "already_finished": AlreadyFinished,
    "conflict": Conflict,
    "configuration": ConfigurationError,
}
"""Error codes the scripts return (``redis.error_reply('<code> <message>')``)."""

PASSING_REFUSALS = frozenset({"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN"})
"""The server ran nothing, and will accept the command again soon: loading its data
after a restart, running a long script, a replica without its primary."""

UNRUN_REFUSALS = frozenset(
    {"READONLY", "OOM", "MISCONF", "NOREPLICAS", "NOPERM", "NOSCRIPT", "EXECABORT"}
)
"""The server ran nothing, and will not soon: a replica, no memory, a failed snapshot
on disk, too few replicas, a user without the right."""

IN_SCRIPT_ACL_REFUSALS = (
    "The user executing the script can't",  # Redis 7.0
    "ACL failure in script",  # Redis 7.2 and later
)

_CODES: dict[type[Exception], str] = {
    redis.exceptions.BusyLoadingError: "LOADING",
    redis.exceptions.ReadOnlyError: "READONLY",
    redis.exceptions.OutOfMemoryError: "OOM",
    redis.exceptions.NoPermissionError: "NOPERM",
    redis.exceptions.NoScriptError: "NOSCRIPT",
    redis.exceptions.ExecAbortError: "EXECABORT",
}


def error_code(exc: Exception) -> str:
    """The error code the server replied with (``LOADING``, ``BUSY``...), or ``''``.

    redis-py strips the code from the text of the errors it has a class for, and keeps
    it in ``status_code`` only since version 6."""
    found = getattr(exc, "status_code", None)
    if found:
        return str(found)
    for kind, code in _CODES.items():
        if isinstance(exc, kind):
            return code
    first = str(exc).partition(" ")[0]
    return first if first.isupper() else ""


def ran_nothing(exc: Exception) -> bool:
    """Whether the server refused the command before running any of it.

    An error raised by a command inside a script names the script (``script: name``):
    the script ran up to there, so it is never counted as unrun."""
    code = error_code(exc)
    return code in PASSING_REFUSALS | UNRUN_REFUSALS and "script:" not in str(exc)


def passes(exc: Exception) -> bool:
    """A refusal worth repeating: the server ran nothing and will soon accept it."""
    return ran_nothing(exc) and error_code(exc) in PASSING_REFUSALS


def refusal(exc: redis.exceptions.RedisError, where: str) -> AgentCommError:
    """A script's refusal as the contract's error; anything else as the server's."""
    code, _, message = str(exc).partition(" ")
    if code in REFUSALS:
        return REFUSALS[code](message)
    server_code = error_code(exc)
    if server_code in {"WRONGPASS", "NOAUTH"}:
        return ConfigurationError(f"the Redis server at {where} refused the credentials: {exc}")
    if server_code == "NOPERM":
        return ConfigurationError(
            f"the Redis user of {where} may not do this: {exc} (see the ACL recipe in the README)"
        )
    if any(words in str(exc) for words in IN_SCRIPT_ACL_REFUSALS):
        # Refused part-way through a script: what it wrote before stays written.
        return ConfigurationError(
            f"the Redis user of {where} may not do this: {exc} (see the ACL recipe in the README)",
            definite=False,
        )
    if ran_nothing(exc):
        return BackendUnavailable(
            f"the Redis server at {where} refused a command, running "
            f"none of it: {server_code} {exc}",
            definite=True,
        )
    return BackendUnavailable(
        f"the Redis server at {where} refused a command: {exc}", definite=False
    )


def lost(
    exc: Exception, where: str, *, sent: bool, writes: bool, attempts: int
) -> BackendUnavailable:
    """The server could not be reached, or stopped answering."""
    if sent and writes:
        return BackendUnavailable(
            f"lost the connection to the Redis server at {where} during a command, which "
            f"may have taken effect: {exc}",
            definite=False,
        )
    if sent:
        return BackendUnavailable(
            f"lost the connection to the Redis server at {where} during a read, which "
            f"changed nothing ({_attempts(attempts)}): {exc}",
            definite=True,
        )
    hint = ""
    if not where.startswith("rediss") and "reset" in str(exc).lower():
        hint = " (does that port speak TLS? then use a rediss:// URL)"
    return BackendUnavailable(
        f"cannot reach the Redis server at {where} ({_attempts(attempts)}): {exc}{hint}",
        definite=True,
    )


def foreign(exc: Exception, where: str) -> BackendUnavailable:
    """What answered at the URL's port is not a Redis server (an HTTP server, say)."""
    return BackendUnavailable(
        f"the server at {where} does not speak the Redis protocol ({exc}): is the host or "
        "port wrong?",
        definite=True,
    )


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"
