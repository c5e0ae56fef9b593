"""A reply reaches only a requester already waiting for it.

The design's Redis replier PUBLISHes on ``response:<agent>:<id>``: a requester that
SUBSCRIBEs after the reply was published never sees it.  Here a reply is visible only to
a ``wait_reply`` that started before the reply was stored; ``get_reply`` never sees one.
"""

from __future__ import annotations

from typing import Any

from agentcomm.models import Reply
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import from_iso, iso
from mutants import Implementation

CATCHES = ("REQ-005",)


class ReplyOnlyToWaiter(SqliteHub):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listening: dict[str, float] = {}  # request id -> when its waiter subscribed

    def wait_reply(self, request_id: str, *, timeout: float = 30.0) -> Reply:
        self.listening[request_id] = from_iso(iso(self.clock.now()))  # to the ms, as stored
        try:
            return super().wait_reply(request_id, timeout=timeout)
        finally:
            self.listening.pop(request_id, None)

    def _get_reply(self, request_id: str) -> Reply | None:
        reply = super()._get_reply(request_id)
        since = self.listening.get(request_id)
        if reply is None or since is None or reply.created_at < since:
            return None  # published to nobody
        return reply


def implementation() -> Implementation:
    return Implementation(ReplyOnlyToWaiter, __name__)
