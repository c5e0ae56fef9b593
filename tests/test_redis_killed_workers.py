"""The Redis hub when its workers are killed: what they held comes back once the lease
expires, and is dead-lettered once the retries are spent.

Agents are separate OS processes (``tests/procs.py`` roles); the tests wait on what those
print or on hub state, with a deadline, and never sleep to synchronise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from agentcomm import Hub, Status
from agentcomm_conformance.servers import RedisServer
from redis_fault_support import PREFIX, hub_url, open_hub
from support import spawn, until

PROCS = str(Path(__file__).with_name("procs.py"))


FAST_RETRIES = "backoff_base=0.05&backoff_max=0.2"
QUEUE = "thumbnails"


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
