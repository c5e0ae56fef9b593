"""The Redis hub on a server that may lose data: what was acknowledged before the server
was killed survives its restart, and a server without an append-only file is named.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import IO

import pytest

from agentcomm import ConfigurationError, Hub, connect
from agentcomm.redis.connection import DurabilityWarning
from agentcomm.urls import redact
from agentcomm_conformance.servers import RedisServer
from redis_fault_support import PASSWORDS, hub_url, open_hub
from support import spawn

LOAD_BEFORE_KILL = 50  # acknowledged sends to wait for before the server is killed

PRODUCER = """\
import sys
from agentcomm import BackendUnavailable, connect

hub = connect(sys.argv[1], agent="@load.producer")
n = 0
while True:
    try:
        message = hub.send("@load.sink", "load", {"n": n})
    except BackendUnavailable:
        print("lost", flush=True)
        break
    print(message.id, n, flush=True)  # acknowledged: the send returned
    n += 1
"""
"""Sends until the server goes away, printing the id and number of every acknowledged send."""


# -- a killed server ----------------------------------------------------------------------


def acknowledged(lines: IO[str], at_least: int) -> dict[str, int]:
    """Read the producer's ``id n`` lines until ``at_least`` sends were acknowledged."""
    found: dict[str, int] = {}
    while len(found) < at_least:
        message_id, n = lines.readline().split()
        found[message_id] = int(n)
    return found


@pytest.mark.redis
@pytest.mark.slow
def test_every_send_acknowledged_before_the_server_was_killed_survives_its_restart(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start(appendonly=True, appendfsync="always")
    url = hub_url(server, "reconnect_attempts=1")
    sink = open_hub(opened, url, "@load.sink")
    before = sink.send("@load.sink", "before", {})
    producer = spawn([sys.executable, "-c", PRODUCER, url], stdout=subprocess.PIPE, text=True)
    assert producer.stdout is not None
    acked = acknowledged(producer.stdout, LOAD_BEFORE_KILL)
    server.kill()  # SIGKILL in the middle of the producer's sends
    *rest, last = producer.communicate(timeout=30)[0].splitlines()
    assert last == "lost"
    acked |= {message_id: int(n) for message_id, n in map(str.split, rest)}
    server.start()  # reloads the append-only file
    assert {m: sink.get(m).payload["n"] for m in acked} == acked  # the same handle, again
    assert sink.get(before.id).type == "before"
    after = sink.send("@load.sink", "after", {})
    assert int(after.id) > max(map(int, acked))  # ids are never reused


# -- a server that may lose data ----------------------------------------------------------


@pytest.mark.redis
def test_a_server_without_an_append_only_file_draws_a_durability_warning_naming_the_url(
    start: Callable[..., RedisServer],
) -> None:
    server = start(appendonly=False, password=PASSWORDS["server"])
    url = hub_url(server)
    with pytest.warns(DurabilityWarning, match="appendonly no") as caught:
        connect(url, create=True).close()
    (warning,) = caught
    assert redact(url) in str(warning.message)
    assert PASSWORDS["server"] not in str(warning.message)


@pytest.mark.redis
def test_persistence_require_refuses_a_server_without_an_append_only_file(
    start: Callable[..., RedisServer],
) -> None:
    url = hub_url(start(appendonly=False), "persistence=require")
    with pytest.raises(ConfigurationError, match="appendonly no") as refused:
        connect(url, create=True)
    assert redact(url) in str(refused.value)


@pytest.mark.redis
@pytest.mark.parametrize(
    ("appendonly", "persistence"),
    [(False, "ignore"), (True, "warn")],
    ids=["no-aof-ignored", "aof"],
)
def test_a_hub_opens_silently_when_persistence_is_ignored_or_the_server_keeps_an_aof(
    start: Callable[..., RedisServer], appendonly: bool, persistence: str
) -> None:
    url = hub_url(start(appendonly=appendonly), f"persistence={persistence}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        connect(url, create=True).close()
