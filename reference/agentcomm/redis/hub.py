"""The Redis hub: the design document's keys, made durable, every change one Lua script.

Where the design loses data, this hub does not: a claimed message stays in its hash and
in the ``processing`` set with its lease until it is finished, so a worker killed with
SIGKILL loses nothing; replies wait in a list per request until read; events are
streams read through a cursor per subscriber.  Waiters block on the server instead of
polling: a claimer on its own box, into which a send hands it the message it claimed on
the claimer's behalf (common.lua claim_or_wait), a requester with BLMOVE on its reply
list, a subscriber with XREAD on the streams.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from agentcomm import validation as v
from agentcomm.api import Hub, Next, PreparedMessage, Then, Topic
from agentcomm.clock import Clock, SystemClock
from agentcomm.errors import ConfigurationError, NotFound
from agentcomm.models import AgentInfo, Claim, Event, Message, Reply, ReplyStatus, Stats, Status
from agentcomm.redis import records
from agentcomm.redis.connection import Connection
from agentcomm.redis.keys import Keys, check_prefix
from agentcomm.redis.scripts import Header
from agentcomm.urls import HubURL

SCHEMA = "2"
"""The layout version kept in the ``meta`` hash; ``migrate.lua`` brings layout 1 to it."""
RECHECK_SECONDS = 0.25
"""Waiters look again at least this often: leases and backoffs end without any write."""
REPLY_MARGIN_SECONDS = 3600.0
"""A reply list outlives retention by this much, in case nobody ever prunes."""
STEP_BUDGET = 200
"""Objects one step of sweep, prune (or of a layout migration) handles: a few
milliseconds of server time, so maintenance never holds the server for long
(BENCHMARKS.md)."""
SCAN_PER_SWEEP = 2000
"""Message ids one sweep looks at for messages a foreign reader took off their lists (the
design's BRPOP); the next sweep goes on from there, and a pass starts again at the lowest
unfinished id."""
COUNTERS = ("sent", "completed", "failed", "retried", "dead", "expired", "published")


class RedisHub(Hub):
    """A hub in one Redis database, under a key prefix, shared by agents on any machine."""

    capabilities = frozenset({"batch", "claim_next", "manual_clock", "live_publish"})
    audited = False
    """The hybrid hub turns this on: scripts then note what they touch in ``audit``."""

    def __init__(
        self,
        where: HubURL,
        *,
        agent: str | None = None,
        clock: Clock | None = None,
        create: bool = False,
    ) -> None:
        super().__init__(agent=agent, settings=where.settings, clock=clock)
        self.where = where
        self.keys = Keys(check_prefix(where.options.get("prefix", "")))
        self._handle = os.urandom(6).hex()  # names this handle's box (_box)
        self._idle = True  # its last claim found nothing (_found)
        self.conn = Connection(where, self.clock)
        self.client = self.conn.client
        settings = self.settings
        self.header = Header(
            prefix=self.keys.prefix,
            backoff_base=settings.backoff_base,
            backoff_max=settings.backoff_max,
            reply_ttl_ms=int((settings.retain_finished + REPLY_MARGIN_SECONDS) * 1000),
            default_timeout=settings.default_timeout,
            default_max_retries=settings.default_max_retries,
            audited="1" if self.audited else "0",
        )
        try:
            self.conn.check_server()
            self._open_layout(create)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.where.redacted!r}, agent={self.agent_id!r})"

    def _open_layout(self, create: bool) -> None:
        meta = self.keys.meta
        if create:  # both are harmless to repeat, so they count as reads for retries
            self._read(self.conn.load_library)
            self._read(lambda: self.client.hsetnx(meta, "schema", SCHEMA))
        if self.audited:  # from now on, plain Redis handles would leave the audit behind
            self._read(lambda: self.client.hset(meta, "audited", "1"))
        schema, audited = self._read(lambda: self.client.hmget(meta, ["schema", "audited"]))
        where = f"{self.where.redacted} (key prefix {self.keys.prefix!r})"
        if schema is None:
            raise NotFound(f"no agentcomm hub at {where}: create it with `agentcomm init`")
        if schema == "1":
            while self._run("migrate", STEP_BUDGET):
                pass
            schema = SCHEMA
        if schema != SCHEMA:
            raise ConfigurationError(
                f"the hub at {where} has layout {schema!r}; this agentcomm reads layout {SCHEMA!r}"
            )
        if audited and not self.audited:
            raise ConfigurationError(
                f"the hub at {where} keeps a SQLite audit trail: open "
                "it with its hybrid:// URL, so that nothing escapes the "
                "audit"
            )

    # -- running scripts ---------------------------------------------------------------------
    def _run(
        self, name: str, *args: Any, now: float | None = None, reads_only: bool = False
    ) -> Any:
        header = self.header.args(stamp(self.clock.now() if now is None else now))
        return self.conn.call(
            lambda: self.conn.script(name, [*header, *args]), reads_only=reads_only
        )

    def _read(self, command: Any) -> Any:
        return self.conn.call(command, reads_only=True)

    # -- messages ------------------------------------------------------------------------------
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        fields: list[object] = [sender, len(items)]
        for m in items:
            fields += [
                m.to,
                m.type,
                m.payload_json,
                int(m.priority),
                m.timeout_seconds,
                m.max_retries,
                m.correlation_id or "",
                "" if m.expires_at is None else stamp(m.expires_at),
            ]
        ids = self._run("send", *fields, now=now)
        sent_at = float(stamp(now))
        return [_sent(str(i), sender, m, sent_at) for i, m in zip(ids, items, strict=True)]

    def _get(self, message_id: str) -> Message:
        key = self.keys.key("message", id=_message_id(message_id))
        found = self._read(lambda: self.client.hgetall(key))
        if not found:
            raise NotFound(f"unknown message id {message_id!r}")
        return records.message(message_id, found)

    def _get_reply(self, request_id: str) -> Reply | None:
        flat = self._run("get_reply", _message_id(request_id), reads_only=True)
        return records.reply(records.as_dict(flat)) if flat else None

    # -- claiming ------------------------------------------------------------------------------
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        token = _new_token()
        return self._found(_claims(self._run("claim", agent, token, limit, target, "", 0), token))

    def _claim_waiting(self, agent: str, target: str, limit: int, wait: float) -> list[Claim]:
        """Claim, or register as a waiter and block on this handle's box in the same round
        trip (common.lua claim_or_wait): a send hands a message straight to the box."""
        if not self._blocking:
            return super()._claim_waiting(agent, target, limit, wait)
        deadline = self.clock.now() + wait
        if not self._idle and (claims := self._claim(agent, target, limit)):
            return claims  # busy: a plain look finds work, and needs no box
        while (block := self._block_for(deadline - self.clock.now())) > 0:
            token = _new_token()
            box = self._box(agent)
            found, handed = self._run_blocking(
                block, box, "claim", agent, token, limit, target, box, _ms(block)
            )
            if claims := self._found(_claims(found, token)) + _handed(handed, token):
                return claims
        return self._found(self._claim(agent, target, limit))

    def _extend(self, message_id: str, token: str, seconds: float | None) -> Claim:
        flat = self._run(
            "extend", _message_id(message_id), token, "" if seconds is None else seconds
        )
        return _claim(message_id, records.as_dict(flat), token)

    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        flat = [part for m, t in pairs for part in (_message_id(m), t)]
        _, claimed = self._finish("complete", then, len(pairs), *flat)
        return claimed

    def _reply(
        self,
        sender: str,
        message_id: str,
        token: str,
        payload_json: str,
        status: ReplyStatus,
        then: Then | None,
    ) -> tuple[Reply, Next | None]:
        now = self.clock.now()
        (reply_id, requester, cid), claimed = self._finish(
            "reply",
            then,
            _message_id(message_id),
            token,
            sender,
            payload_json,
            status.value,
            now=now,
        )
        answer = Reply(
            reply_id,
            message_id,
            sender,
            requester,
            v.decode_payload(payload_json),
            status,
            float(stamp(now)),
            cid or None,
        )
        return answer, claimed

    def _fail(
        self, message_id: str, token: str, reason: str, retry: bool, then: Then | None
    ) -> tuple[Message, Next | None]:
        flat, claimed = self._finish(
            "fail", then, _message_id(message_id), token, reason, "1" if retry else "0"
        )
        return records.message(message_id, records.as_dict(flat)), claimed

    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        flat, claimed = self._finish("release", then, _message_id(message_id), token)
        return records.message(message_id, records.as_dict(flat)), claimed

    def _finish(
        self, name: str, then: Then | None, *args: Any, now: float | None = None
    ) -> tuple[Any, Next | None]:
        """Run a finishing function, asking for the next claim when ``then`` says so
        (common.lua THEN_ARGS), and starting the wait for it in the same round trip when
        the caller will wait; its result, and what it claimed next."""
        if then is None:
            result, _ = self._run(name, 0, "", "", "", 0, *args, now=now)
            return result, None
        token = _new_token()
        block = self._block_for(then.wait) if self._blocking and self._idle else 0.0
        if block <= 0:  # no wait, or a busy handle: its next claim is likely there
            result, (target, found) = self._run(
                name, then.limit, then.agent, token, "", 0, *args, now=now
            )
            return result, Next(target, self._found(_claims(found, token)))
        started, box = self.clock.now(), self._box(then.agent)
        (result, (target, found)), handed = self._run_blocking(
            block, box, name, then.limit, then.agent, token, box, _ms(block), *args, now=now
        )
        claims = self._found(_claims(found, token)) + _handed(handed, token)
        return result, Next(target, claims, waited=self.clock.now() - started)

    # -- waiting for claims ---------------------------------------------------------------------
    def _found(self, claims: list[Claim]) -> list[Claim]:
        """Note whether this handle found work waiting: an idle handle's next wait starts
        in the same round trip as its claim; a busy one's claims go without a box.  (Work
        handed over while it waited does not count: the queue was empty.)"""
        self._idle = not claims
        return claims

    @property
    def _blocking(self) -> bool:
        """Waits block on the server only in real time: a manual clock moves by its sleep."""
        return isinstance(self.clock, SystemClock)

    def _block_for(self, remaining: float) -> float:
        """How long one blocking round may last: short enough to look again for what ends
        without a write (leases, backoffs), within the socket's timeout; 0 when done."""
        if remaining <= 0:
            return 0.0
        return max(0.001, min(remaining, RECHECK_SECONDS, self.settings.socket_timeout / 2))

    def _box(self, agent: str) -> str:
        """The list this handle's waits read what is handed to them from."""
        return self.keys.key("box", agent=agent, handle=self._handle)

    def _run_blocking(
        self, block: float, box: str, name: str, *args: Any, now: float | None = None
    ) -> tuple[Any, str | None]:
        """A function that may register a waiter with ``box`` (named among ``args`` too),
        and the BLPOP of that box behind it: the function's result, and what the box gave
        (None when the wait ended with nothing)."""
        header = self.header.args(stamp(self.clock.now() if now is None else now))
        return self.conn.call(
            lambda: self.conn.script_and_block(name, [*header, *args], box, block)
        )

    # -- dead letters --------------------------------------------------------------------------
    def _dead_letters(self, limit: int) -> list[Message]:
        ids = self._run("dead_letters", limit)  # adopts the design's items on the way
        return [m for m in self._messages(ids) if m.status is Status.DEAD]

    def _replay(self, message_id: str) -> Message:
        flat = self._run("replay", _message_id(message_id))
        return records.message(message_id, records.as_dict(flat))

    def _purge_dead(self, message_ids: list[str] | None) -> int:
        if message_ids is None:
            return int(self._run("purge_dead", "1"))
        ours = [m for m in message_ids if _is_message_id(m)]
        return int(self._run("purge_dead", "0", *ours)) if ours else 0

    def _messages(self, ids: Sequence[str]) -> list[Message]:
        def read() -> list[dict[str, str]]:
            pipe = self.client.pipeline(transaction=False)
            for message_id in ids:
                pipe.hgetall(self.keys.key("message", id=message_id))
            return pipe.execute()

        found = self._read(read) if ids else []
        return [records.message(i, h) for i, h in zip(ids, found, strict=True) if h]

    # -- events --------------------------------------------------------------------------------
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        now = self.clock.now()
        published = float(stamp(now))
        expires = None if ttl is None else float(stamp(now + ttl))
        wire = _event_json_after_id(event_type, publisher, payload_json, published, expires)
        event_id = self._run(
            "publish",
            publisher,
            event_type,
            payload_json,
            "" if expires is None else stamp(expires),
            wire,
            now=now,
        )
        return Event(
            str(event_id), event_type, publisher, v.decode_payload(payload_json), published, expires
        )

    def _subscribe(self, agent: str, event_type: str) -> None:
        self._run("subscribe", agent, event_type)

    def _unsubscribe(self, agent: str, event_type: str) -> None:
        self._run("unsubscribe", agent, event_type)

    def _subscriptions(self, agent: str) -> list[str]:
        key = self.keys.key("subscriptions", agent=agent)
        return sorted(self._read(lambda: self.client.hkeys(key)))

    def _read_events(self, agent: str, limit: int) -> list[Event]:
        return [records.event(row) for row in self._run("read_events", agent, limit)]

    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        if after is not None and not _is_message_id(after):
            raise NotFound(f"unknown event id {after!r}")
        kinds = sorted(self._read(lambda: self.client.smembers(self.keys.event_types)))

        def read() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for kind in kinds:
                stream = self.keys.key("stream", type=kind)
                if after is None:
                    pipe.xrevrange(stream, "+", "-", count=limit)
                else:
                    pipe.xrange(stream, f"({after}-0", "+", count=limit)
            return pipe.execute()

        found = [
            records.stream_event(kind, entry_id, h)
            for kind, entries in zip(kinds, self._read(read) if kinds else [], strict=True)
            for entry_id, h in entries
        ]
        found.sort(key=lambda e: int(e.id))
        return found[-limit:] if after is None else found[:limit]

    # -- registry ------------------------------------------------------------------------------
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        now = self.clock.now()
        flat = self._run(
            "register",
            agent,
            json.dumps(list(capabilities)),
            "" if process_id is None else process_id,
            max_concurrent,
            ttl,
            now=now,
        )
        return records.agent(agent, records.as_dict(flat), now)

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        now = self.clock.now()
        flat = self._run("heartbeat", agent, "" if load is None else load, now=now)
        return records.agent(agent, records.as_dict(flat), now)

    def _deregister(self, agent: str) -> None:
        self._run("deregister", agent)

    def _agents(self) -> list[AgentInfo]:
        now = self.clock.now()
        known = sorted(self._read(lambda: self.client.smembers(self.keys.agents)))

        def read() -> list[dict[str, str]]:
            pipe = self.client.pipeline(transaction=False)
            for agent in known:
                pipe.hgetall(self.keys.key("registry", agent=agent))
            return pipe.execute()

        entries = self._read(read) if known else []
        return [records.agent(a, h, now) for a, h in zip(known, entries, strict=True) if h]

    # -- maintenance ---------------------------------------------------------------------------
    def _sweep(self) -> int:
        """Sweep in steps of ``STEP_BUDGET`` messages, until a step finds no more; look at
        ``SCAN_PER_SWEEP`` ids for messages taken from their lists (sweep.lua)."""
        now, changed, passed, scan, more = self.clock.now(), set(), 0, SCAN_PER_SWEEP, 1
        while more:
            more, left, looked, *ids = self._run("sweep", STEP_BUDGET, passed, scan, now=now)
            passed, scan = passed + int(left), scan - int(looked)
            changed.update(ids)
        return len(changed)

    def _prune(self) -> dict[str, int]:
        """Prune in steps of ``STEP_BUDGET`` objects, until a step finds no more."""
        now = self.clock.now()
        totals = dict.fromkeys(("messages", "replies", "events", "agents"), 0)
        more = 1
        while more:
            *counts, more = map(
                int,
                self._run(
                    "prune",
                    stamp(now - self.settings.retain_finished),
                    stamp(now - self.settings.retain_events),
                    STEP_BUDGET,
                    now=now,
                ),
            )
            for name, n in zip(totals, counts, strict=True):
                totals[name] += n
        return totals

    def _stats(self) -> Stats:
        depth_fields, counter_fields = self._run("stats", reads_only=True)
        found = records.as_dict(counter_fields)
        counters = {name: int(found.get(name, 0)) for name in COUNTERS}
        known = self._agents()
        return Stats(_depths(depth_fields), counters, sum(a.alive for a in known), len(known))

    # -- waiting -------------------------------------------------------------------------------
    def _await_change(self, timeout: float, topic: Topic) -> None:
        if not isinstance(self.clock, SystemClock):
            # A manual clock moves only by its sleep, and nothing in the real world can
            # end a lease early: step time in checks-worth, not in polls-worth.
            self.clock.sleep(min(timeout, RECHECK_SECONDS))
            return
        block = max(0.001, min(timeout, RECHECK_SECONDS, self.settings.socket_timeout / 2))
        kind, subject = topic
        if kind == "reply":
            self._await_reply(subject, block)
        elif kind == "events":
            self._await_events(subject, block)
        else:  # claims wait in _claim_waiting
            self.clock.sleep(block)

    def _await_reply(self, request_id: str, block: float) -> None:
        message = self.keys.key("message", id=_message_id(request_id))
        requester = self._read(lambda: self.client.hget(message, "from_agent"))
        if requester is None:
            raise NotFound(f"unknown message id {request_id!r}")
        key = self.keys.key("response", agent=requester, id=request_id)
        # Rotating the one-element list onto itself blocks until the reply is there,
        # and leaves it there for get_reply.
        self._read(lambda: self.client.execute_command("BLMOVE", key, key, "RIGHT", "LEFT", block))

    def _await_events(self, agent: str, block: float) -> None:
        key = self.keys.key("subscriptions", agent=agent)
        cursors = self._read(lambda: self.client.hgetall(key))
        if not cursors:
            self.clock.sleep(block)
            return
        streams = [self.keys.key("stream", type=kind) for kind in cursors]
        after = [f"{cursor}-0" for cursor in cursors.values()]
        wait_ms = max(1, int(block * 1000))
        self._read(
            lambda: self.client.execute_command(
                "XREAD", "COUNT", 1, "BLOCK", wait_ms, "STREAMS", *streams, *after
            )
        )


def stamp(t: float) -> str:
    """A time as the text the hub stores: the shortest text that reads back as exactly
    the same float, so a time read back equals the clock's (never a rounded neighbour)."""
    return repr(float(t))


def _message_id(message_id: str) -> str:
    if not _is_message_id(message_id):
        raise NotFound(f"unknown message id {message_id!r}")
    return message_id


def _is_message_id(message_id: str) -> bool:
    # isdigit() alone accepts '²' and other scripts' digits.
    return message_id.isascii() and message_id.isdigit() and len(message_id) < 19


def _new_token() -> str:
    return os.urandom(16).hex()  # as secrets.token_hex, without importing secrets


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _handed(item: str | None, token: str) -> list[Claim]:
    """The claims a send handed to a waiter's box (JSON of {id, flat record} pairs),
    leased under the waiter's token; none for the empty item a claim leaves itself."""
    return _claims(json.loads(item), token) if item else []


def _claim(message_id: str, h: dict[str, str], token: str) -> Claim:
    return Claim(records.message(message_id, h), token, float(h["lease_expires_at"]))


def _claims(found: list[tuple[str, list[str]]], token: str) -> list[Claim]:
    """The claims of a script's ``{id, flat record}`` list, all under ``token``."""
    return [_claim(message_id, records.as_dict(flat), token) for message_id, flat in found]


def _sent(message_id: str, sender: str, m: PreparedMessage, sent_at: float) -> Message:
    return Message(
        id=message_id,
        from_agent=sender,
        to_agent=m.to,
        type=m.type,
        payload=v.decode_payload(m.payload_json),
        status=Status.PENDING,
        priority=m.priority,
        created_at=sent_at,
        timeout_seconds=m.timeout_seconds,
        retry_count=0,
        max_retries=m.max_retries,
        correlation_id=m.correlation_id,
        expires_at=None if m.expires_at is None else float(stamp(m.expires_at)),
        available_at=sent_at,
    )


def _event_json_after_id(
    kind: str, publisher: str, payload_json: str, published: float, expires: float | None
) -> str:
    """The event's JSON form (ENV-005) after ``{"id":"<n>",``, which the script adds."""
    return (
        f'"event_type":{json.dumps(kind)},"publisher":{json.dumps(publisher)},'
        f'"payload":{payload_json},"published_at":{published!r},'
        f'"expires_at":{json.dumps(expires)}}}'
    )


def _depths(flat: list[str]) -> dict[str, dict[str, int]]:
    """stats.lua's ``target, key, count, ...`` as ``{target: {key: count}}``."""
    found: dict[str, dict[str, int]] = {}
    for target, key, count in zip(flat[::3], flat[1::3], flat[2::3], strict=True):
        found.setdefault(target, {})[key] = int(count)
    return found
