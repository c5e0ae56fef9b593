"""The pytest-xdist workers of this very session race for one hub's tasks.

Under ``pytest -n N`` the agents are the xdist worker processes themselves: the first to
arrive creates the hub (a SQLite file in the session's shared temporary directory, or a
``redis-server`` it starts there) and sends ``TASKS`` tasks; every worker that runs a
copy of the test claims and completes until the hub reports them all completed, then
writes what it claimed and completed to its own file; once every worker that joined has
written its file, each checks over all the files that every task was claimed and
completed exactly once, and none lost.  Without xdist the one pytest process is the only
agent: it drains the queue alone and makes the same checks, so the test never passes
having checked nothing.

How the workers meet
--------------------
They share nothing but files, in a directory of the session's base temporary directory
(the parent of each worker's own; under xdist the session's, named by its run id so a
reused ``--basetemp`` cannot mix two sessions).  ``os.open(O_CREAT | O_EXCL)`` elects the
creator; ``fcntl.flock`` orders joining against closing; every wait polls files with a
deadline and fails naming who it waited for.  Files are written whole (``os.replace``).

Why it cannot deadlock
----------------------
xdist hands out test items, not workers: with ``--dist load`` a worker may get several
copies of this test, or none (``-k``, ``--lf``, or a batch that puts every copy on one
worker).  ``xdist_group`` does not help: it keeps a group *on one worker*, and only under
``--dist loadgroup``.  So the test is parametrized over ``slot`` (one copy per worker,
interleaved with the backend so that a batch of two consecutive items still reaches two
workers), and no wait assumes a particular worker will come:

* the creator waits at most ``GATHER`` seconds for the other workers to join before it
  sends the tasks, so a race is real when they run the test at the same time;
* a worker joins when its first copy runs; a second copy on a worker that already
  joined, or a copy arriving after the race closed, only checks the files;
* the barrier waits only for workers that have joined, and each writes its file before
  it waits (a failing worker writes its failure), so no two workers wait on each other.

A worker that joined but never finishes (killed) fails the others after ``BARRIER``
seconds with its name.  Each copy prints how many workers took part (``pytest -s``).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import fcntl
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from agentcomm import Outgoing, connect
from agentcomm_conformance.servers import RedisServer, require_redis_server

T = TypeVar("T")

TASKS = 2000
QUEUE = "xdist-race"
GATHER = 3.0  # seconds the creator waits for the other workers to join
ARRIVAL = 60.0  # seconds a joiner waits for the creator's hub and tasks
DRAIN = 60.0  # seconds to claim and complete everything
BARRIER = 120.0  # seconds to wait for the other joined workers' files
LEASE = 60.0  # seconds: no live worker ever loses a lease, so a task claimed twice is a bug
POLL = 0.01  # seconds between two looks at the files

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "master")
WORKER_COUNT = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("redis", id="redis", marks=pytest.mark.redis),
]
COPIES = [
    pytest.param(slot, *backend.values, id=f"slot{slot}-{backend.id}", marks=backend.marks)
    for slot in range(WORKER_COUNT)
    for backend in BACKENDS
]


def wait_until(found: Callable[[], T | None], timeout: float, waiting_for: str) -> T:
    """Poll ``found`` until it returns something; fail saying what never came."""
    end = time.monotonic() + timeout
    while (result := found()) is None:
        if time.monotonic() > end:
            pytest.fail(f"worker {WORKER} waited {timeout:g}s for {waiting_for}", pytrace=False)
        time.sleep(POLL)
    return result


@dataclasses.dataclass
class Rendezvous:
    """The directory where the workers of one session meet, seen by this worker."""

    directory: Path

    def file(self, name: str) -> Path:
        return self.directory / name

    def elect_creator(self) -> bool:
        """True for exactly one caller in the session: the first."""
        try:
            os.close(os.open(self.file("creator"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return False
        return True

    def publish(self, name: str, value: object) -> None:
        """Write a JSON file whole: readers see all of it or nothing."""
        partial = self.file(f".{name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(value), encoding="utf-8")
        os.replace(partial, self.file(name))

    def read(self, name: str) -> Any:
        path = self.file(name)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def check_nobody_failed(self, doing: str) -> None:
        failed = {w: r["failed"] for w, r in self.results().items() if "failed" in r}
        assert not failed, f"while {WORKER} was {doing}, workers failed: {failed}"

    def await_file(self, name: str) -> Any:
        """The creator's ``name`` file once it is there; fails early if a worker failed."""

        def arrived() -> Any:
            self.check_nobody_failed(f"waiting for {name!r}")
            return self.read(name)

        return wait_until(arrived, ARRIVAL, f"the creator's {name!r} file")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self.file("lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield  # closing the file releases the lock

    def join(self) -> str:
        """``agent`` for this worker's first copy while the race is open; ``again`` for a
        later copy; ``late`` once the race is closed.  Only agents take part."""
        with self.locked():
            if self.file("closed").exists():
                return "late"
            if self.file(f"joined-{WORKER}").exists():
                return "again"
            self.file(f"joined-{WORKER}").touch()
            return "agent"

    def joined(self) -> set[str]:
        return {path.name.removeprefix("joined-") for path in self.directory.glob("joined-*")}

    def results(self) -> dict[str, dict[str, Any]]:
        """Each finished worker's file: what it claimed and completed, or its failure."""
        return {
            path.name.removeprefix("done-"): json.loads(path.read_text(encoding="utf-8"))
            for path in self.directory.glob("done-*")
        }

    def all_joined_are_done(self) -> dict[str, dict[str, Any]] | None:
        results = self.results()
        return results if self.joined() <= results.keys() else None

    def close(self) -> bool:
        """Close the race once every joined worker is done; False while one is not."""
        with self.locked():
            if self.all_joined_are_done() is None:
                return False
            self.file("closed").touch()
            return True


def shared_directory(factory: pytest.TempPathFactory) -> Path:
    """Under xdist, the session's base temporary directory, which holds each worker's;
    without it, this process's own."""
    base = factory.getbasetemp()
    return base.parent if WORKER != "master" else base


@contextlib.contextmanager
def hub_for(backend: str, race: Rendezvous) -> Iterator[str]:
    """As the creator: make the hub and keep it (a server) until the race closes."""
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{race.file('hub.db')}"
        else:
            server = stack.enter_context(
                RedisServer(directory=race.file("redis"), appendfsync="everysec")
            )
            url = f"{server.url}?prefix=race:"
        connect(url, create=True).close()
        try:
            yield url
        finally:  # the others use the hub until each has written its file
            wait_until(lambda: race.close() or None, BARRIER, "the race to close")


def send_tasks(race: Rendezvous, url: str) -> None:
    """As the creator: wait briefly for the others to join, then send the tasks."""
    start = time.monotonic()
    while len(race.joined()) < WORKER_COUNT and time.monotonic() < start + GATHER:
        time.sleep(POLL)
    present = sorted(race.joined())
    with connect(url, agent=f"@xdist.{WORKER}") as hub:
        sent = hub.send_many(
            [Outgoing(QUEUE, "task", {"n": n}, timeout_seconds=LEASE) for n in range(TASKS)]
        )
    race.publish("gathering", {"present": present, "seconds": time.monotonic() - start})
    race.publish("tasks", [message.id for message in sent])


def drain(race: Rendezvous, url: str) -> dict[str, list[str]]:
    """Claim and complete until the hub reports every task completed; what this worker
    claimed (noted before completing, so a task handed out twice shows) and completed.
    Stops early if another worker failed: a task it held would wait out its lease."""
    claimed: list[str] = []
    completed: list[str] = []
    end = time.monotonic() + DRAIN
    with connect(url, agent=f"@xdist.{WORKER}") as hub:
        while True:
            claim = hub.claim(QUEUE, wait=0.05)
            if claim is not None:
                claimed.append(claim.id)
                hub.complete(claim.id, claim.token)
                completed.append(claim.id)
            elif hub.stats().counters["completed"] >= TASKS:
                check_hub_state(hub.stats())
                return {"claimed": claimed, "completed": completed}
            else:
                race.check_nobody_failed("draining")
            assert time.monotonic() < end, f"{WORKER}: the queue was not drained in {DRAIN}s"


def check_hub_state(stats: Any) -> None:
    assert stats.counters["completed"] == TASKS, stats
    assert stats.depths[QUEUE] == {"completed": TASKS}, stats


def take_part(race: Rendezvous, backend: str) -> None:
    """This worker's share of the race: (create,) drain, and write its file, or its
    failure, before waiting for anyone."""
    with contextlib.ExitStack() as creating:
        try:
            if race.elect_creator():
                race.publish("hub", creating.enter_context(hub_for(backend, race)))
                send_tasks(race, race.read("hub"))
            url = race.await_file("hub")
            race.await_file("tasks")
            race.publish(f"done-{WORKER}", drain(race, url))
        except BaseException as failure:
            if not race.file(f"done-{WORKER}").exists():
                race.publish(f"done-{WORKER}", {"failed": repr(failure)})
            raise
        wait_until(race.all_joined_are_done, BARRIER, "the other workers' files")


def check_exactly_once(tasks: list[str], results: dict[str, dict[str, Any]]) -> None:
    """Over every worker's file: each task claimed once, completed once, none lost."""
    failed = {worker: r["failed"] for worker, r in results.items() if "failed" in r}
    assert not failed, f"workers failed: {failed}"
    for step in ("claimed", "completed"):
        owners: dict[str, list[str]] = collections.defaultdict(list)
        for worker, result in results.items():
            for task in result[step]:
                owners[task].append(worker)
        twice = {task: who for task, who in owners.items() if len(who) > 1}
        assert not twice, f"{step} more than once: {dict(list(twice.items())[:10])}"
        lost = sorted(set(tasks) - owners.keys())
        assert not lost, f"never {step}: {lost[:20]} ({len(lost)} in all)"
        assert owners.keys() == set(tasks), f"{step} ids never sent"


@pytest.mark.parametrize(("slot", "backend"), COPIES)
def test_the_session_workers_race_for_one_hub_and_each_task_is_done_exactly_once(
    slot: int, backend: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Under xdist, every worker that runs a copy races the others (module docstring);
    without xdist, this one process is the only agent and drains the queue alone."""
    if backend == "redis":
        require_redis_server()  # every copy: the others must not wait for a creator that skips
    race = Rendezvous(shared_directory(tmp_path_factory) / f"xdist-race-{RUN_ID}-{backend}")
    race.directory.mkdir(parents=True, exist_ok=True)
    role = race.join()
    if role == "agent":
        take_part(race, backend)
    results = wait_until(race.all_joined_are_done, BARRIER, "the joined workers' files")
    check_exactly_once(race.read("tasks") or [], results)
    shares = {worker: len(r["completed"]) for worker, r in sorted(results.items())}
    gathering = race.read("gathering")
    print(
        f"xdist race on {backend}: copy {slot} on {WORKER} as {role}; "
        f"{len(shares)} of {WORKER_COUNT} workers took part, completing {shares}; "
        f"{gathering['present']} were there when the tasks were sent, "
        f"after {gathering['seconds']:.2f}s"
    )
