"""Every operation of the Hub contract, once: the table the driver protocol, the wire
forms, the Redis function library and its ACL recipe are derived from.

The arguments of each operation, with their types and defaults, are the signature of the
``Hub`` method of the same name (``api.py``): the driver reads them from there, and
DRIVER.md's ``op-args.json`` and ``op-results.json`` are generated from this table and
them (``scripts/gen_schemas.py``).  What a signature cannot say is here.
"""

from __future__ import annotations

import dataclasses

__all__ = ["OPS", "Op", "agent_functions", "functions"]


@dataclasses.dataclass(frozen=True)
class Op:
    """One operation: what it returns, what a hub must declare to offer it, which Redis
    functions run it, who may run it, and what bounds its wait."""

    name: str
    result: str | None = None
    """The kind of record it returns (``message``, ``claim``, ``reply``, ``event``,
    ``agent``, ``stats``), or None for a plain value (a count, a list of names, nothing)."""
    many: bool = False
    """It returns a list of such records."""
    needs: str | None = None
    """The capability a hub declares to offer it (SPEC CAP); None: every hub has it."""
    functions: tuple[str, ...] = ()
    """The Redis functions (``lua/<name>.lua``) it calls; none: it reads keys directly."""
    operator: bool = False
    """Maintenance: under the Redis ACL recipe only the operator may run it."""
    waits: str | None = None
    """The argument that bounds how long it may block by design, if it may."""


_FINISH = ("complete",)  # complete, complete_many and the claim of the next (CLAIM-009)

OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("send", "message", functions=("send",)),
        Op("send_many", "message", many=True, needs="batch", functions=("send",)),
        Op("request", "reply", functions=("send", "get_reply"), waits="timeout"),
        Op("wait_reply", "reply", functions=("get_reply",), waits="timeout"),
        Op("get_reply", "reply", functions=("get_reply",)),
        Op("get", "message"),
        Op("claim", "claim", functions=("claim",), waits="wait"),
        Op("claim_many", "claim", many=True, needs="batch", functions=("claim",), waits="wait"),
        Op("extend", "claim", functions=("extend",)),
        Op("complete", functions=_FINISH, waits="wait"),
        Op("complete_many", needs="batch", functions=_FINISH, waits="wait"),
        Op("reply", "reply", functions=("reply",), waits="wait"),
        Op("fail", "message", functions=("fail",), waits="wait"),
        Op("release", "message", functions=("release",), waits="wait"),
        Op("dead_letters", "message", many=True, functions=("dead_letters",), operator=True),
        Op("replay", "message", functions=("replay",), operator=True),
        Op("purge_dead", functions=("purge_dead",), operator=True),
        Op("publish", "event", functions=("publish",)),
        Op("subscribe", functions=("subscribe",)),
        Op("unsubscribe", functions=("unsubscribe",)),
        Op("subscriptions"),
        Op("events", "event", many=True, functions=("read_events",), waits="wait"),
        Op("tail_events", "event", many=True),
        Op("register", "agent", functions=("register",)),
        Op("heartbeat", "agent", functions=("heartbeat",)),
        Op("deregister", functions=("deregister",)),
        Op("agents", "agent", many=True),
        Op("sweep", functions=("sweep",), operator=True),
        Op("prune", functions=("prune",), operator=True),
        Op("stats", "stats", functions=("stats",)),
    )
}
"""The operations, in the order DRIVER.md lists them."""

OPENING_FUNCTIONS = ("migrate",)
"""Functions no operation names: opening a hub runs them (a layout migration)."""


def functions() -> tuple[str, ...]:
    """Every function of the Redis library, each once, in the order the table first
    names it."""
    named = [f for op in OPS.values() for f in op.functions]
    return tuple(dict.fromkeys([*named, *OPENING_FUNCTIONS]))


def agent_functions() -> tuple[str, ...]:
    """The functions an agent's handle calls (the ACL recipe allows these, and no more)."""
    named = [f for op in OPS.values() if not op.operator for f in op.functions]
    return tuple(dict.fromkeys(named))
