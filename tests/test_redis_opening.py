"""Opening a Redis hub from the command line: what it costs, and what it says.

A bash loop opens the hub on every call, so the opening must be cheap (one INFO, no
library chatter) and its output machine-readable: a durability warning is a JSON line,
and a port that answers with something other than Redis is exit 7, never a traceback.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from agentcomm import connect
from agentcomm_conformance.servers import RedisServer
from support import served

DEADLINE = 20.0


def agentcomm(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return subprocess.run(
        [sys.executable, "-m", "agentcomm.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


def client_commands(server: RedisServer, run: Callable[[], object]) -> list[str]:
    """The commands clients sent (not those functions ran) while ``run()`` ran and until
    the FCALL that it ends with arrived, as the server's MONITOR saw them."""
    watcher = redis.Redis(port=server.port, socket_timeout=DEADLINE, decode_responses=True)
    seen: list[str] = []
    # attached once this returns (MONITOR answered OK)
    with watcher.monitor() as monitor:  # type: ignore[no-untyped-call]
        run()
        end = time.monotonic() + DEADLINE
        while "FCALL" not in seen:
            assert time.monotonic() < end
            event = monitor.next_command()
            if event.get("client_type") != "lua":
                seen.append(str(event["command"]).split()[0].upper())
    watcher.close()
    return seen


@pytest.mark.redis
def test_one_command_opens_a_redis_hub_with_one_info_and_no_client_setinfo(
    start: Callable[..., RedisServer],
) -> None:
    server = start()
    url = f"{server.url}?prefix=cost:"
    with connect(url, agent="@warm", create=True) as hub:
        hub.send("@b", "warm", {})  # the functions are loaded on the server from now on
    commands = client_commands(
        server, lambda: agentcomm("--url", url, "--agent", "@a", "send", "@b", "greet", "{}")
    )
    assert commands.count("INFO") == 1
    assert "CLIENT" not in commands
    assert len(commands) <= 4, commands  # INFO, the layout check, the send's function


@pytest.mark.redis
def test_a_durability_warning_is_one_json_line_on_stderr(start: Callable[..., RedisServer]) -> None:
    server = start(appendonly=False)
    url = f"{server.url}?prefix=warn:"
    assert agentcomm("--url", url, "init").returncode == 0
    done = agentcomm("--url", url, "stats")
    assert done.returncode == 0
    [line] = done.stderr.splitlines()
    warning = json.loads(line)
    assert warning["warning"] == "durability"
    assert "appendonly no" in warning["message"] and server.url in warning["message"]


class NotRedis(http.server.BaseHTTPRequestHandler):
    """An HTTP server: it answers a Redis command with an HTTP error page."""

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    yield from served(http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotRedis))


@pytest.mark.parametrize("credentials", ["", ":secret@"], ids=["no-auth", "auth"])
def test_a_url_that_reaches_an_http_server_is_exit_7_with_a_json_error(
    http_port: int, credentials: str
) -> None:
    done = agentcomm("--url", f"redis://{credentials}127.0.0.1:{http_port}/0", "stats")
    assert done.returncode == 7, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stderr)
    assert report["error"] == "backend_unavailable" and report["definite"] is True
    assert "does not speak the Redis protocol" in report["message"]
    assert "secret" not in report["message"]


@pytest.mark.redis
def test_a_hub_of_layout_1_is_migrated_when_opened_keeping_what_it_kept_aside(
    start: Callable[..., RedisServer],
) -> None:
    """Layout 1's keys, written by hand as its functions left them: a finished set for the
    hub, plain lease tokens, stored depths, and a list of the design's items kept aside."""
    server = start()
    envelope = {"id": "msg_9", "from": "@backend.nodejs", "type": "validate_token", "payload": "x"}
    with redis.Redis.from_url(server.url, decode_responses=True) as raw:
        raw.hset("v1:meta", "schema", "1")
        raw.set("v1:seq:message", 2)
        raw.sadd("v1:targets", "jobs")
        raw.hset(
            "v1:message:1",
            mapping={
                "from_agent": "@a",
                "to_agent": "jobs",
                "message_type": "w",
                "payload": "1",
                "status": "completed",
                "priority": 1,
                "created_at": 1.0,
                "timeout_seconds": 60,
                "max_retries": 3,
                "finished_at": 2.0,
            },
        )
        raw.zadd("v1:finished", {"1": 2.0})
        raw.hset(
            "v1:message:2",
            mapping={
                "from_agent": "@a",
                "to_agent": "jobs",
                "message_type": "w",
                "payload": "2",
                "status": "processing",
                "priority": 1,
                "created_at": 1.0,
                "timeout_seconds": 60,
                "max_retries": 3,
                "claimed_by": "@w",
                "lease_token": "plain-token",
                "lease_expires_at": 4e9,
            },
        )
        raw.zadd("v1:processing:jobs", {"2": 4e9})
        raw.hset("v1:depths", mapping={"jobs:completed": 1, "jobs:processing": 1})
        raw.rpush("v1:unadopted", "not json", json.dumps(envelope))
        with connect(f"{server.url}?prefix=v1:", agent="@w") as hub:
            assert raw.hget("v1:meta", "schema") == "2"
            assert raw.zrange("v1:finished:jobs", 0, -1) == ["1"]
            assert raw.hget("v1:message:2", "lease_token") != "plain-token"  # a digest now
            hub.complete("2", "plain-token")  # the claimer's token still holds its lease
            assert hub.stats().depths["jobs"] == {"completed": 2}
            dead = hub.dead_letters()
            assert [(m.type, m.payload, m.to_agent) for m in dead] == [
                ("unreadable", "not json", "unaddressed"),
                ("validate_token", "x", "unaddressed"),
            ]
            assert raw.exists("v1:unadopted") == 0
