"""The benchmark's processes: 1 producer and N workers, each opening the hub under test.

Throughput: the producer sends ``messages`` tasks to a shared queue (one per call, or
``send_many`` in chunks of ``batch``); workers claim and complete them with full
semantics (leases, tokens, counters).  The clock runs from the moment every process has
its hub open until every worker has finished; a worker finishes when it claims a
low-priority ``stop`` task, which strict priority hands out only after the real work.

Latency: workers wait idle in ``claim(wait=...)``; this process sends one message at a
time, spaced out, stamped with its send time; workers record claim time minus send time.

Every child reports on one queue: ``("ready", name)`` once its hub is open,
``("progress", n)`` as it works (in steps, so that reporting costs next to nothing), and
``("done", name, result)`` last.  The parent drives the progress bar from those counts,
and a child that dies without reporting ``done`` is an error naming it, never a hang.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import multiprocessing as mp
import queue
import statistics
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from agentcomm.api import Hub
from agentcomm.errors import AgentCommError, ConfigurationError
from agentcomm.models import Claim, Outgoing, Priority
from agentcomm_conformance.bench.subject import Reach, Subject

QUEUE = "agentcomm.bench"
LATENCY_QUEUE = "agentcomm.bench.latency"
STOP = "stop"
WAIT = 1.0
"""Seconds a worker's claim waits before it asks again (the loop never ends on its own)."""
POLL = 1.0
STALL = 600.0
"""Seconds without any report from the children after which the run is given up."""
EXIT_GRACE = 60.0
"""Seconds a child gets to close its hub and exit after its last report."""
STEPS = 200
"""A child reports progress about this many times per phase, whatever the sizes."""

Progress = Callable[[int], None]
Role = tuple[Callable[..., None], tuple[Any, ...]]


class BenchFailed(AgentCommError):
    """A benchmark process died, or the run stalled; its own error is printed above."""

    code = "bench_failed"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    messages: int = 20_000
    workers: int = 3
    batch: int = 1
    samples: int = 2000
    gap: float = 0.002
    """Seconds between two latency samples: keeps the hub unloaded while it is timed."""
    lease: float = 60.0


# -- the parent's side ------------------------------------------------------------------------
def run_throughput(subject: Subject, config: BenchConfig, progress: Progress) -> dict[str, Any]:
    """Send, claim and complete ``config.messages`` tasks; the rate and the check."""
    if config.batch > 1 and "batch" not in subject.loaded.capabilities:
        raise ConfigurationError(
            f"--batch {config.batch}: {subject.loaded.name} does not "
            "declare the capability 'batch'; use --batch 1"
        )
    roles: dict[str, Role] = {
        f"@bench.worker.{i}": (_throughput_worker, (config,)) for i in range(config.workers)
    }
    roles["@bench.producer"] = (_producer, (config,))
    with Crew(subject.reach, roles) as crew:
        crew.start()
        started = time.perf_counter()
        crew.go.set()
        results = crew.collect(progress)
        elapsed = time.perf_counter() - started
    done = [i for name, found in results.items() if name != "@bench.producer" for i in found]
    return {
        "messages": config.messages,
        "workers": config.workers,
        "batch": config.batch,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(config.messages / elapsed),
        "check": _check(done, config.messages, _left(subject, QUEUE)),
    }


def run_latency(subject: Subject, config: BenchConfig, progress: Progress) -> dict[str, Any]:
    """Send-to-claim latency with idle, waiting workers; ``samples_ms`` holds every one."""
    roles: dict[str, Role] = {
        f"@bench.worker.{i}": (_latency_worker, (config,)) for i in range(config.workers)
    }
    with Crew(subject.reach, roles) as crew:
        crew.start()  # every worker is waiting in claim() before the first send
        _send_pings(subject, config, crew, progress)
        results = crew.collect(progress)
    timed = [pair for found in results.values() for pair in found]
    latencies = sorted(seconds * 1000 for _, seconds in timed)
    return {
        "samples": len(latencies),
        "workers": config.workers,
        "gap_ms": config.gap * 1000,
        **_percentiles(latencies),
        "check": _check([i for i, _ in timed], config.samples, _left(subject, LATENCY_QUEUE)),
        "samples_ms": [round(x, 4) for x in latencies],
    }


def check_empty(subject: Subject) -> None:
    """Refuse a hub whose bench queues already hold messages: the check would be wrong."""
    with subject.open(None) as hub:
        depths = hub.stats().depths
    for name in (QUEUE, LATENCY_QUEUE):
        if depths.get(name):
            raise ConfigurationError(
                f"the hub's {name!r} queue is not empty "
                f"({dict(depths[name])}); benchmark on a fresh hub"
            )


def _send_pings(subject: Subject, config: BenchConfig, crew: Crew, progress: Progress) -> None:
    with subject.open("@bench.producer") as hub:
        for i in range(config.samples):
            hub.send(
                LATENCY_QUEUE, "ping", {"i": i, "t": time.time()}, timeout_seconds=config.lease
            )
            crew.poll(progress)
            time.sleep(config.gap)  # spacing keeps the hub unloaded; it is not synchronisation
        for _ in range(config.workers):
            hub.send(LATENCY_QUEUE, STOP, None, priority=Priority.LOW)


def _percentiles(latencies: list[float]) -> dict[str, float]:
    """Median, and nearest-rank p90 and p99: the value below which that share of samples lie."""

    def rank(q: float) -> float:
        return latencies[max(0, math.ceil(q * len(latencies)) - 1)]

    return {
        "p50_ms": round(statistics.median(latencies), 3),
        "p90_ms": round(rank(0.90), 3),
        "p99_ms": round(rank(0.99), 3),
        "max_ms": round(latencies[-1], 3),
    }


def _left(subject: Subject, name: str) -> int:
    """Messages of queue ``name`` not completed: pending, leased, dead or expired."""
    with subject.open(None) as hub:
        depths = hub.stats().depths.get(name, {})
    return sum(depths.get(status, 0) for status in ("pending", "processing", "dead", "expired"))


def _check(done: list[int], expected: int, left: int) -> dict[str, Any]:
    """Every one of ``expected`` messages completed once (as the workers saw it), none left."""
    seen = collections.Counter(done)
    duplicates = sum(count - 1 for count in seen.values())
    missing = sum(1 for i in range(expected) if i not in seen)
    return {
        "completed": len(done),
        "duplicates": duplicates,
        "missing": missing,
        "left_pending": left,
        "exactly_once": duplicates == 0 and missing == 0 and left == 0,
    }


class Crew:
    """The child processes of one phase, and the queue they all report on."""

    def __init__(self, reach: Reach, roles: dict[str, Role]) -> None:
        ctx = mp.get_context("spawn")  # a fresh interpreter: no inherited handles or threads
        self.reports: Any = ctx.Queue()
        self.go: Any = ctx.Event()
        self.procs = {
            name: ctx.Process(
                target=work,
                args=(reach, *args, name, self.reports, self.go),
                name=name,
                daemon=True,
            )
            for name, (work, args) in roles.items()
        }
        self.ready: set[str] = set()
        self.results: dict[str, Any] = {}
        self._suspects: set[str] = set()

    def start(self) -> None:
        """Start every child; return once each has its hub open."""
        for proc in self.procs.values():
            proc.start()
        while len(self.ready) < len(self.procs):
            self._take(self._next(), None)

    def poll(self, progress: Progress) -> None:
        """Take the reports already there, without waiting."""
        while True:
            try:
                self._take(self.reports.get_nowait(), progress)
            except queue.Empty:
                return

    def collect(self, progress: Progress) -> dict[str, Any]:
        """Wait until every child reported ``done``; each one's result by name."""
        while len(self.results) < len(self.procs):
            self._take(self._next(), progress)
        return self.results

    def _take(self, report: tuple[Any, ...], progress: Progress | None) -> None:
        if report[0] == "ready":
            self.ready.add(report[1])
        elif report[0] == "progress" and progress is not None:
            progress(report[1])
        elif report[0] == "done":
            self.results[report[1]] = report[2]

    def _next(self) -> tuple[Any, ...]:
        """The next report; a child gone without ``done`` on two polls in a row fails the run
        (one poll is not enough: its last report may still be on its way)."""
        deadline = time.monotonic() + STALL
        while time.monotonic() < deadline:
            try:
                report: tuple[Any, ...] = self.reports.get(timeout=POLL)
                return report
            except queue.Empty:
                pass
            gone = {
                name
                for name, proc in self.procs.items()
                if proc.exitcode is not None and name not in self.results
            }
            if gone & self._suspects:
                name = sorted(gone & self._suspects)[0]
                raise BenchFailed(
                    f"bench process {name} exited with code "
                    f"{self.procs[name].exitcode} before it finished"
                )
            self._suspects = gone
        raise BenchFailed(f"no benchmark process reported anything for {STALL:g} s")

    def __enter__(self) -> Crew:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for proc in self.procs.values():
            if proc.pid is not None:
                proc.join(timeout=EXIT_GRACE if exc is None else 0)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
        self.reports.close()


# -- the children's side ----------------------------------------------------------------------
class Tally:
    """Counts a child's work and reports it in steps, so the queue stays quiet."""

    def __init__(self, reports: Any, total: int, workers: int) -> None:
        self.reports = reports
        self.step = max(1, total // (STEPS * workers))
        self.unreported = 0

    def add(self, count: int) -> None:
        self.unreported += count
        if self.unreported >= self.step:
            self.flush()

    def flush(self) -> None:
        if self.unreported:
            self.reports.put(("progress", self.unreported))
            self.unreported = 0


def _producer(reach: Reach, config: BenchConfig, name: str, reports: Any, go: Any) -> None:
    with reach.opened(name) as hub:
        reports.put(("ready", name))
        go.wait()
        _send_tasks(hub, config)
        for _ in range(config.workers):
            hub.send(QUEUE, STOP, None, priority=Priority.LOW)
        reports.put(("done", name, []))


def _send_tasks(hub: Hub, config: BenchConfig) -> None:
    if config.batch == 1:
        for i in range(config.messages):
            hub.send(QUEUE, "task", {"i": i}, timeout_seconds=config.lease)
        return
    for start in range(0, config.messages, config.batch):
        end = min(start + config.batch, config.messages)
        hub.send_many(
            [
                Outgoing(QUEUE, "task", {"i": i}, timeout_seconds=config.lease)
                for i in range(start, end)
            ]
        )


def _throughput_worker(reach: Reach, config: BenchConfig, name: str, reports: Any, go: Any) -> None:
    with reach.opened(name) as hub:
        reports.put(("ready", name))
        go.wait()
        tally = Tally(reports, config.messages, config.workers)
        drain = _drain_one_by_one if config.batch == 1 else _drain_batches
        done = drain(hub, config.batch, tally)
        tally.flush()
        reports.put(("done", name, done))  # before closing: teardown is not timed


def _drain_one_by_one(hub: Hub, batch: int, tally: Tally) -> list[int]:
    """Claim and complete single tasks until a stop; the ``i`` of every task completed.
    Each complete also claims the next task when the hub can (SPEC CLAIM-009)."""
    done: list[int] = []
    chained = "claim_next" in hub.capabilities
    claim = None
    while True:
        if claim is None:
            claim = hub.claim(QUEUE, wait=WAIT)
            continue
        task = claim.message
        if task.type == STOP:
            hub.complete(claim.id, claim.token)
            return done
        if chained:
            claim = hub.complete(claim.id, claim.token, claim_next=True, wait=WAIT)
        else:
            hub.complete(claim.id, claim.token)
            claim = None
        done.append(task.payload["i"])
        tally.add(1)


def _drain_batches(hub: Hub, batch: int, tally: Tally) -> list[int]:
    done: list[int] = []
    chained = "claim_next" in hub.capabilities
    claims = hub.claim_many(QUEUE, limit=batch, wait=WAIT)
    while True:
        stops = [c for c in claims if c.message.type == STOP]
        for extra in stops[1:]:  # one stop per worker: hand the others back
            hub.release(extra.id, extra.token)
        work = [c for c in claims if c.message.type != STOP]
        done += [c.message.payload["i"] for c in work]
        tally.add(len(work))
        if stops or not (work and chained):
            if work or stops:
                hub.complete_many(_pairs([*work, *stops[:1]]))
            if stops:
                return done
            claims = hub.claim_many(QUEUE, limit=batch, wait=WAIT)
            continue
        claims = hub.complete_many(_pairs(work), claim_next=batch, wait=WAIT)


def _pairs(claims: Iterable[Claim]) -> list[tuple[str, str]]:
    return [(c.id, c.token) for c in claims]


def _latency_worker(reach: Reach, config: BenchConfig, name: str, reports: Any, go: Any) -> None:
    with reach.opened(name) as hub:
        tally = Tally(reports, config.samples, config.workers)
        reports.put(("ready", name))
        timed = _time_pings(hub, tally)
        tally.flush()
        reports.put(("done", name, timed))


def _time_pings(hub: Hub, tally: Tally) -> list[tuple[int, float]]:
    """Claim pings until a stop; each ping's ``i`` and seconds from its send to its claim."""
    timed: list[tuple[int, float]] = []
    while True:
        claim = hub.claim(LATENCY_QUEUE, wait=WAIT)
        if claim is None:
            continue
        arrived = time.time()
        hub.complete(claim.id, claim.token)
        if claim.message.type == STOP:
            return timed
        timed.append((claim.message.payload["i"], arrived - claim.message.payload["t"]))
        tally.add(1)
