"""One racing agent in its own process: ``python -m agentcomm_conformance.targets.racer IMPL HUB
AGENT QUEUE``.  It opens the hub, prints ``ready``, waits for ``go`` on stdin, then claims
and completes from QUEUE until it finds it empty, and prints the ids it claimed.

Ids are recorded when claimed, not when completed: a hub that hands one message to two
racers shows it even if it then refuses the second one's complete."""

from __future__ import annotations

import contextlib
import json
import sys

from agentcomm_conformance.targets import load_target


def main(impl: str, hub: str, agent: str, queue: str) -> None:
    handle = load_target(impl).open(hub, agent, None)
    print("ready", flush=True)
    sys.stdin.readline()
    done: list[str] = []
    while (claim := handle.claim(queue)) is not None:
        done.append(claim.id)
        with contextlib.suppress(Exception):  # judged by the ids, not by this refusal
            handle.complete(claim.id, claim.token)
    handle.close()
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:5])
