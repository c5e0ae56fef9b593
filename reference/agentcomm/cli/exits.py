"""Exit codes of the ``agentcomm`` command, so a bash loop can branch on ``$?``::

    0  ok
    1  any other agentcomm error (and: a demo use case failed)
    2  usage error: unknown option, missing argument, a value an option does not take
    3  nothing there: claim/receive/events found nothing within --wait; get-reply: no reply yet
    4  not found: no such message, the agent is not registered, or no hub at --url (run init)
    5  conflict: stale lease (expired or reclaimed) or message already finished
    6  deadline exceeded: a request got no reply within --timeout
    7  backend unavailable (unreachable, locked, not a Redis server) or a corrupt hub file
    8  invalid input: payload, id, name or number breaks the spec's rules
    9  configuration error: no --url/AGENTCOMM_URL, bad URL, no --agent/AGENTCOMM_AGENT
   10  bench --gate: a throughput or latency target was missed
   11  shell library only: no session open, or it died or stopped answering (effect unknown)

Errors print ``{"error": code, "message": ..., "definite": bool}`` on stderr: ``definite``
true means the command certainly had no effect, so retrying it is safe.  Warnings print
``{"warning": code, "message": ...}`` on stderr (``durability``: the Redis server may lose
acknowledged messages) and change no exit code.
"""

from __future__ import annotations

from agentcomm.errors import (
    AgentCommError,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
)

OK = 0
ERROR = 1
USAGE = 2
NOTHING = 3
NOT_FOUND = 4
CONFLICT = 5
DEADLINE = 6
BACKEND = 7
INVALID = 8
CONFIGURATION = 9
TARGET_MISSED = 10
SESSION_LOST = 11  # set by the bash library (agentcomm.bash), never by the command itself

BY_ERROR: tuple[tuple[type[AgentCommError], int], ...] = (
    (NotFound, NOT_FOUND),
    (Conflict, CONFLICT),
    (DeadlineExceeded, DEADLINE),
    (BackendUnavailable, BACKEND),
    (InvalidInput, INVALID),
    (ConfigurationError, CONFIGURATION),
)


def code_for(exc: AgentCommError) -> int:
    """The exit code of an error; the branches of the error tree do not overlap."""
    return next((code for kind, code in BY_ERROR if isinstance(exc, kind)), ERROR)


def table() -> str:
    """The table of the module docstring, for ``--help``."""
    doc = __doc__ or ""
    rows = [
        line.strip().split(maxsplit=1) for line in doc.splitlines() if line[:6].strip().isdigit()
    ]
    return "\n".join(f"{code:>2}  {meaning}" for code, meaning in rows)


class Exit(Exception):
    """End the command with ``code`` after what it printed (not an error report)."""

    code = OK


class NothingThere(Exit):
    """Exit 3 after the empty result was printed: not an error, just nothing yet."""

    code = NOTHING


class TargetMissed(Exit):
    """Exit 10 after the result was printed: a benchmark missed a target under --gate."""

    code = TARGET_MISSED
