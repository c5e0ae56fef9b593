"""Fixtures shared by the project's own tests.

``hubs`` opens handles on one fresh hub as any number of agents; it is parametrized
over the backends, so a test written once runs on each (tests never branch on the
backend).  Time is a ``ManualClock``: leases, backoff and expiry are tested by
advancing it, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcomm import Hub, ManualClock, connect

BACKENDS = [pytest.param("sqlite", id="sqlite")]

HubFactory = Callable[..., Hub]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def hub_url(backend: str, tmp_path: Path) -> str:
    """A URL for a fresh, empty hub of ``backend`` (fast retries for tests)."""
    return f"sqlite:///{tmp_path / 'hub.db'}?backoff_base=1&backoff_max=8"


@pytest.fixture
def hubs(hub_url: str, clock: ManualClock) -> Iterator[HubFactory]:
    """``hubs("@agent")`` opens the test's hub as that agent, on the manual clock."""
    opened: list[Hub] = []

    def open_as(agent: str | None = None, **options: object) -> Hub:
        hub = connect(hub_url, agent=agent, create=True, clock=options.pop("clock", clock),
                      **options)  # type: ignore[arg-type]
        opened.append(hub)
        return hub

    yield open_as
    for hub in opened:
        hub.close()


@pytest.fixture
def hub(hubs: HubFactory) -> Hub:
    """The test's hub, seen by agent ``@tester``."""
    return hubs("@tester")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite hub URL in the test's own directory, created on first connect."""
    return f"sqlite:///{tmp_path / 'hub.db'}"
