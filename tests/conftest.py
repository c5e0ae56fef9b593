"""Fixtures shared by the project's own tests.

``hubs`` opens handles on one fresh hub as any number of agents; it is parametrized
over the backends, so a test written once runs on each (tests never branch on the
backend).  Time is a ``ManualClock``: leases, backoff and expiry are tested by
advancing it, never by sleeping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from agentcomm import Hub, ManualClock, connect
from agentcomm.urls import fresh_url
from agentcomm_conformance.servers import RedisServer, require_redis_server
from support import HubFactory, opening, reap_all

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("fakeredis", id="fakeredis"),  # in this process: fast, and everywhere
    pytest.param("redis", id="redis", marks=pytest.mark.redis),  # a real private server
]
LIVE_BACKENDS = [  # hubs that other processes can reach
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]

# Hypothesis profiles: "ci" (the default, bounded for a 2-core machine) and "deep"
# (more examples, on demand: HYPOTHESIS_PROFILE=deep pytest).
settings.register_profile(
    "ci", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Helpers moved out of their test modules (issue 14) whose asserts are the checks
# themselves: rewritten as in a test module, a failing one still shows both sides.
pytest.register_assert_rewrite(
    "model_checks", "model_events", "model_support", "faults_at_scale_support"
)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One private redis-server per test process (xdist worker), on a free port, with an
    append-only file; each test gets its own key prefix on it."""
    require_redis_server()
    with RedisServer(directory=tmp_path_factory.mktemp("redis"), appendfsync="everysec") as server:
        yield server


def backend_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest, options: str) -> str:
    """A URL for a fresh, empty hub of ``backend`` with the given query options."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}?{options}"
    if backend == "fakeredis":
        return f"fakeredis://{uuid.uuid4().hex}?{options}"
    server: RedisServer = request.getfixturevalue("redis_server")
    return fresh_url(f"{server.url}?{options}", tmp_path)


@pytest.fixture
def hub_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL for a fresh, empty hub of ``backend`` (fast retries for tests)."""
    return backend_url(backend, tmp_path, request, "backoff_base=1&backoff_max=8")


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


@pytest.fixture(params=LIVE_BACKENDS)
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Like ``live_url``, for each backend that other processes can reach."""
    url = backend_url(str(request.param), tmp_path, request, "backoff_base=0.05&backoff_max=0.2")
    connect(url, create=True).close()
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite hub URL in the test's own directory, created on first connect."""
    return f"sqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """``start(**options)`` starts a private redis-server (``RedisServer`` options) in its own
    subdirectory of the test's; all of them are stopped when the test ends."""
    binary = require_redis_server()
    started: list[RedisServer] = []

    def start_one(**options: Any) -> RedisServer:
        server = RedisServer(directory=tmp_path / f"redis{len(started)}", binary=binary, **options)
        started.append(server)
        server.start()
        return server

    yield start_one
    for server in started:
        server.stop()


@pytest.fixture
def opened() -> Iterator[list[Hub]]:
    """Hub handles to close when the test ends."""
    handles: list[Hub] = []
    yield handles
    for hub in handles:
        hub.close()


@pytest.fixture(autouse=True)
def no_process_outlives_its_test() -> Iterator[None]:
    """A failed assertion must not leave agent processes polling the machine."""
    yield
    reap_all()
