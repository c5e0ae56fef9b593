"""The Redis hub: the design document's keys, made durable, every change one Lua script.

Where the design loses data, this hub does not: a claimed message stays in its hash and
in the ``processing`` set with its lease until it is finished, so a worker killed with
SIGKILL loses nothing; replies wait in a list per request until read; events are
streams read through a cursor per subscriber.  Waiters block on the server instead of
polling: a claimer on its own box, into which a send hands it the message it claimed on
the claimer's behalf (common.lua claim_or_wait), a requester with BLMOVE on its reply
list, a subscriber with XREAD on the streams.

The hub's primitives live by concept in ``messages`` (messages and leases), ``waiting``
(how its waits block on the server), ``events``, ``registry`` and ``maintenance``, on the
shared steps of ``base``; ``RedisHub`` combines them and opens the hub's layout.
"""

from __future__ import annotations

import os

from agentcomm.clock import Clock
from agentcomm.errors import ConfigurationError, NotFound
from agentcomm.redis.connection import Connection
from agentcomm.redis.events import Events
from agentcomm.redis.keys import Keys, check_prefix
from agentcomm.redis.maintenance import STEP_BUDGET, Maintenance
from agentcomm.redis.messages import Messages
from agentcomm.redis.registry import Registry
from agentcomm.redis.scripts import Header
from agentcomm.urls import HubURL

SCHEMA = "2"
"""The layout version kept in the ``meta`` hash; ``migrate.lua`` brings layout 1 to it."""
REPLY_MARGIN_SECONDS = 3600.0
"""A reply list outlives retention by this much, in case nobody ever prunes."""


class RedisHub(Messages, Events, Registry, Maintenance):
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
