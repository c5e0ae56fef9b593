"""``send_many`` sends item by item: the items before an invalid one stay queued (the
design's ``for`` loop of sends)."""

from __future__ import annotations

from collections.abc import Iterable

from agentcomm import validation as v
from agentcomm.api import PreparedMessage
from agentcomm.models import Message, Outgoing
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("MSG-004",)


class SendManyNotAtomic(SqliteHub):
    def send_many(self, messages: Iterable[Outgoing]) -> list[Message]:
        sender = self._require_agent()
        items = list(messages)
        v.check_batch(len(items))
        sent: list[Message] = []
        for item in items:
            now = self.clock.now()
            sent += self._send(sender, [PreparedMessage(item, self.settings, now)], now)
        return sent


def implementation() -> Implementation:
    return Implementation(SendManyNotAtomic, __name__)
