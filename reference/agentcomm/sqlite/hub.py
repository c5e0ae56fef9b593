"""The SQLite hub.  Each state change is one ``Store.write()`` transaction.

Waiting callers poll ``PRAGMA data_version`` (shared memory, no lock) and retry their
operation only when another process has committed, so idle agents cost little and a
new message is seen within one poll interval.

The hub's primitives live by concept in ``messages`` (messages and leases), ``events``,
``registry`` and ``maintenance``, on the shared steps of ``base``; ``SqliteHub`` combines
them.
"""

from __future__ import annotations

from types import ModuleType

from agentcomm.api import Topic
from agentcomm.clock import Clock
from agentcomm.settings import HubSettings
from agentcomm.sqlite import statements
from agentcomm.sqlite.events import Events
from agentcomm.sqlite.maintenance import Maintenance
from agentcomm.sqlite.messages import Messages
from agentcomm.sqlite.registry import Registry
from agentcomm.sqlite.store import Store

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import ClassVar

RECHECK_SECONDS = 0.25
"""Waiters retry at least this often: leases and backoffs end without any commit."""
EAGER_SECONDS = 0.05
"""A wait polls at ``poll_interval`` this long, then at ``IDLE_FACTOR`` times it: a busy
agent sees news within a poll, an idle one costs a quarter of the CPU (BENCHMARKS.md)."""
IDLE_FACTOR = 4


class SqliteHub(Messages, Events, Registry, Maintenance):
    """A hub in one SQLite file, shared by any number of local processes."""

    capabilities = frozenset({"batch", "claim_next", "manual_clock"})
    sql: ClassVar[ModuleType] = statements
    """Every statement this hub issues (``statements``), read through the class so that a
    subclass can swap one (the mutants of ``tests/mutants`` do)."""

    def __init__(
        self,
        path: str,
        *,
        agent: str | None = None,
        settings: HubSettings | None = None,
        clock: Clock | None = None,
        create: bool = False,
    ) -> None:
        super().__init__(agent=agent, settings=settings, clock=clock)
        self.path = path
        self.store = Store(path, busy_timeout=self.settings.busy_timeout, create=create)

    def close(self) -> None:
        self.store.close()

    def __repr__(self) -> str:
        return f"SqliteHub({self.path!r}, agent={self.agent_id!r})"

    # -- waiting -----------------------------------------------------------------------------
    def _await_change(self, timeout: float, topic: Topic) -> None:
        start = self.clock.now()
        until = start + min(timeout, RECHECK_SECONDS)
        version = self.store.data_version()
        while (now := self.clock.now()) < until:
            eager = now - start < EAGER_SECONDS
            poll = self.settings.poll_interval * (1 if eager else IDLE_FACTOR)
            self.clock.sleep(min(poll, until - now))
            if self.store.data_version() != version:
                return
