"""What the cases of ``test_faults_at_scale.py`` share: the store behind the hub, the pool
of workers seen from the test, and the checks every case ends with (that module's
docstring says how the workers are run and killed, and why).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import random
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from agentcomm import Hub, Status
from fault_pool import QUEUE, STOP_GRACE
from support import spawn

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
