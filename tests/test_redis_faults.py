"""The Redis hub when things break: killed workers, a killed, paused or stopped server, a
server that may lose data, and wrong URLs.

Each test runs a private ``redis-server`` in its temporary directory (``RedisServer``);
without the binary the tests skip, except under CI (``CI=true``), where they fail.
Agents are separate OS processes; the tests wait on what those print or on hub state,
with a deadline, and never sleep to synchronise.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import socketserver
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis

from agentcomm import BackendUnavailable, ConfigurationError, Hub, Status, connect
from agentcomm.redis.connection import DurabilityWarning
from agentcomm.urls import redact
from agentcomm_conformance.servers import (
    RedisServer,
    free_port,
    redis_url,
)
from support import served, spawn, until

PROCS = str(Path(__file__).with_name("procs.py"))
PREFIX = "faults:"
FAST_RETRIES = "backoff_base=0.05&backoff_max=0.2"
QUEUE = "thumbnails"
PASSWORDS = {"server": "server-secret", "wrong": "wrong-secret", "old": "old-secret"}
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


def hub_url(server: RedisServer, options: str = "") -> str:
    return f"{server.url}?prefix={PREFIX}" + (f"&{options}" if options else "")


def open_hub(opened: list[Hub], url: str, agent: str) -> Hub:
    opened.append(connect(url, agent=agent, create=True))
    return opened[-1]


def role(name: str, *args: str) -> subprocess.Popen[str]:
    """A ``tests/procs.py`` role as its own process, its stdout a pipe of JSON lines."""
    return spawn(
        [sys.executable, PROCS, name, *args], stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )


def first_line(process: subprocess.Popen[str]) -> Any:
    assert process.stdout is not None
    return json.loads(process.stdout.readline())


def kill_9(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait(timeout=10)


# -- killed workers ---------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.slow
def test_a_message_held_by_a_worker_killed_with_sigkill_is_claimed_again_once_its_lease_expires(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    url = hub_url(start(), FAST_RETRIES)
    coordinator = open_hub(opened, url, "@coordinator")
    task = coordinator.send(QUEUE, "resize", {"image": 7}, timeout_seconds=1)
    victim = role("hang", url, "@worker.victim", QUEUE)
    assert first_line(victim) == task.id
    kill_9(victim)
    held = coordinator.get(task.id)
    assert (held.status, held.claimed_by) == (Status.PROCESSING, "@worker.victim")
    survivor = role("worker", url, "@worker.survivor", QUEUE)
    until(lambda: coordinator.get(task.id).status is Status.COMPLETED)
    coordinator.send(QUEUE, "stop", None)
    assert json.loads(survivor.communicate(timeout=30)[0].splitlines()[-1]) == [task.id]
    done = coordinator.get(task.id)
    assert (done.retry_count, done.claimed_by, done.last_error) == (
        1,
        "@worker.survivor",
        "lease expired",
    )


@pytest.mark.redis
@pytest.mark.slow
def test_a_message_whose_every_worker_is_killed_is_dead_lettered_once_its_retries_are_spent(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    url = hub_url(start(), FAST_RETRIES)
    coordinator = open_hub(opened, url, "@coordinator")
    task = coordinator.send(QUEUE, "resize", {"image": 8}, timeout_seconds=0.5, max_retries=1)
    for worker in ("@worker.first", "@worker.second"):  # the second gets the one retry
        victim = role("hang", url, worker, QUEUE)
        assert first_line(victim) == task.id
        kill_9(victim)

    def buried() -> bool:
        coordinator.sweep()
        return coordinator.get(task.id).status is Status.DEAD

    until(buried)
    (dead,) = coordinator.dead_letters()
    assert (dead.id, dead.retry_count, dead.last_error) == (task.id, 1, "lease expired")


@pytest.mark.redis
@pytest.mark.slow
def test_a_message_sent_as_a_waiting_worker_is_killed_is_claimed_again_within_its_lease(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    # A waiting worker is handed what arrives (common.lua serve_waiters); killed while it
    # waits, it may be handed the message in its last moment, which then comes back after
    # the lease as from a worker killed holding it, never stranded.
    server = start()
    url = hub_url(server, FAST_RETRIES)
    coordinator = open_hub(opened, url, "@coordinator")
    victim = role("hang", url, "@worker.victim", QUEUE)
    with redis.Redis.from_url(server.url, decode_responses=True) as admin:
        until(lambda: admin.llen(f"{PREFIX}waiters:{QUEUE}") > 0)  # it waits on the server
    kill_9(victim)
    task = coordinator.send(QUEUE, "resize", {"image": 9}, timeout_seconds=1)
    survivor = role("worker", url, "@worker.survivor", QUEUE)
    until(lambda: coordinator.get(task.id).status is Status.COMPLETED)
    coordinator.send(QUEUE, "stop", None)
    assert json.loads(survivor.communicate(timeout=30)[0].splitlines()[-1]) == [task.id]
    done = coordinator.get(task.id)
    assert done.claimed_by == "@worker.survivor"
    assert (done.retry_count, done.last_error) in {(0, None), (1, "lease expired")}


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


# -- a cut and a stopped server -----------------------------------------------------------


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


# -- wrong URLs ---------------------------------------------------------------------------


@pytest.mark.redis
def test_a_wrong_password_is_a_configuration_error_naming_the_url_but_no_password(
    start: Callable[..., RedisServer],
) -> None:
    server = start(password=PASSWORDS["server"])
    url = f"{server.url_for(password=PASSWORDS['wrong'])}?prefix={PREFIX}"
    with pytest.raises(ConfigurationError) as refused:
        connect(url, create=True)
    message = str(refused.value)
    assert redact(url) in message
    assert PASSWORDS["wrong"] not in message
    assert PASSWORDS["server"] not in message


def test_a_port_where_no_server_listens_is_backend_unavailable_naming_the_url() -> None:
    url = f"{redis_url(free_port())}?reconnect_attempts=1&connect_timeout=1"
    with pytest.raises(BackendUnavailable) as unreachable:
        connect(url, create=True)
    assert unreachable.value.definite is True
    assert redact(url) in str(unreachable.value)


class OldRedisHandler(socketserver.StreamRequestHandler):
    """Speaks just enough RESP to pass for Redis 5.0.14: INFO tells that version, anything
    else (AUTH, CLIENT SETINFO...) is answered OK."""

    def handle(self) -> None:
        while words := read_command(self.rfile):
            self.wfile.write(old_answer(words))


def read_command(rfile: io.BufferedIOBase) -> list[bytes]:
    """One command, an array of bulk strings; ``[]`` once the client hangs up."""
    header = rfile.readline()
    if not header.startswith(b"*"):
        return []
    words = []
    for _ in range(int(header[1:])):
        size = int(rfile.readline()[1:])
        words.append(rfile.read(size + 2)[:-2])
    return words


def old_answer(words: list[bytes]) -> bytes:
    if words[0].upper() != b"INFO":
        return b"+OK\r\n"
    text = b"# Server\r\nredis_version:5.0.14\r\nredis_mode:standalone\r\n"
    return b"$%d\r\n%s\r\n" % (len(text), text)


class OldRedisServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture
def old_redis_port() -> Iterator[int]:
    """A fake Redis 5.0.14 on a free loopback port, served from a thread."""
    yield from served(OldRedisServer(("127.0.0.1", 0), OldRedisHandler))


def test_a_server_older_than_the_hub_needs_is_a_configuration_error_naming_the_version(
    old_redis_port: int,
) -> None:
    url = f"redis://:{PASSWORDS['old']}@127.0.0.1:{old_redis_port}/0?prefix={PREFIX}"
    with pytest.raises(ConfigurationError) as too_old:
        connect(url, create=True)
    message = str(too_old.value)
    assert redact(url) in message
    assert PASSWORDS["old"] not in message
    assert "5.0.14" in message
    assert "7.0 or later" in message
