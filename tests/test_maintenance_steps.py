"""Maintenance never stalls the hub: ``prune`` and ``sweep`` work through a large backlog in
bounded steps, on both hubs.

On Redis a step is one function call, and the server's SLOWLOG records how long each ran;
on SQLite a step is one write transaction, timed from the moment it holds the write lock
until it lets go.  What the tests assert is the bound that does not depend on the machine:
the backlog takes at least one step per 200 objects, so no step works through more.  How
long the steps take is printed, not asserted (a loaded machine would make that flaky); the
backlog here is what CI affords, and BENCHMARKS.md has the figures for hundreds of
thousands of events and finished messages, measured with these very tests:
``AGENTCOMM_STEPS_BACKLOG=300000 pytest -p no:xdist -rP tests/test_maintenance_steps.py``.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from agentcomm import Hub, ManualClock, Outgoing, connect
from agentcomm.redis import scripts
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from agentcomm_conformance.servers import RedisServer

BACKLOG = int(os.environ.get("AGENTCOMM_STEPS_BACKLOG", "20000"))
"""Finished messages, and as many events, and as many lapsed leases (a multiple of BATCH)."""
BATCH = 10_000
DAY = 86_400.0


def backlog_hub(url: str) -> tuple[Hub, ManualClock]:
    """A handle on a fresh hub at ``url``, on a manual clock (returned too)."""
    clock = ManualClock()
    return connect(url, agent="@coordinator", create=True, clock=clock), clock


def finish_backlog(hub: Hub, queue: str, *, complete: bool) -> None:
    """``BACKLOG`` messages through ``queue``: claimed, and completed when asked."""
    for _ in range(BACKLOG // BATCH):
        hub.send_many([Outgoing(queue, "work", {"n": n}, timeout_seconds=60) for n in range(BATCH)])
        claims = hub.claim_many(queue, limit=BATCH)
        if complete:
            hub.complete_many([(c.id, c.token) for c in claims])


# -- Redis: each step one function call, timed by the server ---------------------------------


@pytest.fixture
def slowlog(start: Callable[..., RedisServer]) -> Iterator[tuple[str, redis.Redis]]:
    """A private server's URL and an admin client; SLOWLOG records every command."""
    server = start(appendonly=False)
    with redis.Redis.from_url(server.url, decode_responses=True) as admin:
        admin.config_set("slowlog-max-len", 100_000)
        yield f"{server.url}?prefix=steps:&persistence=ignore", admin


def function_calls(admin: redis.Redis, function: str) -> list[float]:
    """How long each call of the hub's ``function`` ran since ``timing_from_now``, in ms
    (SLOWLOG keeps the commands over 0.1 ms; those a function runs are logged too, and are
    shorter); calls quicker than that count as 0.1 ms."""
    name = scripts.function_name(function)
    calls = int(admin.info("commandstats")["cmdstat_fcall"]["calls"])
    found = [
        entry["duration"] / 1000
        for entry in admin.slowlog_get(100_000)
        if name in str(entry["command"])
    ]
    return found + [0.1] * (calls - len(found))


def check_steps(what: str, steps: list[float], least: int, began: float) -> None:
    """Enough steps (no more than 200 objects in any); the figures printed for ``pytest -rP``
    (BENCHMARKS.md)."""
    median, longest = statistics.median(steps), max(steps)
    print(
        f"{what}: backlog {BACKLOG}, {len(steps)} steps, median {median:.2f} ms, longest "
        f"{longest:.2f} ms, {time.perf_counter() - began:.1f} s in all"
    )
    assert len(steps) >= least, f"{what}: {len(steps)} steps for a backlog of {BACKLOG}"


def timing_from_now(admin: redis.Redis) -> float:
    """SLOWLOG and the command counts from now on; returns when, for the total time."""
    admin.config_set("slowlog-log-slower-than", 100)
    admin.slowlog_reset()
    admin.config_resetstat()
    return time.perf_counter()


@pytest.mark.redis
@pytest.mark.slow
def test_redis_prune_of_a_large_backlog_runs_in_steps_of_a_few_milliseconds(
    slowlog: tuple[str, redis.Redis],
) -> None:
    url, admin = slowlog
    hub, clock = backlog_hub(url)
    finish_backlog(hub, "jobs", complete=True)
    for n in range(BACKLOG):
        hub.publish("tick", {"n": n})
    clock.advance(8 * DAY)  # past retain_finished and retain_events
    began = timing_from_now(admin)
    assert hub.prune() == {"messages": BACKLOG, "replies": 0, "events": BACKLOG, "agents": 0}
    check_steps("redis prune", function_calls(admin, "prune"), 2 * BACKLOG // 200, began)
    hub.close()


@pytest.mark.redis
@pytest.mark.slow
def test_redis_sweep_of_many_lapsed_leases_runs_in_steps_of_a_few_milliseconds(
    slowlog: tuple[str, redis.Redis],
) -> None:
    url, admin = slowlog
    hub, clock = backlog_hub(url)
    finish_backlog(hub, "jobs", complete=False)
    clock.advance(61)  # every lease lapsed
    began = timing_from_now(admin)
    assert hub.sweep() == BACKLOG
    check_steps("redis sweep", function_calls(admin, "sweep"), BACKLOG // 200, began)
    assert hub.stats().depths["jobs"]["pending"] == BACKLOG
    hub.close()


# -- SQLite: each step one transaction, timed while it holds the write lock ------------------


@contextlib.contextmanager
def lock_holds(hub: SqliteHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The hub's write transactions meanwhile, each as how long it held the lock (ms)."""
    held: list[float] = []
    write = hub.store.write

    @contextlib.contextmanager
    def timed() -> Iterator[Any]:
        with write() as conn:  # BEGIN IMMEDIATE has the lock once this returns
            began = time.perf_counter()
            yield conn
        held.append((time.perf_counter() - began) * 1000)  # until COMMIT let it go

    with monkeypatch.context() as patched:
        patched.setattr(hub.store, "write", timed)
        yield held


def old_events(path: Path, clock: ManualClock) -> None:
    """``BACKLOG`` events published a week and a day ago, inserted as the design does."""
    import sqlite3

    published = iso(clock.now() - 8 * DAY)
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO agent_events (event_type, publisher, payload, published_at)"
            " VALUES ('tick', '@clock', ?, ?)",
            [(f'{{"n": {n}}}', published) for n in range(BACKLOG)],
        )
    db.close()


def test_sqlite_prune_of_a_large_backlog_holds_the_write_lock_a_few_milliseconds_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, clock = backlog_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    assert isinstance(hub, SqliteHub)
    finish_backlog(hub, "jobs", complete=True)
    old_events(tmp_path / "hub.db", clock)
    clock.advance(2 * DAY)  # past retain_finished; the events are older than retain_events
    began = time.perf_counter()
    with lock_holds(hub, monkeypatch) as held:
        assert hub.prune() == {"messages": BACKLOG, "replies": 0, "events": BACKLOG, "agents": 0}
    check_steps("sqlite prune", held, 2 * BACKLOG // 200, began)
    hub.close()


def test_sqlite_sweep_of_many_lapsed_leases_holds_the_write_lock_a_few_milliseconds_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, clock = backlog_hub(f"sqlite:///{tmp_path / 'hub.db'}")
    assert isinstance(hub, SqliteHub)
    finish_backlog(hub, "jobs", complete=False)
    clock.advance(61)
    began = time.perf_counter()
    with lock_holds(hub, monkeypatch) as held:
        assert hub.sweep() == BACKLOG
    check_steps("sqlite sweep", held, BACKLOG // 200, began)
    hub.close()
