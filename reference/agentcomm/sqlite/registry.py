"""The agent registry of the SQLite hub: register, heartbeat, deregister, and the list."""

from __future__ import annotations

import json

from agentcomm.errors import NotFound
from agentcomm.models import AgentInfo
from agentcomm.sqlite import rows
from agentcomm.sqlite.base import SqliteBase
from agentcomm.sqlite.rows import iso


class Registry(SqliteBase):
    """The SQLite hub's registry primitives."""

    # -- registry ----------------------------------------------------------------------------
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        now = self.clock.now()
        with self.store.write() as conn:
            row = conn.execute(
                self.sql.REGISTER,
                (agent, iso(now), process_id, json.dumps(list(capabilities)), max_concurrent, ttl),
            ).fetchone()
        return rows.agent(row, now)

    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        now = self.clock.now()
        with self.store.write() as conn:
            row = conn.execute(self.sql.HEARTBEAT, (iso(now), load, agent)).fetchone()
        if row is None:
            raise NotFound(f"agent {agent!r} is not registered: register before heartbeating")
        return rows.agent(row, now)

    def _deregister(self, agent: str) -> None:
        with self.store.write() as conn:
            conn.execute(self.sql.DEREGISTER, (agent,))

    def _agents(self) -> list[AgentInfo]:
        now = self.clock.now()
        found = self.store.query(self.sql.AGENTS)
        return [rows.agent(r, now) for r in found]
