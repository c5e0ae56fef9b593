"""The hot path of one worker, profiled: sends N messages, then completes each one with
``claim_next`` (the finish and the next claim in one step), on a hub of your choosing.

    python scripts/profile_hot_path.py [URL] [--profile] [--batch N]

Without a URL: a fresh SQLite hub in a temporary directory (a Redis URL should name a
prefix of its own).  Prints the mean time per send and per complete-and-claim; with
``--profile``, runs the same again under cProfile and prints the costliest functions
(BENCHMARKS.md, "The Redis hub's profile").  ``--batch N``: the same in batches of N
(``send_many``, ``claim_many``, ``complete_many`` with ``claim_next=N``), timed in CPU
seconds per message.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time

from agentcomm import Hub, Outgoing, connect

N = 5000


def sends(hub: Hub) -> None:
    for n in range(N):
        hub.send("jobs", "work", {"n": n})


def work(hub: Hub) -> None:
    claim = hub.claim("jobs")
    while claim is not None:
        claim = hub.complete(claim.id, claim.token, claim_next=True)


def batches(hub: Hub, size: int) -> None:
    for first in range(0, N, size):
        hub.send_many([Outgoing("jobs", "work", {"n": n}) for n in range(first, first + size)])
    claims = hub.claim_many("jobs", limit=size)
    while claims:
        claims = hub.complete_many([(c.id, c.token) for c in claims], claim_next=size)


def both(hub: Hub) -> None:
    sends(hub)
    work(hub)


def main() -> None:
    args = [a for a in sys.argv[1:] if a != "--profile"]
    size = 0
    if "--batch" in args:
        at = args.index("--batch")
        size = int(args[at + 1])
        del args[at : at + 2]
    url = args[0] if args else f"sqlite:///{tempfile.mkdtemp()}/hub.db"
    with connect(url, agent="@profiler", create=True) as hub:
        if size:
            began = time.process_time()
            batches(hub, size)
            print(
                f"batches of {size}: {1e6 * (time.process_time() - began) / N:.0f} µs CPU a message"
            )
            return
        began = time.perf_counter()
        sends(hub)
        sent = time.perf_counter()
        work(hub)
        done = time.perf_counter()
        print(
            f"send {1e6 * (sent - began) / N:.0f} µs, complete with claim_next "
            f"{1e6 * (done - sent) / N:.0f} µs"
        )
        if "--profile" in sys.argv:
            profile = cProfile.Profile()
            profile.runcall(both, hub)
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
