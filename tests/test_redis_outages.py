"""The Redis hub on a server that is cut off, stopped, frozen, loading or busy: each call
fails within its bound, saying whether it may have taken effect, or waits it out.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from agentcomm import BackendUnavailable, Hub, Status, connect
from agentcomm.urls import redact
from agentcomm_conformance.servers import RedisServer
from redis_fault_support import PASSWORDS, hub_url, open_hub
from support import until


@pytest.mark.redis
def test_a_write_to_a_server_that_stopped_answering_fails_within_the_timeout_as_maybe_done(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start()
    url = hub_url(server, "socket_timeout=0.3&reconnect_attempts=2")
    hub = open_hub(opened, url, "@alice")
    hub.send("@alice", "before", {})
    server.pause()  # SIGSTOP: connections are accepted, nothing is answered
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as cut:
        hub.send("@alice", "during", {})
    assert time.monotonic() - began < 3.0
    assert cut.value.definite is False  # sent, so it may have taken effect
    assert redact(url) in str(cut.value)
    server.resume()
    after = hub.send("@alice", "after", {})
    assert hub.get(after.id).status is Status.PENDING


@pytest.mark.redis
def test_a_call_to_a_server_that_is_gone_fails_as_certainly_not_done_naming_the_url_only(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start(password=PASSWORDS["server"])
    url = hub_url(server, "reconnect_attempts=2")
    hub = open_hub(opened, url, "@alice")
    before = hub.send("@alice", "before", {})
    server.stop()
    began = time.monotonic()
    with pytest.raises(BackendUnavailable) as gone:
        hub.send("@alice", "while_gone", {})
    assert time.monotonic() - began < 5.0
    assert gone.value.definite is True  # never reached the server: safe to retry
    assert redact(url) in str(gone.value)
    assert PASSWORDS["server"] not in str(gone.value)
    assert "3 attempts" in str(gone.value)  # the first try and two reconnect attempts
    server.start()
    assert hub.get(before.id).type == "before"


FROZEN_TIMEOUT = 0.5  # socket_timeout of the frozen-server test: its bound per call
SLACK = 0.5  # for a loaded machine's scheduling; a retry would cost at least a timeout


@pytest.mark.redis
def test_every_call_to_a_frozen_server_fails_within_its_wait_plus_one_socket_timeout(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    """SIGSTOP: the kernel still accepts connections, the server never answers.  With a
    password, each reconnection also waits for AUTH, which must not multiply the bound."""
    server = start(password=PASSWORDS["server"])
    url = hub_url(server, f"socket_timeout={FROZEN_TIMEOUT}")
    hub = open_hub(opened, url, "@alice")
    sent = hub.send("@alice", "before", {})
    server.pause()
    calls: dict[str, tuple[float, Callable[[], object]]] = {
        "get": (0, lambda: hub.get(sent.id)),  # on the open connection
        "claim": (1, lambda: hub.claim(wait=1)),  # the rest must reconnect first
        "request": (1, lambda: hub.request("@bob", "ask", {}, timeout=1)),
        "connect": (0, lambda: connect(url, agent="@carol")),
    }
    for name, (wait, call) in calls.items():
        began = time.monotonic()
        with pytest.raises(BackendUnavailable) as frozen:
            call()
        took = time.monotonic() - began
        assert took < wait + FROZEN_TIMEOUT + SLACK, f"{name} took {took:.2f}s"
        assert redact(url) in str(frozen.value)
    server.resume()
    assert hub.get(sent.id).type == "before"


def fill(server: RedisServer, keys: int) -> None:
    """Keys outside the hub's prefix, so that a restart takes a while to load them;
    rewritten into the append-only file's RDB part, whose loading answers clients often
    (a replayed command log answers only every 1024 commands)."""
    with redis.Redis.from_url(server.url, decode_responses=True) as admin:
        pipe = admin.pipeline(transaction=False)
        for n in range(keys):
            pipe.set(f"ballast:{n}", n)
        pipe.execute()
        admin.bgrewriteaof()
        until(
            lambda: (
                not any(
                    int(admin.info("persistence")[name])
                    for name in ("aof_rewrite_in_progress", "aof_rewrite_scheduled")
                )
            )
        )


def refused_with(server: RedisServer, code: bytes) -> bool:
    """Whether the server answers a PING with this error code right now."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", server.port), timeout=0.2) as probe,
    ):
        probe.sendall(b"PING\r\n")
        return probe.recv(64).startswith(b"-" + code)
    return False


SLOW_LOAD = {"key-load-delay": "150", "loading-process-events-interval-bytes": "1024"}
"""Each key loads in 150 us, and the server answers clients (LOADING) while it loads."""


@pytest.mark.redis
@pytest.mark.slow
def test_a_server_still_loading_after_a_restart_is_waited_for_or_refused_definitely(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start(config=SLOW_LOAD)
    fill(server, 8000)  # about 1.5 s of loading
    patient = open_hub(opened, hub_url(server, "socket_timeout=10"), "@alice")
    hasty = open_hub(opened, hub_url(server, "socket_timeout=0.3"), "@bob")
    outcome: dict[str, Any] = {}

    def while_loading() -> None:
        until(lambda: refused_with(server, b"LOADING"))
        try:
            hasty.send("@bob", "during", {"n": 1})
        except BackendUnavailable as exc:
            outcome["refused"] = exc
        outcome["still_loading"] = refused_with(server, b"LOADING")
        outcome["sent"] = patient.send("@alice", "during", {"n": 2})  # retried until loaded

    server.stop()
    caller = threading.Thread(target=while_loading)
    caller.start()
    server.start()  # here, not in a thread: the server dies with the thread that started it
    caller.join()
    refused = outcome["refused"]
    assert refused.definite is True  # refused before it ran: safe to retry
    assert "LOADING" in str(refused)
    assert outcome["still_loading"], "the load ended too soon to test the wait"
    sent = outcome["sent"]
    assert patient.get(sent.id).payload == {"n": 2}
    assert hasty.claim() is None  # the refused send left nothing


SPIN = """#!lua name=spin
redis.register_function('spin', function(_, argv)
  local t = redis.call('TIME')
  local stop = t[1] * 1000000 + t[2] + tonumber(argv[1])
  repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] >= stop
  return 1
end)"""
"""A function that keeps the server busy for argv[1] microseconds."""


@pytest.mark.redis
def test_a_server_busy_running_a_long_script_is_waited_for_within_the_budget(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start(config={"busy-reply-threshold": "50"})
    hub = open_hub(opened, hub_url(server, "socket_timeout=10"), "@alice")
    with redis.Redis.from_url(server.url) as admin:
        admin.function_load(SPIN, replace=True)
        spinner = threading.Thread(target=admin.fcall, args=("spin", 0, 1_500_000))
        spinner.start()
        try:
            until(lambda: refused_with(server, b"BUSY"))
            sent = hub.send("@alice", "during", {})  # refused with BUSY, then retried
        finally:
            spinner.join()
    assert hub.get(sent.id).status is Status.PENDING
