"""The Redis server's work per message, in instructions: a private ``redis-server`` under
valgrind's callgrind, its counts taken around each phase of a worker's hot path.

    python scripts/profile_redis_server.py [--messages N] [--batch N] [--keep DIR]

Needs valgrind (``callgrind_control``) and ``redis-server``.  Instructions, unlike
seconds, come out the same from run to run on a busy machine; they count the server's
user-space work (its Lua, its commands, its replies, the append-only file's buffer), not
the kernel's.  The phases, each on a fresh key prefix:

- ``send``: one message per call, nobody waiting;
- ``complete+next``: a busy worker finishing each of those and claiming the next;
- ``waiting worker``: a send that hands its message to a worker waiting for one, and that
  worker's complete, which finds nothing and waits again (the cycle of an idle worker);
- ``send_many`` and ``complete_many+next``: the same in batches of ``--batch``;
- ``ZADD+ZREM``: a deadline added to a sorted set of 100 and removed, the set a listpack
  or a skiplist (``common.lua``, ``SKIPLIST_MEMBER``);
- ``LPUSH``, ``PING``: one plain command, for scale.

``--keep DIR`` keeps the server's files and names each phase's dump, for
``callgrind_annotate``.  BENCHMARKS.md ("The Redis server's work per message") has the
figures.
"""

from __future__ import annotations

import argparse
import queue
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from agentcomm import Hub, Outgoing, connect
from agentcomm_conformance.servers import programs
from agentcomm_conformance.servers.redis_server import RedisServer

QUEUE = "jobs"
WAIT = 30.0  # seconds a waiting worker waits: under callgrind the server is slow


class Counter:
    """Instructions the server ran between ``zero()`` and ``total()``."""

    def __init__(self, server: RedisServer, dumps: Path) -> None:
        self.pid, self.dumps = server.pid, dumps
        self.dumped: list[Path] = []  # each phase's dump, in order
        control = shutil.which("callgrind_control")
        if control is None:
            raise SystemExit("callgrind_control (valgrind) is not installed")
        self.control = control

    def zero(self) -> None:
        subprocess.run([self.control, "-z", str(self.pid)], check=True, capture_output=True)

    def total(self) -> int:
        subprocess.run([self.control, "-d", str(self.pid)], check=True, capture_output=True)
        newest = max(self.dumps.glob(f"callgrind.out.{self.pid}*"), key=lambda p: p.stat().st_mtime)
        self.dumped.append(newest)
        for line in newest.read_text().splitlines():
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
        raise RuntimeError(f"no totals in {newest}")

    def per(self, count: int, phase: Callable[[], object]) -> float:
        self.zero()
        phase()
        return self.total() / count


@contextmanager
def kept_or_temporary(keep: str | None) -> Iterator[Path]:
    if keep is None:
        with tempfile.TemporaryDirectory() as scratch:
            yield Path(scratch)
        return
    folder = Path(keep).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    yield folder


@contextmanager
def server_under_callgrind(folder: Path) -> Iterator[RedisServer]:
    binary = programs.redis_server_binary()
    if binary is None:
        raise SystemExit("redis-server is not installed")
    wrapper = folder / "redis-under-callgrind"  # RedisServer starts one program
    dumps = shlex.quote(f"--callgrind-out-file={folder}/callgrind.out.%p")
    wrapper.write_text(
        f'#!/bin/sh\nexec valgrind --tool=callgrind {dumps} {shlex.quote(binary)} "$@"\n'
    )
    wrapper.chmod(0o700)
    server = RedisServer(directory=folder, appendfsync="everysec", binary=str(wrapper))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def hubs(server: RedisServer, name: str) -> tuple[Hub, Hub]:
    url = f"{server.url}?prefix={name}{time.time_ns()}:"
    return connect(url, agent="@producer", create=True), connect(url, agent="@worker")


def drain_one_by_one(worker: Hub) -> None:
    claim = worker.claim(QUEUE)
    while claim is not None:
        claim = worker.complete(claim.id, claim.token, claim_next=True)


def drain_batches(worker: Hub, size: int) -> None:
    claims = worker.claim_many(QUEUE, limit=size)
    while claims:
        claims = worker.complete_many([(c.id, c.token) for c in claims], claim_next=size)


def waiting_worker(producer: Hub, worker: Hub, count: int) -> None:
    """Each message is sent once the worker waits for it: the send hands it over."""
    received: queue.Queue[str] = queue.Queue()

    def work() -> None:
        claim = worker.claim(QUEUE, wait=WAIT)
        while claim is not None:
            received.put(claim.message.type)
            if claim.message.type == "stop":
                worker.complete(claim.id, claim.token)
                return
            claim = worker.complete(claim.id, claim.token, claim_next=True, wait=WAIT)

    thread = threading.Thread(target=work)
    thread.start()
    for n in range(count):
        # Gives the worker's complete time to start its wait; a send that came first
        # would be counted as a busy worker's.
        time.sleep(0.02)
        producer.send(QUEUE, "work", n)
        received.get(timeout=WAIT)
    producer.send(QUEUE, "stop", None)
    thread.join()


def zadd_zrem(raw: redis.Redis, member: str, count: int) -> None:
    """A lease's deadline added to a set of 100 others and removed, as a claim and a
    complete do: a set whose members are all short is a listpack, one long member makes
    it a skiplist."""
    key, now = f"leases:{member[0]}", time.time()
    raw.zadd(key, {member: float("inf"), **{str(i): now + i / 100 for i in range(99)}})
    for i in range(count):
        raw.zadd(key, {"new": now + 60 + i / 1000})
        raw.zrem(key, "new")


def main() -> None:
    parser = argparse.ArgumentParser(description="The Redis server's instructions a message.")
    parser.add_argument("--messages", type=int, default=2000, help="[default: %(default)s]")
    parser.add_argument("--batch", type=int, default=100, help="[default: %(default)s]")
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the server's files and each phase's dump in DIR"
    )
    args = parser.parse_args()
    n, size = args.messages, args.batch
    with kept_or_temporary(args.keep) as folder, server_under_callgrind(folder) as server:
        count = Counter(server, folder)
        producer, worker = hubs(server, "single")
        rows = {
            "send": count.per(n, lambda: [producer.send(QUEUE, "work", i) for i in range(n)]),
            "complete+next": count.per(n, lambda: drain_one_by_one(worker)),
        }
        producer, worker = hubs(server, "waiting")
        rows["waiting worker"] = count.per(n, lambda: waiting_worker(producer, worker, n))
        producer, worker = hubs(server, "batch")
        batches = [
            [Outgoing(QUEUE, "work", i) for i in range(first, first + size)]
            for first in range(0, n, size)
        ]
        rows["send_many"] = count.per(n, lambda: [producer.send_many(b) for b in batches])
        rows["complete_many+next"] = count.per(n, lambda: drain_batches(worker, size))
        raw = redis.Redis.from_url(server.url)
        rows["ZADD+ZREM, listpack"] = count.per(n, lambda: zadd_zrem(raw, "x", n))
        rows["ZADD+ZREM, skiplist"] = count.per(n, lambda: zadd_zrem(raw, "~" * 65, n))
        rows["LPUSH"] = count.per(n, lambda: [raw.lpush("plain", "x") for _ in range(n)])
        rows["PING"] = count.per(n, lambda: [raw.ping() for _ in range(n)])
    for (phase, instructions), dump in zip(rows.items(), count.dumped, strict=True):
        kept = f"  {dump}" if args.keep else ""
        print(f"{phase:20s} {instructions / 1000:8.1f}k instructions a message{kept}")


if __name__ == "__main__":
    main()
