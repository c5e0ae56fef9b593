"""The hot path of one worker, profiled: sends N messages, then completes each one with
``claim_next`` (the finish and the next claim in one step), on a hub of your choosing.

    python scripts/profile_hot_path.py [URL] [--profile] [--batch N] [--messages N]

Without a URL: a fresh SQLite hub in a temporary directory (a Redis URL should name a
prefix of its own).  Prints the mean time per send and per complete-and-claim; with
``--profile``, runs the same again under cProfile and prints the costliest functions
(BENCHMARKS.md, "The Redis hub's profile").  ``--batch N``: the same in batches of N
(``send_many``, ``claim_many``, ``complete_many`` with ``claim_next=N``), timed in CPU
seconds per message, the sends apart from the claims and completes.  ``--messages N``
(default 5,000): how many; under ``valgrind --tool=callgrind``, the count for N less the
count for 0 is what N messages cost.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time

from agentcomm import Hub, Outgoing, connect

N = 5000  # --messages


def sends(hub: Hub) -> None:
    for n in range(N):
        hub.send("jobs", "work", {"n": n})


def work(hub: Hub) -> None:
    claim = hub.claim("jobs")
    while claim is not None:
        claim = hub.complete(claim.id, claim.token, claim_next=True)


def send_batches(hub: Hub, size: int) -> None:
    for first in range(0, N, size):
        hub.send_many([Outgoing("jobs", "work", {"n": n}) for n in range(first, first + size)])


def work_batches(hub: Hub, size: int) -> None:
    claims = hub.claim_many("jobs", limit=size)
    while claims:
        claims = hub.complete_many([(c.id, c.token) for c in claims], claim_next=size)


def both(hub: Hub) -> None:
    sends(hub)
    work(hub)


def main() -> None:
    global N
    parser = argparse.ArgumentParser(description="A worker's hot path, timed or profiled.")
    parser.add_argument("url", nargs="?", help="the hub [a fresh SQLite hub]")
    parser.add_argument("--profile", action="store_true", help="then profile with cProfile")
    parser.add_argument("--batch", type=int, default=0, help="messages per batch call")
    parser.add_argument("--messages", type=int, default=N, help="[default: %(default)s]")
    args = parser.parse_args()
    N, size = args.messages, args.batch
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/hub.db"
    with connect(url, agent="@profiler", create=True) as hub:
        if size:
            began = time.process_time()
            send_batches(hub, size)
            sent = time.process_time()
            work_batches(hub, size)
            done = time.process_time()
            each = 1e6 / max(N, 1)
            print(
                f"batches of {size}: send_many {each * (sent - began):.1f} µs, claim and "
                f"complete {each * (done - sent):.1f} µs CPU a message"
            )
            return
        began = time.perf_counter()
        sends(hub)
        sent = time.perf_counter()
        work(hub)
        done = time.perf_counter()
        print(
            f"send {1e6 * (sent - began) / max(N, 1):.0f} µs, complete with claim_next "
            f"{1e6 * (done - sent) / max(N, 1):.0f} µs"
        )
        if args.profile:
            profile = cProfile.Profile()
            profile.runcall(both, hub)
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
