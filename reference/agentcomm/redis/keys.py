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
    "meta": "meta",  # hash: schema version of the hub under this prefix
    "seq_message": "seq:message",  # counters that issue ids; never reset, so ids are
    "seq_reply": "seq:reply",  # never reused (ENV-004)
    "seq_event": "seq:event",
    "targets": "targets",  # set: every target ever sent to (sweep visits each)
    "expiring": "expiring",  # zset: message id with a deadline -> its expires_at
    "dead": "dead_letter_queue",  # list: dead message ids, in the order they died
    "counters": "counters",  # hash: lifetime counters of rare events (PRIO-004)
    "depths": "depths",  # hash: '<target>:dead' and ':expired' -> count
    "agents": "agents",  # set: every registered agent (outlives heartbeats)
    "event_types": "event_types",  # set: every event type with a stream
    "event_expiry": "event_expiry",  # zset: '<type> <entry id>' of an event with a ttl
    # -> its expires_at (prune)
    "finished_v1": "finished",  # zset of layout 1, emptied by migrate.lua
    "unadopted_v1": "unadopted",  # list of layout 1: foreign items found in a pending
    # list, made dead letters by migrate.lua
    "sweep_scan": "sweep_scan",  # hash: where sweep looks next for messages taken
    # from their list outside agentcomm ('next'), and the
    # lowest unfinished id of this pass ('low')
    "audit": "audit",  # stream: objects the hybrid audit must record
}

PATTERNS = {
    "message": "message:{id}",  # hash: one message (SQLite's columns)
    "reply": "reply:{id}",  # hash: one reply
    "response": "response:{agent}:{id}",  # list: reply ids to request {id} of {agent}
    "registry": "agent:{agent}:registry",  # hash: the registry entry
    "heartbeat": "agent:{agent}:heartbeat",  # string with the heartbeat TTL (the design's)
    "subscriptions": "agent:{agent}:subscriptions",  # hash: event type -> last event id read
    "stream": "event:{type}",  # stream: the events of one type
    "waiters": "waiters:{target}",  # list: claimers waiting on a target
    "box": "agent:{agent}:box:{handle}",  # list: claims handed to one waiting handle
    # Per target, so that claiming touches only the claimed target's keys (the ACL recipe
    # confines an agent to its own inbox):
    "processing": "processing:{target}",  # zset: leased message id -> lease deadline
    "delayed": "delayed:{target}",  # zset: retried message id -> when it is due
    "finished": "finished:{target}",  # zset: completed/expired id -> finished_at
}

LEVEL_NAMES = {Priority.HIGH: "high", Priority.NORMAL: "normal", Priority.LOW: "low"}

# Pending message ids, one list per target and priority, newest at the head (LPUSH) and
# claimed from the tail, as the design's LPUSH/BRPOP.  An inbox's normal list is the
# design's ``agent:<id>:inbox`` and its high list the design's hybrid ``agent:<id>:urgent``.
INBOX_LISTS = {
    Priority.HIGH: "agent:{target}:urgent",
    Priority.NORMAL: "agent:{target}:inbox",
    Priority.LOW: "agent:{target}:inbox:low",
}
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
            f"hub option prefix={prefix!r} must be at most 100 of [A-Za-z0-9_.:{{}}/-]"
        )
    return prefix


def lua_key_table() -> str:
    """Lua that defines ``K``: one function per fixed key (``K.dead()``) and per pattern
    (``K.message(id)``), under the call's prefix ``P``, and ``K.pending(target,
    priority)``, the list ``Keys.pending`` names."""
    lines = ["local K = {}", "-- Keys depend on the prefix of the call: functions, made when used."]
    lines += [f"K.{name} = function() return P .. '{suffix}' end" for name, suffix in FIXED.items()]
    lines += [
        f"K.{name} = function({', '.join(_params(pattern))}) return P .. {_lua_text(pattern)} end"
        for name, pattern in PATTERNS.items()
    ]
    lines.append("local PENDING_INBOX = {" + _lua_levels(INBOX_LISTS) + "}")
    lines.append("local PENDING_DEFAULT = {" + _lua_levels(DEFAULT_QUEUE_LISTS) + "}")
    lines.append("local PENDING_QUEUE = {" + _lua_levels(QUEUE_LISTS) + "}")
    lines.append(
        "K.pending = function(target, priority)\n"
        "  local layout = PENDING_QUEUE\n"
        "  if string.sub(target, 1, 1) == '@' then layout = PENDING_INBOX\n"
        f"  elseif target == '{DEFAULT_QUEUE}' then layout = PENDING_DEFAULT end\n"
        "  return P .. layout[priority](target)\n"
        "end"
    )
    return "\n".join(lines)


def _params(pattern: str) -> list[str]:
    return re.findall(r"{(\w+)}", pattern)


def _lua_text(pattern: str) -> str:
    """A pattern as a Lua expression over its parameters: 'message:' .. id."""
    return re.sub(r"{(\w+)}", r"' .. \1 .. '", f"'{pattern}'").replace(" .. ''", "")


def _lua_levels(layout: dict[Priority, str]) -> str:
    """``[2] = ..., ['2'] = function(target) return 'agent:' .. target .. ':urgent' end``:
    by number and by text, since a level read from a record is text (a number turned into
    text in Lua costs a float format)."""
    return ", ".join(
        f"[{key}] = function(target) return {_lua_text(template)} end"
        for level, template in layout.items()
        for key in (int(level), f"'{int(level)}'")
    )
