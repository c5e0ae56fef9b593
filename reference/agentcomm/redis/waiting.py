"""How the Redis hub's waiters block on the server instead of polling: a claimer on its
own box, into which a send hands it the message it claimed on the claimer's behalf
(common.lua claim_or_wait), a requester with BLMOVE on its reply list, a subscriber with
XREAD on the streams."""

from __future__ import annotations

from typing import Any

from agentcomm.api import Topic
from agentcomm.clock import SystemClock
from agentcomm.errors import NotFound
from agentcomm.models import Claim
from agentcomm.redis.base import RedisBase, _message_id, stamp

RECHECK_SECONDS = 0.25
"""Waiters look again at least this often: leases and backoffs end without any write."""


class Waiting(RedisBase):
    """The Redis hub's waits; its claims (``messages``) wait through these."""

    _handle: str
    """Names this handle's box (``_box``)."""
    _idle: bool
    """This handle's last claim found nothing (``_found``)."""

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
