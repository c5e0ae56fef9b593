"""Private Redis servers for tests and the conformance suite.

A test that talks to Redis needs a server of its own: one it may kill, pause and restart,
whose data lives in the test's temporary directory, on a port nobody else uses (never
6379, never a shared instance that a FLUSHALL could wreck).  ``RedisServer`` runs a real
``redis-server`` process that way; ``FakeRedisServer`` serves fakeredis over TCP, so that
several OS processes can share one fake Redis when no binary is installed.

One module per kind: ``redis_server`` (the real process), ``tls`` (its certificates),
``fake`` (fakeredis over TCP), and ``programs`` (binaries, free ports and URLs, which all
of them use).  Import from here: the names below are the package's public ones.

Only the standard library is imported here: this package ships with the conformance
package, whose base install has neither redis-py nor fakeredis.  Neither pytest: the
one helper that speaks pytest's language imports it when called.
"""

from __future__ import annotations

from agentcomm_conformance.servers.fake import FakeRedisServer, fakeredis_runs_lua
from agentcomm_conformance.servers.programs import (
    free_port,
    openssl_binary,
    redis_server_binary,
    redis_url,
    require_openssl,
    require_redis_server,
)
from agentcomm_conformance.servers.redis_server import RedisServer
from agentcomm_conformance.servers.tls import make_certificates

__all__ = [
    "FakeRedisServer",
    "RedisServer",
    "fakeredis_runs_lua",
    "free_port",
    "make_certificates",
    "openssl_binary",
    "redis_server_binary",
    "redis_url",
    "require_openssl",
    "require_redis_server",
]
