"""The audit stream (an outbox) and the Redis state its entries point at.

Every script of an audited hub appends one entry per object it created or changed to the
stream ``audit``, in the same atomic step as the change, so nothing Redis accepted can
be missing from it.  An entry names the object only (``ref``); the recorder reads the
object's state as it is *now*, which is the latest state, and which makes recording the
same entry twice harmless.  Entries are deleted only once their state is committed to
the audit file.

Refs: ``m:<message id>``, ``r:<reply id>``, ``e:<event type>:<event id>``,
``a:<agent id>``, ``s:<agent id>:<event type>``.  Identifiers never contain ``:``
(SPEC LIMIT-001), so each ref splits one way only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import redis

from agentcomm.redis.keys import Keys

BATCH = 1000
"""Entries read, fetched and recorded together, in one SQLite transaction."""

Hash = dict[str, str]


@dataclasses.dataclass(frozen=True)
class Batch:
    """Entries read from the audit stream: their ids, and the distinct refs they name."""

    entry_ids: list[str]
    refs: list[str]

    @property
    def last(self) -> str:
        return self.entry_ids[-1]


@dataclasses.dataclass
class State:
    """What the objects of one batch look like now.  Objects that are gone are absent,
    except subscriptions, where ``None`` records that the cursor was removed."""

    messages: dict[str, Hash] = dataclasses.field(default_factory=dict)
    replies: dict[str, Hash] = dataclasses.field(default_factory=dict)
    events: dict[str, tuple[str, Hash]] = dataclasses.field(default_factory=dict)
    agents: dict[str, Hash] = dataclasses.field(default_factory=dict)
    cursors: dict[tuple[str, str], str | None] = dataclasses.field(default_factory=dict)
    counters: Hash = dataclasses.field(default_factory=dict)


def read_batch(client: redis.Redis, keys: Keys, after: str | None) -> Batch:
    """Up to ``BATCH`` entries, oldest first, after entry id ``after`` (None: from the start)."""
    start = "-" if after is None else f"({after}"
    found = client.xrange(keys.audit, min=start, max="+", count=BATCH)
    entries = cast("list[tuple[str, Hash]]", found or [])  # the client decodes to text
    ids = [entry_id for entry_id, _ in entries]
    refs = dict.fromkeys(fields.get("ref", "") for _, fields in entries)
    return Batch(ids, [ref for ref in refs if ref])


def forget(client: redis.Redis, keys: Keys, entry_ids: list[str]) -> None:
    """Delete recorded entries.  XDEL of an entry already gone is a no-op: several
    handles may record, and forget, the same entries."""
    client.xdel(keys.audit, *entry_ids)


def fetch(client: redis.Redis, keys: Keys, refs: list[str]) -> State:
    """The current state of every object ``refs`` names, and the lifetime counters, read
    in one MULTI/EXEC pipeline: one consistent snapshot, one round trip."""
    pipe = client.pipeline(transaction=True)
    queued = [_queue(pipe, keys, ref) for ref in refs]
    keep = [put for put in queued if put is not None]
    pipe.hgetall(keys.counters)
    pipe.get(keys.seq_message)  # 'sent' and 'published' are the id sequences (stats.lua)
    pipe.get(keys.seq_event)
    *found, counters, sent, published = pipe.execute()
    derived = {
        name: value
        for name, value in (("sent", sent), ("published", published))
        if value is not None
    }
    state = State(counters={**counters, **derived})
    for put, value in zip(keep, found, strict=True):
        put(state, value)
    return state


Put = Callable[[State, Any], None]


def _queue(pipe: redis.client.Pipeline, keys: Keys, ref: str) -> Put | None:
    """Queue the read of one ref's object; return what files the answer into a State.

    A ref of an unknown kind (written by a newer agentcomm) queues nothing: it is passed
    over, and deleted with its batch, rather than blocking every later entry."""
    kind, _, rest = ref.partition(":")
    if kind == "m":
        pipe.hgetall(keys.key("message", id=rest))
        return lambda state, found: _put(state.messages, rest, found)
    if kind == "r":
        pipe.hgetall(keys.key("reply", id=rest))
        return lambda state, found: _put(state.replies, rest, found)
    if kind == "e":
        event_type, _, event_id = rest.rpartition(":")
        entry = f"{event_id}-0"
        pipe.xrange(keys.key("stream", type=event_type), min=entry, max=entry)
        return lambda state, found: _put_event(state, event_type, event_id, found)
    if kind == "a":
        pipe.hgetall(keys.key("registry", agent=rest))
        return lambda state, found: _put(state.agents, rest, found)
    if kind == "s":
        agent, _, event_type = rest.partition(":")
        pipe.hget(keys.key("subscriptions", agent=agent), event_type)
        return lambda state, found: _put_cursor(state, agent, event_type, found)
    return None


def _put(into: dict[str, Hash], name: str, found: Hash) -> None:
    if found:  # a hash that is gone (purged, pruned) keeps its last audit row
        into[name] = found


def _put_event(state: State, event_type: str, event_id: str, found: list[tuple[str, Hash]]) -> None:
    if found:
        state.events[event_id] = (event_type, found[0][1])


def _put_cursor(state: State, agent: str, event_type: str, found: str | None) -> None:
    state.cursors[(agent, event_type)] = found  # None: unsubscribed
