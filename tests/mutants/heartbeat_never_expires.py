"""A heartbeat never goes stale: ``agents()`` reports every active agent alive, however
old its last heartbeat (the design's SQLite health check has no age limit)."""

from __future__ import annotations

from agentcomm.models import AgentInfo
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("REG-003",)


class HeartbeatNeverExpires(SqliteHub):
    def _agents(self) -> list[AgentInfo]:
        return [a.replace(alive=a.status == "active") for a in super()._agents()]


def implementation() -> Implementation:
    return Implementation(HeartbeatNeverExpires, __name__)
