"""Linear backoff: a retry waits ``2 * retry_count`` seconds (the design's client-side
``sleep $((retry_count * 2))``), not ``backoff_base * 2**retry_count``."""

from __future__ import annotations

from typing import Any

from agentcomm.settings import HubSettings
from agentcomm.sqlite.hub import SqliteHub
from mutants import Implementation

CATCHES = ("RETRY-002",)


class LinearSettings(HubSettings):
    def backoff(self, retry_count: int) -> float:
        return float(min(2 * retry_count, self.backoff_max))


class LinearBackoff(SqliteHub):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings = LinearSettings(**self.settings.as_dict())


def implementation() -> Implementation:
    return Implementation(LinearBackoff, __name__)
