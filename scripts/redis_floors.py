"""What this machine lets any Redis queue do, beside what the hub does: the floors under
issue 10's Redis targets, measured in one sitting on private servers.

    python scripts/redis_floors.py [--messages N] [--samples N]

The bench's shape has one producer sending one message a call, and a send returns only
once the server has answered, so the producer pays at least one round trip a message,
and with ``appendfsync always`` one fsync too: no queue, however simple, goes faster than
a producer that does nothing but a plain ``LPUSH``.  Printed, each on a fresh server:

- ``PING``: the round trip of redis-py (with hiredis) over loopback;
- ``LPUSH`` loop: one producer's rate with a plain ``LPUSH`` a message (``everysec``,
  then ``always``), the ceiling of any queue's one-per-call producer here;
- hub ``send`` loop: the same producer with the hub's ``send`` (full semantics, no
  worker), on the same servers;
- ``RPUSH`` → ``BLPOP``: send-to-receive latency to one of 3 waiting processes, a
  message every 2 ms, the floor under the hub's send-to-claim latency
  (``agentcomm bench --only latency`` gives the hub's own);
- ``fdatasync``: one small append made durable in the servers' directory.

Needs ``redis-server``.  BENCHMARKS.md ("The floors under the Redis targets") has figures.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

import redis

from agentcomm import connect
from agentcomm_conformance.servers.redis_server import RedisServer

KEY = "floors:queue"


def per_second(count: int, step: Callable[[int], object]) -> float:
    began = time.perf_counter()
    for n in range(count):
        step(n)
    return count / (time.perf_counter() - began)


def ping_us(client: redis.Redis, count: int) -> float:
    times = []
    for _ in range(count):
        began = time.perf_counter()
        client.ping()
        times.append(time.perf_counter() - began)
    return 1e6 * statistics.median(times)


def producer_rates(folder: Path, fsync: str, count: int) -> tuple[float, float]:
    """Messages a second of one producer: plain LPUSH, then the hub's send."""
    with RedisServer(directory=folder / fsync, appendfsync=fsync) as server:
        client = redis.Redis(port=server.port)
        lpush = per_second(count, lambda n: client.lpush(KEY, n))
        url = f"{server.url}?prefix=floors:"
        with connect(url, agent="@producer", create=True) as hub:
            send = per_second(count, lambda n: hub.send("jobs", "work", {"n": n}))
        return lpush, send


def consume(port: int, out: mp.Queue[list[float]]) -> None:
    client, delays = redis.Redis(port=port), []
    while (item := cast("list[bytes]", client.blpop([KEY]))[1]) != b"stop":
        delays.append(time.time() - float(item))
    out.put(delays)


def handoff_ms(folder: Path, samples: int) -> tuple[float, float]:
    """p50 and p99 of RPUSH -> BLPOP to one of 3 waiting processes, in milliseconds."""
    with RedisServer(directory=folder / "latency", appendfsync="everysec") as server:
        ctx = mp.get_context("spawn")
        client, out = redis.Redis(port=server.port), ctx.Queue()
        workers = [
            ctx.Process(target=consume, args=(server.port, out), daemon=True) for _ in range(3)
        ]
        for worker in workers:
            worker.start()
        while client.info("clients")["blocked_clients"] < len(workers):  # all waiting
            time.sleep(0.01)
        for _ in range(samples):
            client.rpush(KEY, repr(time.time()))
            time.sleep(0.002)  # spacing keeps the server idle; not synchronisation
        for _ in workers:
            client.rpush(KEY, "stop")
        delays = sorted(d for _ in workers for d in out.get())
        for worker in workers:
            worker.join()
    return 1000 * delays[len(delays) // 2], 1000 * delays[int(len(delays) * 0.99)]


def fdatasync_us(folder: Path, count: int = 500) -> float:
    path, times = folder / "fsync-probe", []
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            os.write(fd, b"x" * 100)
            began = time.perf_counter()
            os.fdatasync(fd)
            times.append(time.perf_counter() - began)
    finally:
        os.close(fd)
    return 1e6 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description="The Redis floors of this machine.")
    parser.add_argument("--messages", type=int, default=5000, help="[default: %(default)s]")
    parser.add_argument("--samples", type=int, default=2000, help="[default: %(default)s]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with RedisServer(directory=folder / "ping", appendfsync="everysec") as server:
            print(f"PING round trip         {ping_us(redis.Redis(port=server.port), 5000):8.0f} µs")
        for fsync in ("everysec", "always"):
            lpush, send = producer_rates(folder, fsync, args.messages)
            print(f"LPUSH loop, {fsync:8s}    {lpush:8.0f} msg/s")
            print(f"hub send loop, {fsync:8s} {send:8.0f} msg/s ({send / lpush:.2f} of LPUSH)")
        p50, p99 = handoff_ms(folder, args.samples)
        print(f"RPUSH -> BLPOP          p50 {p50:.3f} ms, p99 {p99:.3f} ms")
        print(f"fdatasync               {fdatasync_us(folder):8.0f} µs")


if __name__ == "__main__":
    main()
