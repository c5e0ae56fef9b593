"""What every part of the Redis hub stands on: its connection, keys and script header,
how it runs a script or a read through the connection's retry policy, and the text of
its times and message ids."""

from __future__ import annotations

from typing import Any

import redis

from agentcomm.api import Hub
from agentcomm.errors import NotFound
from agentcomm.redis.connection import Connection
from agentcomm.redis.keys import Keys
from agentcomm.redis.scripts import Header


class RedisBase(Hub):
    """The state and the shared steps of ``RedisHub``, whose parts (messages, events,
    registry, maintenance) each build on this class."""

    keys: Keys
    conn: Connection
    client: redis.Redis
    header: Header

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
