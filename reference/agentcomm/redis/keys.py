"""Every Redis key of a hub, defined once: the design document's layout under a prefix.

With an empty prefix the keys are exactly the design's (``agent:@x:inbox``,
``agent:@x:heartbeat``, ``tasks:high_priority``, ``event:user_login``,
``dead_letter_queue``, ``response:@x:17``); the rest is what durability needs.  The
Lua scripts get their key functions generated from ``PATTERNS`` (``lua_key_table``), so
Python and Lua cannot drift apart.  Identifiers never contain ``:`` (SPEC LIMIT-001), so
no two patterns can produce the same key.

Not Redis Cluster ready: scripts derive keys from ids, which a cluster cannot route.
"""

from __future__ import annotations

import re

from agentcomm.models import DEFAULT_QUEUE, Priority

FIXED = {
    "meta": "meta",                    # hash: schema version of the hub under this prefix
    "seq_message": "seq:message",      # counters that issue ids; never reset, so ids are
    "seq_reply": "seq:reply",          # never reused (ENV-004)
    "seq_event": "seq:event",
    "targets": "targets",              # set: every target ever sent to (sweep visits each)
    "expiring": "expiring",            # zset: message id with a deadline -> its expires_at
    "finished": "finished",            # zset: completed/expired id -> finished_at (prune)
    "dead": "dead_letter_queue",       # list: dead message ids, in the order they died
    "counters": "counters",            # hash: lifetime counters (PRIO-004)
    "depths": "depths",                # hash: '<target>:<status>' -> count (stats)
    "agents": "agents",                # set: every registered agent (outlives heartbeats)
    "event_types": "event_types",      # set: every event type with a stream
    "unadopted": "unadopted",          # list: foreign items found in a pending list
    "audit": "audit",                  # stream: objects the hybrid audit must record
}

PATTERNS = {
    "message": "message:{id}",                    # hash: one message (SQLite's columns)
    "reply": "reply:{id}",                        # hash: one reply
    "response": "response:{agent}:{id}",          # list: reply ids to request {id} of {agent}
    "registry": "agent:{agent}:registry",         # hash: the registry entry
    "heartbeat": "agent:{agent}:heartbeat",       # string with the heartbeat TTL (the design's)
    "subscriptions": "agent:{agent}:subscriptions",  # hash: event type -> last event id read
    "stream": "event:{type}",                     # stream: the events of one type
    "wake": "wake:{target}",                      # list: tokens that wake one blocked claimer
    # Per target, so that claiming touches only the claimed target's keys (the ACL recipe
    # confines an agent to its own inbox):
    "processing": "processing:{target}",          # zset: leased message id -> lease deadline
    "delayed": "delayed:{target}",                # zset: retried message id -> when it is due
}

LEVEL_NAMES = {Priority.HIGH: "high", Priority.NORMAL: "normal", Priority.LOW: "low"}

# Pending message ids, one list per target and priority, newest at the head (LPUSH) and
# claimed from the tail, as the design's LPUSH/BRPOP.  An inbox's normal list is the
# design's ``agent:<id>:inbox`` and its high list the design's hybrid ``agent:<id>:urgent``.
INBOX_LISTS = {Priority.HIGH: "agent:{target}:urgent", Priority.NORMAL: "agent:{target}:inbox",
               Priority.LOW: "agent:{target}:inbox:low"}
DEFAULT_QUEUE_LISTS = {p: f"tasks:{name}_priority" for p, name in LEVEL_NAMES.items()}
QUEUE_LISTS = {p: f"tasks:{{target}}:{name}_priority" for p, name in LEVEL_NAMES.items()}

_PREFIX = re.compile(r"[A-Za-z0-9_.:{}/-]{0,100}")


class Keys:
    """The keys of the hub under one prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __getattr__(self, name: str) -> str:
        """``keys.processing`` and the other ``FIXED`` keys."""
        try:
            return self.prefix + FIXED[name]
        except KeyError:
            raise AttributeError(name) from None

    def key(self, pattern: str, **parts: str) -> str:
        return self.prefix + PATTERNS[pattern].format(**parts)

    def pending(self, target: str, priority: Priority) -> str:
        """The list a pending message for ``target`` at ``priority`` waits in."""
        if target.startswith("@"):
            layout = INBOX_LISTS
        else:
            layout = DEFAULT_QUEUE_LISTS if target == DEFAULT_QUEUE else QUEUE_LISTS
        return self.prefix + layout[priority].format(target=target)

    def pending_lists(self, target: str) -> list[str]:
        """The target's lists in claim order: high, normal, low."""
        return [self.pending(target, p) for p in sorted(Priority, reverse=True)]

    def channel(self, event_type: str) -> str:
        """The design's live PUBLISH channel of an event type (SPEC EVT-006)."""
        return self.key("stream", type=event_type)


def check_prefix(prefix: str) -> str:
    """A prefix is safe text for key names; anything else is a configuration error."""
    from agentcomm.errors import ConfigurationError

    if not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(
            f"hub option prefix={prefix!r} must be at most 100 of [A-Za-z0-9_.:{{}}/-]")
    return prefix


def lua_key_table() -> str:
    """Lua that defines ``K``: the fixed keys and one function per pattern, under ``P``."""
    lines = ["local K = {}"]
    lines += [f"K.{name} = P .. '{suffix}'" for name, suffix in FIXED.items()]
    for name, pattern in PATTERNS.items():
        params = re.findall(r"{(\w+)}", pattern)
        body = re.sub(r"{(\w+)}", r"' .. \1 .. '", f"'{pattern}'").replace(" .. ''", "")
        lines.append(f"K.{name} = function({', '.join(params)}) return P .. {body} end")
    return "\n".join(lines)
