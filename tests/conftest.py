"""Fixtures shared by the project's own tests.

``hubs`` opens handles on one fresh hub as any number of agents; it is parametrized
over the backends, so a test written once runs on each (tests never branch on the
backend).  Time is a ``ManualClock``: leases, backoff and expiry are tested by
advancing it, never by sleeping.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from agentcomm import Hub, ManualClock, connect
from support import HubFactory, opening, reap_all

BACKENDS = [pytest.param("sqlite", id="sqlite")]

# Hypothesis profiles: "ci" (the default, bounded for a 2-core machine) and "deep"
# (more examples, on demand: HYPOTHESIS_PROFILE=deep pytest).
settings.register_profile("ci", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
    yield from opening(hub_url, clock)


@pytest.fixture
def hub(hubs: HubFactory) -> Hub:
    """The test's hub, seen by agent ``@tester``."""
    return hubs("@tester")


@pytest.fixture
def live_url(tmp_path: Path) -> str:
    """A fresh SQLite hub on the real clock, for tests where other processes take part.

    Retries back off 0.05 s, at most 0.2 s, so retry paths finish quickly."""
    url = f"sqlite:///{tmp_path / 'hub.db'}?backoff_base=0.05&backoff_max=0.2"
    connect(url, create=True).close()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite hub URL in the test's own directory, created on first connect."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """A failed assertion must not leave agent processes polling the machine."""
    yield
    reap_all()
