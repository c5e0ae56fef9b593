"""Faults at scale: a hundred workers killed with SIGKILL mid-task, a hundred killed around
their reply, a worker frozen past its lease, eight processes racing for ten thousand
claims.  Each case ends with nothing lost and nothing done twice.

Every case runs on a SQLite file shared by processes and on a private ``redis-server`` in
the test's directory (skipped without the binary, except under ``CI=true`` where it
fails), with real OS processes.  A case ends by checking three witnesses that do not
depend on one another: the hub's state (every task completed, the lifetime counters, one
reply per request), the records the workers wrote of what they did, and the store itself
(SQLite: ``PRAGMA integrity_check``; Redis: the depth counters agree with the messages).

How the workers are run and killed
----------------------------------
A fresh interpreter costs ~0.2 s of CPU here, so a hundred replacements would eat the
budget.  Each test starts one *pool* instead (this file run as a script: ``python
tests/fault_pool.py pool CONFIG``): it imports agentcomm once and forks its
workers, and a killed worker is reaped and replaced by a new fork in milliseconds.  Each
worker is its own process with its own connection, opened after the fork.

The pool *dooms* workers: while kills remain, every new worker is told on which of its
tasks it dies and how far into it.  A timer thread inside the doomed worker then sends
the worker SIGKILL.  An outside killer on a loaded two-core machine cannot aim inside a
call that lasts a millisecond; and SIGKILL is the same whoever sends it: no handler
runs, nothing is flushed or rolled back by the process, its connection just drops.  The
pool is the workers' parent and reaps them itself, so no reused pid is ever signalled.

Workers record each step with one ``write`` to their own append-only file, so a kill
loses no line already written.  One window cannot be recorded: a worker killed after its
``complete`` (or ``reply``) committed but before it wrote ``completed``.  The checks
accept a missing record only there: the hub must name that killed worker as the finisher,
and the worker's last line must be ``completing <id>`` (``replying <id>``).

The counts are the issue's (100 kills, 1,000 tasks, 10,000 claims); the whole file takes
35 to 40 s on a two-core machine for both backends.  ``pytest -s`` (or ``-rP``) prints
each case's figures: its time, the kills and where they landed, and the racers' shares.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from agentcomm import Hub, Outgoing, Status, connect
from agentcomm_conformance.servers import RedisServer, require_redis_server
from fault_pool import QUEUE, STOP_GRACE
from support import spawn

pytestmark = pytest.mark.slow

TASKS = 1000
KILLS = 100
REQUESTS = 1000
RACE_CLAIMS = 10_000
RACERS = 8
POOL_SIZE = 4
LEASE = 0.5  # seconds: a killed worker's task comes back quickly
HOLD_LEASE = 1.0  # seconds: the frozen holder's lease, renewed every fifth of it
FAST_RETRIES = "backoff_base=0.05&backoff_max=0.2"
DEADLINE = 60.0  # seconds for one case's work to finish; it takes 2 to 6 s
POOL = Path(__file__).with_name("fault_pool.py")


# -- the hub under test, and its store ---------------------------------------------------


class Store(Protocol):
    """What a backend's own files or keys say, beyond what the hub's API reports."""

    def problems(self, hub: Hub) -> list[str]:
        """Damage in the store: an empty list when it is sound."""

    def replies_per_request(self, requester: str, request_ids: list[str]) -> dict[str, int]:
        """How many replies the store holds for each request, counted in storage."""

    def replies_total(self) -> int:
        """How many replies were ever stored."""


@dataclasses.dataclass
class SqliteStore:
    path: str

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(self.path)}?mode=ro", uri=True)
        try:
            return conn.execute(sql).fetchall()
        finally:
            conn.close()

    def problems(self, hub: Hub) -> list[str]:
        found = [row[0] for row in self._query("PRAGMA integrity_check")]
        return [] if found == ["ok"] else [f"PRAGMA integrity_check: {found}"]

    def replies_per_request(self, requester: str, request_ids: list[str]) -> dict[str, int]:
        rows = self._query("SELECT request_id, count(*) FROM agent_responses GROUP BY 1")
        counted = {str(request): int(n) for request, n in rows}
        return {request: counted.get(request, 0) for request in request_ids}

    def replies_total(self) -> int:
        return int(self._query("SELECT count(*) FROM agent_responses")[0][0])


@dataclasses.dataclass
class RedisStore:
    url: str
    prefix: str

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        import redis

        client = redis.Redis.from_url(self.url, decode_responses=True)
        try:
            yield client
        finally:
            client.close()

    def problems(self, hub: Hub) -> list[str]:
        """The depth counters ``stats`` reports must agree with the messages' own status."""
        counted: collections.Counter[tuple[str, str]] = collections.Counter()
        with self._client() as client:
            for key in client.scan_iter(match=f"{self.prefix}message:*", count=1000):
                target, status = client.hmget(key, ["to_agent", "status"])
                counted[(target, status)] += 1
        reported = {
            (target, status): n
            for target, per in hub.stats().depths.items()
            for status, n in per.items()
            if status in set(Status) and n
        }
        return (
            []
            if reported == dict(counted)
            else [f"depth counters {reported} disagree with the messages {dict(counted)}"]
        )

    def replies_per_request(self, requester: str, request_ids: list[str]) -> dict[str, int]:
        from agentcomm.redis.keys import Keys

        keys = Keys(self.prefix)
        with self._client() as client:
            pipe = client.pipeline(transaction=False)
            for request in request_ids:
                pipe.llen(keys.key("response", agent=requester, id=request))
            lengths = pipe.execute()
        return dict(zip(request_ids, (int(n) for n in lengths), strict=True))

    def replies_total(self) -> int:
        from agentcomm.redis.keys import Keys

        with self._client() as client:
            return int(client.get(Keys(self.prefix).seq_reply) or 0)


@dataclasses.dataclass
class Scene:
    """The hub URL every process opens, and a look into its store."""

    url: str
    store: Store


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def scene(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Scene]:
    """A fresh hub in this test's directory: a SQLite file, or a private redis-server."""
    if request.param == "sqlite":
        path = str(tmp_path / "hub.db")
        url = f"sqlite:///{path}?{FAST_RETRIES}"
        connect(url, create=True).close()
        yield Scene(url, SqliteStore(path))
        return
    binary = require_redis_server()
    with RedisServer(directory=tmp_path / "redis", binary=binary, appendfsync="everysec") as server:
        url = f"{server.url}?prefix=chaos:&{FAST_RETRIES}"
        connect(url, create=True).close()
        yield Scene(url, RedisStore(server.url, "chaos:"))


# -- the pool, seen from the test -----------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PoolReport:
    """What the pool says when it stops."""

    kills: int
    killed: list[str]
    """Agents that died of their SIGKILL, in order."""
    agents: list[str]
    failures: list[str]
    """Workers that died otherwise, or would not stop; must be empty."""
    seed: int


class Pool:
    """A pool process running forked workers of one role on the hub."""

    def __init__(self, tmp_path: Path, url: str, role: str, *, size: int, kills: int = 0) -> None:
        self.logs = tmp_path / f"logs-{role}"
        self.logs.mkdir()
        self.errors = self.logs / "pool.err"
        config = {
            "url": url,
            "role": role,
            "size": size,
            "kills": kills,
            "logs": str(self.logs),
            "seed": random.randrange(2**32),
        }
        with self.errors.open("w") as errors:
            self.proc = spawn(
                [sys.executable, str(POOL), "pool", json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                encoding="utf-8",
            )

    def check_running(self) -> None:
        assert self.proc.poll() is None, f"the pool died:\n{self.errors.read_text()}"

    def finish(self) -> PoolReport:
        """Tell the pool to stop its workers; its report, with no worker failures."""
        out, _ = self.proc.communicate("stop\n", timeout=STOP_GRACE + 20)
        assert self.proc.returncode == 0, f"the pool failed:\n{self.errors.read_text()}"
        report = PoolReport(**json.loads(out.splitlines()[-1]))
        assert not report.failures, f"{report.failures}\n{self.errors.read_text()}"
        return report

    def records(self) -> dict[str, list[list[str]]]:
        """Each agent's record: one ``[step, message id, ...]`` per line, in order."""
        return {
            path.stem: [line.split() for line in path.read_text().splitlines()]
            for path in self.logs.glob("@*.log")
        }


def wait_for_completions(hub: Hub, count: int, pool: Pool) -> float:
    """Poll the hub until ``count`` messages are completed; the seconds it took."""
    start = time.monotonic()
    while (done := hub.stats().counters["completed"]) < count:
        pool.check_running()
        waited = time.monotonic() - start
        assert waited < DEADLINE, (
            f"only {done} of {count} completed after {DEADLINE:g}s: {hub.stats()}"
        )
        time.sleep(0.05)
    return time.monotonic() - start


def figures(name: str, **values: object) -> None:
    """Print the measured figures of a case (shown with ``pytest -s`` or ``-rP``)."""
    print(f"{name}: " + ", ".join(f"{key}={value}" for key, value in values.items()))


# -- the checks ------------------------------------------------------------------------------


def steps(records: dict[str, list[list[str]]], step: str) -> dict[str, list[str]]:
    """Message id -> the agents that recorded ``step`` for it."""
    found: dict[str, list[str]] = collections.defaultdict(list)
    for agent, lines in records.items():
        for line in lines:
            if line[0] == step:
                found[line[1]].append(agent)
    return found


def unrecorded_but_legitimate(
    records: dict[str, list[list[str]]],
    killed: list[str],
    finisher: str,
    message_id: str,
    last_step: str,
) -> bool:
    """The one unrecordable case: the finisher was killed right after its finish
    committed, its last record being ``last_step <id>``."""
    lines = records.get(finisher, [])
    return finisher in killed and bool(lines) and lines[-1][:2] == [last_step, message_id]


def check_each_finished_exactly_once(
    hub: Hub,
    records: dict[str, list[list[str]]],
    report: PoolReport,
    ids: list[str],
    finished: str,
    finishing: str,
) -> int:
    """Each message finished once, by the agent the hub names; returns how many finishes
    went unrecorded because their worker was killed just after them."""
    done = steps(records, finished)
    twice = {i: agents for i, agents in done.items() if len(agents) > 1}
    assert not twice, f"finished more than once: {dict(list(twice.items())[:10])}"
    assert set(done) <= set(ids), f"finished ids never sent: {sorted(set(done) - set(ids))}"
    unrecorded = 0
    for message_id in ids:
        message = hub.get(message_id)
        assert message.status is Status.COMPLETED, f"{message_id} is {message.status}"
        if message_id in done:
            assert done[message_id] == [message.claimed_by], (message_id, message)
        else:
            assert unrecorded_but_legitimate(
                records, report.killed, str(message.claimed_by), message_id, finishing
            ), f"{message_id} was completed by {message.claimed_by} but nobody recorded it"
            unrecorded += 1
    return unrecorded


def check_hub_totals(hub: Hub, scene: Scene, count: int) -> None:
    """Every message of the queue completed, counted once, no dead letter, store sound."""
    stats = hub.stats()
    assert stats.counters["completed"] == count, stats
    assert stats.depths[QUEUE] == {"completed": count}, stats
    assert hub.dead_letters() == []
    assert scene.store.problems(hub) == []


def where_kills_landed(records: dict[str, list[list[str]]], killed: list[str]) -> dict[str, int]:
    """Each killed worker's last record names the step it was killed in."""
    last = [records[agent][-1][0] if records.get(agent) else "starting" for agent in killed]
    return dict(collections.Counter(last))


# -- the cases ---------------------------------------------------------------------------------


def send_tasks(producer: Hub, count: int, **options: Any) -> list[str]:
    sent = producer.send_many(
        [Outgoing(QUEUE, "crunch", {"n": n}, **options) for n in range(count)]
    )
    return [message.id for message in sent]


def test_a_hundred_workers_killed_mid_task_lose_none_of_1000_tasks_and_finish_none_twice(
    scene: Scene, tmp_path: Path
) -> None:
    with connect(scene.url, agent="@chaos.producer") as producer:
        ids = send_tasks(producer, TASKS, timeout_seconds=LEASE, max_retries=100)
        pool = Pool(tmp_path, scene.url, "crunch", size=POOL_SIZE, kills=KILLS)
        took = wait_for_completions(producer, TASKS, pool)
        report = pool.finish()
        records = pool.records()
        unrecorded = check_each_finished_exactly_once(
            producer, records, report, ids, "completed", "completing"
        )
        check_hub_totals(producer, scene, TASKS)
    landed = where_kills_landed(records, report.killed)
    figures(
        "kill mid-task",
        seconds=f"{took:.1f}",
        kills=report.kills,
        tasks=TASKS,
        landed=landed,
        killed_after_commit=unrecorded,
        seed=report.seed,
    )
    assert report.kills == KILLS
    in_hand = landed.get("claimed", 0) + landed.get("completing", 0)
    assert in_hand >= KILLS // 2, f"too few kills caught a worker holding a task: {landed}"


def test_a_hundred_workers_killed_around_their_reply_leave_each_request_answered_once(
    scene: Scene, tmp_path: Path
) -> None:
    with connect(scene.url, agent="@chaos.asker") as asker:
        ids = [
            m.id
            for m in asker.send_many(
                [
                    Outgoing(
                        QUEUE,
                        "square",
                        {"n": n},
                        timeout_seconds=LEASE,
                        max_retries=100,
                        correlation_id=f"sq-{n}",
                    )
                    for n in range(REQUESTS)
                ]
            )
        ]
        pool = Pool(tmp_path, scene.url, "answer", size=POOL_SIZE, kills=KILLS)
        took = wait_for_completions(asker, REQUESTS, pool)
        report = pool.finish()
        records = pool.records()
        counts = scene.store.replies_per_request("@chaos.asker", ids)
        assert {i: n for i, n in counts.items() if n != 1} == {}, "REQ-004: one reply each"
        assert scene.store.replies_total() == REQUESTS
        after_commit = check_each_finished_exactly_once(
            asker, records, report, ids, "replied", "replying"
        )
        check_hub_totals(asker, scene, REQUESTS)
        check_answers(asker, ids)
    landed = where_kills_landed(records, report.killed)
    figures(
        "kill around reply",
        seconds=f"{took:.1f}",
        kills=report.kills,
        requests=REQUESTS,
        landed=landed,
        killed_after_commit=after_commit,
        seed=report.seed,
    )
    assert report.kills == KILLS
    around = landed.get("replying", 0)  # killed during the call: before or after its commit
    assert 0 < after_commit < around, (
        f"kills should fall both before and after replies commit: of {around} kills "
        f"during a reply call, {after_commit} came after its commit ({landed})"
    )


def check_answers(asker: Hub, ids: list[str]) -> None:
    """Each request's one reply is the right answer, and the request names it."""
    for n, request_id in enumerate(ids):
        reply = asker.get_reply(request_id)
        assert reply is not None, f"request {request_id} is completed without a reply"
        assert (reply.request_id, reply.payload) == (request_id, {"square": n * n})
        assert asker.get(request_id).reply_id == reply.id


def test_a_worker_frozen_past_its_lease_is_refused_and_another_completes_the_task_once(
    scene: Scene, tmp_path: Path
) -> None:
    """The holder keeps renewing its lease while it runs, so only the freeze (SIGSTOP, as a
    GC pause or a suspended VM) lets it lapse; thawed, its late complete must be refused."""
    with connect(scene.url, agent="@chaos.producer") as producer:
        (task_id,) = send_tasks(producer, 1, timeout_seconds=HOLD_LEASE)
        holder = spawn(
            [sys.executable, str(POOL), "hold", scene.url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        assert holder.stdin is not None and holder.stdout is not None
        assert json.loads(holder.stdout.readline()) == {"claimed": task_id}
        for _ in range(2):  # alive, its keeper renews the lease time and again
            assert json.loads(holder.stdout.readline()) == {"extended": task_id}
        holder.send_signal(signal.SIGSTOP)
        try:
            rival = Pool(tmp_path, scene.url, "crunch", size=1)
            wait_for_completions(producer, 1, rival)
            report = rival.finish()
            holder.stdin.write("finish\n")
            holder.stdin.flush()
        finally:
            holder.send_signal(signal.SIGCONT)
        said = [json.loads(line) for line in holder.communicate(timeout=30)[0].splitlines()]
        task = producer.get(task_id)
        check_hub_totals(producer, scene, 1)
    (rival_agent,) = report.agents
    assert said[-1] == {"complete": "StaleLease"}, said
    assert (task.claimed_by, task.retry_count, task.last_error) == (rival_agent, 1, "lease expired")
    assert steps(rival.records(), "completed") == {task_id: [rival_agent]}


def test_eight_processes_racing_for_10000_claims_take_each_task_exactly_once(
    scene: Scene, tmp_path: Path
) -> None:
    with connect(scene.url, agent="@chaos.producer") as producer:
        ids = send_tasks(producer, RACE_CLAIMS, timeout_seconds=300)
        pool = Pool(tmp_path, scene.url, "race", size=RACERS)
        took = wait_for_completions(producer, RACE_CLAIMS, pool)
        report = pool.finish()
        records = pool.records()
        claimed = steps(records, "claimed")
        twice = {i: agents for i, agents in claimed.items() if len(agents) > 1}
        assert not twice, f"claimed more than once: {dict(list(twice.items())[:10])}"
        assert sorted(claimed) == sorted(ids), "some task was never claimed"
        check_each_finished_exactly_once(producer, records, report, ids, "completed", "completing")
        check_hub_totals(producer, scene, RACE_CLAIMS)
    shares = sorted(sum(line[0] == "claimed" for line in lines) for lines in records.values())
    figures("race", seconds=f"{took:.1f}", racers=RACERS, claims=RACE_CLAIMS, shares=shares)
    assert len(shares) == RACERS and shares[0] > 0, f"not every racer took part: {shares}"
