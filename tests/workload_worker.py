"""One worker of a generated workload, run as its own OS process by test_workloads.py.

``python tests/workload_worker.py PLAN_JSON``: claims tasks from the plan's queue until
the stop file appears, recording every call to the hub in its history file
(``history.Recorder``).  The plan injects the failures the workload wants:

* ``fail_every``: fail (to be retried) every n-th task this worker handles;
* ``crash_after``: SIGKILL itself right after its n-th claim, holding that lease;
* a task whose payload says ``slow`` > its ``retry_count`` is worked on until past its
  lease deadline, so this worker's complete comes too late and must be refused;
* a task whose payload says ``poison`` is failed without retry.

``mutant`` names a broken hub of ``tests/mutants`` for the worker to use instead.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from agentcomm import Claim, Hub, Message, connect
from history import Recorder

LATE_BY = 0.02  # seconds past the deadline a slow worker comes back


def main(plan: dict[str, Any]) -> None:
    recorder = Recorder(Path(plan["history"]), plan["agent"])
    with open_hub(plan) as hub:
        recorder.write("ready", pid=os.getpid())
        Worker(hub, recorder, plan).run(Path(plan["stop"]))


def open_hub(plan: dict[str, Any]) -> Hub:
    """The reference hub at the plan's URL, or (``mutant``: a module of ``tests/mutants``)
    a deliberately broken SQLite hub on that file, to show the checker catching it."""
    mutant = plan.get("mutant")
    if mutant is None:
        return connect(plan["url"], agent=plan["agent"])
    implementation = importlib.import_module(f"mutants.{mutant}").implementation()
    hub: Hub = implementation.open(plan["url"], plan["agent"], None)
    return hub


class Worker:
    def __init__(self, hub: Hub, recorder: Recorder, plan: dict[str, Any]) -> None:
        self.hub, self.recorder = hub, recorder
        self.queue: str = plan["queue"]
        self.limit: int = plan["limit"]
        self.fail_every: int = plan["fail_every"]
        self.crash_after: int | None = plan["crash_after"]
        self.claimed = self.handled = 0

    def run(self, stop: Path) -> None:
        while not stop.exists():
            for claim in self.claim():
                self.claimed += 1
                if self.claimed == self.crash_after:
                    self.recorder.write("crash", id=claim.id)
                    os.kill(os.getpid(), signal.SIGKILL)
                self.handle(claim)

    def claim(self) -> list[Claim]:
        """``claim`` when the plan takes one at a time, else ``claim_many``."""
        if self.limit == 1:
            one = self.recorder.timed(
                "claim",
                lambda: self.hub.claim(self.queue, wait=0.1),
                lambda c: _claims([] if c is None else [c]),
                queue=self.queue,
                limit=1,
            )
            return [] if one is None else [one]
        many = self.recorder.timed(
            "claim",
            lambda: self.hub.claim_many(self.queue, limit=self.limit, wait=0.1),
            _claims,
            queue=self.queue,
            limit=self.limit,
        )
        return many or []

    def handle(self, claim: Claim) -> None:
        self.handled += 1
        task = claim.message.payload
        if claim.message.retry_count < task["slow"]:
            outlast(claim.lease_expires_at + LATE_BY)
        if task["poison"]:
            self.fail(claim, retry=False)
        elif self.fail_every and self.handled % self.fail_every == 0:
            self.fail(claim, retry=True)
        else:
            self.recorder.timed(
                "complete",
                lambda: self.hub.complete(claim.id, claim.token),
                lambda _: {},
                id=claim.id,
                token=claim.token,
            )

    def fail(self, claim: Claim, *, retry: bool) -> None:
        self.recorder.timed(
            "fail",
            lambda: self.hub.fail(claim.id, claim.token, "injected", retry=retry),
            _new_state,
            id=claim.id,
            token=claim.token,
            retry=retry,
        )


def outlast(deadline: float) -> None:
    """Work on until the wall clock, which the hub reads too, has passed ``deadline``."""
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 0.01))


def _claims(claims: list[Claim]) -> dict[str, Any]:
    return {
        "claims": [
            {
                "id": c.id,
                "token": c.token,
                "lease_expires_at": c.lease_expires_at,
                "retry_count": c.message.retry_count,
            }
            for c in claims
        ]
    }


def _new_state(message: Message) -> dict[str, Any]:
    return {
        "status": message.status.value,
        "retry_count": message.retry_count,
        "available_at": message.available_at,
    }


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
