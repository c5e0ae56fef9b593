"""How the Redis compatibility tests reach a hub's keys, as the design's ``redis-cli``
monitoring does: ``server``, a redis-py client on the hub's server, and ``key``, a design
key name under the hub's prefix.

Shared by ``test_compat_redis.py`` (the key layout) and ``test_compat_redis_scripts.py``
(scripts and the design's own items); not named ``test_*``, so pytest does not collect
it.  A test module imports the fixtures by name.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcomm_conformance.plugin import HubSession


@pytest.fixture
def server(hub_session: HubSession) -> Iterator[Any]:
    """A redis-py client on the hub's server (the locator's URL without its options)."""
    redis = pytest.importorskip("redis", reason="redis-py reads the hub's keys")
    parts = urllib.parse.urlsplit(hub_session.locator)
    if parts.scheme not in {"redis", "rediss"}:
        pytest.skip(f"the hub's locator {hub_session.locator!r} is not a redis:// URL")
    with redis.Redis.from_url(
        urllib.parse.urlunsplit(parts._replace(query="")), decode_responses=True
    ) as client:
        yield client


@pytest.fixture
def key(hub_session: HubSession) -> Callable[[str], str]:
    """A design key name under the hub's prefix."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(hub_session.locator).query)
    prefix = query.get("prefix", [""])[0]
    return lambda name: prefix + name
