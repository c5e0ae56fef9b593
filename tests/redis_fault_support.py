"""A private ``redis-server`` per test for the tests of the Redis hub when things break.

Each test runs its own server in its temporary directory (the ``start`` fixture,
``RedisServer``); without the binary the tests skip, except under CI (``CI=true``), where
they fail.
"""

from __future__ import annotations

from agentcomm import Hub, connect
from agentcomm_conformance.servers import RedisServer

PREFIX = "faults:"
PASSWORDS = {"server": "server-secret", "wrong": "wrong-secret", "old": "old-secret"}


def hub_url(server: RedisServer, options: str = "") -> str:
    return f"{server.url}?prefix={PREFIX}" + (f"&{options}" if options else "")


def open_hub(opened: list[Hub], url: str, agent: str) -> Hub:
    opened.append(connect(url, agent=agent, create=True))
    return opened[-1]
