"""A hybrid hub for its tests: a real ``redis-server`` private to each test module, each
test on a fresh key prefix and audit file, and the audit read as users read it: with
``sqlite3``, read-only.
"""

from __future__ import annotations

import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from agentcomm import Hub, connect
from agentcomm.hybrid.hub import HybridHub
from agentcomm.urls import fresh_url, parse
from agentcomm_conformance.servers import RedisServer, require_redis_server

QUEUE = "audit_jobs"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer(directory=tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def url(server: RedisServer, tmp_path: Path) -> str:
    """A fresh hybrid hub (new prefix, new audit file), created; retries come back at once."""
    template = f"hybrid://127.0.0.1:{server.port}/0?backoff_base=0&backoff_max=0"
    made = fresh_url(template, tmp_path)
    connect(made, create=True).close()
    return made


@pytest.fixture
def opened(url: str) -> Iterator[dict[str, Hub]]:
    """Handles opened by ``hub(url, agent)``, closed after the test."""
    handles: dict[str, Hub] = {}
    yield handles
    for handle in handles.values():
        handle.close()


def hub(opened: dict[str, Hub], url: str, agent: str, **options: Any) -> Hub:
    opened[agent] = connect(url, agent=agent, **options)
    return opened[agent]


def hybrid(opened: dict[str, Hub], url: str, agent: str) -> HybridHub:
    """A handle typed as what ``connect`` opens for a hybrid URL, with ``reconcile()``."""
    handle = hub(opened, url, agent)
    assert isinstance(handle, HybridHub)
    return handle


def audit_path(url: str) -> str:
    return parse(url).options["audit"]


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the audit file read-only, as an auditor would."""
    uri = f"file:{urllib.parse.quote(audit_path(url))}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return [tuple(r) for r in db.execute(sql, params).fetchall()]


def status_of(url: str, message_id: str) -> str:
    found = rows(url, "SELECT status FROM agent_messages WHERE id = ?", (int(message_id),))
    assert found, f"message {message_id} has no audit row"
    return str(found[0][0])


def redis_client(url: str) -> Any:
    where = parse(url)
    return redis.Redis.from_url(f"redis://{where.location}/0", decode_responses=True)


def redis_messages(url: str) -> dict[int, dict[str, str]]:
    """Every message hash under the hub's prefix, by id, read straight from Redis."""
    prefix = parse(url).options["prefix"]
    with redis_client(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}message:*", count=1000))
        return {int(k.rpartition(":")[2]): client.hgetall(k) for k in keys}


def with_option(url: str, name: str, value: object) -> str:
    """``url`` with one query option set (added or replaced)."""
    base, _, query = url.partition("?")
    options = dict(urllib.parse.parse_qsl(query)) | {name: str(value)}
    return f"{base}?{urllib.parse.urlencode(options, safe=':/')}"
