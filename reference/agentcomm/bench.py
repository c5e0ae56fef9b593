"""Throughput and latency of a hub with real processes: 1 producer, N workers.

Throughput: the producer sends ``messages`` tasks to the shared queue (one per call, or
``send_many`` in chunks of ``batch``); workers claim (``claim_many`` with ``batch``) and
complete them with full semantics (leases, tokens, counters).  The clock runs from the
producer's start until every worker has stopped; each worker stops when it claims a
low-priority ``stop`` task, which strict priority hands out only after the real work.

Latency: workers wait idle in ``claim(wait=...)``; the producer sends one message at a
time, spaced out, stamped with its send time; workers record claim time minus send time.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
from typing import Any

from agentcomm.errors import ConfigurationError
from agentcomm.models import Outgoing, Priority
from agentcomm.urls import connect

QUEUE = "agentcomm.bench"
STOP = "stop"


@dataclasses.dataclass(frozen=True)
class BenchConfig:
    url: str
    messages: int = 20_000
    workers: int = 3
    batch: int = 1
    lease: float = 60.0


def run_throughput(config: BenchConfig) -> dict[str, Any]:
    """Send, claim and complete ``config.messages`` tasks; return the rate and a check."""
    _prepare(config.url)
    ctx = mp.get_context("spawn")
    done: Any = ctx.Queue()
    # Every process connects first and waits at the barrier, so start-up is not timed.
    gate: Any = ctx.Barrier(config.workers + 2)
    workers = [ctx.Process(target=_worker, args=(config, i, done, gate))
               for i in range(config.workers)]
    producer = ctx.Process(target=_producer, args=(config, gate))
    for proc in [*workers, producer]:
        proc.start()
    gate.wait(timeout=120)
    started = time.perf_counter()
    handled = [done.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - started
    for proc in [producer, *workers]:
        proc.join(timeout=60)
    return {
        "mode": "throughput",
        "messages": config.messages,
        "workers": config.workers,
        "batch": config.batch,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(config.messages / elapsed),
        "handled": sum(handled) - config.workers,
        "check": _check(config),
    }


def run_latency(config: BenchConfig, *, samples: int = 2000, gap: float = 0.002) -> dict[str, Any]:
    """Send-to-claim latency with idle, waiting workers."""
    _prepare(config.url)
    ctx = mp.get_context("spawn")
    out: Any = ctx.Queue()
    ready: Any = ctx.Queue()
    workers = [ctx.Process(target=_latency_worker, args=(config, i, out, ready))
               for i in range(config.workers)]
    for w in workers:
        w.start()
    for _ in workers:
        ready.get(timeout=60)  # every worker is waiting in claim() before we start
    with connect(config.url, agent="@bench.producer") as hub:
        for i in range(samples):
            hub.send(QUEUE, "ping", {"i": i, "t": time.time()}, timeout_seconds=config.lease)
            time.sleep(gap)  # spacing keeps the hub unloaded; it is not synchronisation
        hub.send_many([Outgoing(QUEUE, STOP, None, Priority.LOW) for _ in workers])
    latencies = sorted(x for _ in workers for x in out.get(timeout=600))
    for w in workers:
        w.join(timeout=60)
    return {
        "mode": "latency",
        "samples": len(latencies),
        "workers": config.workers,
        "p50_ms": round(1000 * statistics.median(latencies), 3),
        "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 3),
        "max_ms": round(1000 * latencies[-1], 3),
    }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import sqlite3

    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }


def default_url() -> str:
    return f"sqlite:///{tempfile.mkdtemp(prefix='agentcomm-bench-')}/bench.db"


def _prepare(url: str) -> None:
    """Create the hub if needed; refuse one whose bench queue already holds messages."""
    with connect(url, create=True) as hub:
        left = hub.stats().depths.get(QUEUE, {})
    if left:
        raise ConfigurationError(f"the hub's {QUEUE!r} queue is not empty ({left}); "
                                 "benchmark on a fresh hub")


def _producer(config: BenchConfig, gate: Any) -> None:
    with connect(config.url, agent="@bench.producer") as hub:
        gate.wait(timeout=120)
        if config.batch == 1:
            for i in range(config.messages):
                hub.send(QUEUE, "task", {"i": i}, timeout_seconds=config.lease)
        else:
            for start in range(0, config.messages, config.batch):
                end = min(start + config.batch, config.messages)
                hub.send_many([Outgoing(QUEUE, "task", {"i": i}, timeout_seconds=config.lease)
                               for i in range(start, end)])
        hub.send_many([Outgoing(QUEUE, STOP, None, Priority.LOW)
                       for _ in range(config.workers)])


def _worker(config: BenchConfig, index: int, done: Any, gate: Any) -> None:
    handled = 0
    with connect(config.url, agent=f"@bench.worker.{index}") as hub:
        gate.wait(timeout=120)
        while True:
            claims = hub.claim_many(QUEUE, limit=config.batch, wait=1.0)
            stops = [c for c in claims if c.message.type == STOP]
            for extra in stops[1:]:  # one stop per worker: hand the others back
                hub.release(extra.id, extra.token)
            work = [c for c in claims if c.message.type != STOP] + stops[:1]
            if work:
                hub.complete_many([(c.id, c.token) for c in work])
            handled += len(work)
            if stops:
                break
    done.put(handled)


def _latency_worker(config: BenchConfig, index: int, out: Any, ready: Any) -> None:
    seen: list[float] = []
    with connect(config.url, agent=f"@bench.worker.{index}") as hub:
        ready.put(index)
        while True:
            claim = hub.claim(QUEUE, wait=1.0)
            if claim is None:
                continue
            arrived = time.time()
            hub.complete(claim.id, claim.token)
            if claim.message.type == STOP:
                break
            seen.append(arrived - claim.message.payload["t"])
    out.put(seen)


def _check(config: BenchConfig) -> dict[str, Any]:
    with connect(config.url) as hub:
        stats = hub.stats()
    queue = stats.depths.get(QUEUE, {})
    expected = config.messages + config.workers
    return {
        "completed": queue.get("completed", 0),
        "exactly_once": queue.get("completed", 0) == expected,
        "left_pending": queue.get("pending", 0) + queue.get("processing", 0),
    }
