"""One claiming agent in its own process: ``python -m agentcomm_conformance.holder IMPL HUB
AGENT QUEUE [ROUNDS]``.  It opens the hub as ``racer`` does, then ROUNDS times (default 1):
prints ``waiting``, blocks in ``claim(QUEUE, wait=30)``, and prints what it got as one JSON
line: ``id`` (null if nothing came), ``lease_expires_at``, ``returned_at`` (wall-clock time
the claim returned), ``wall`` and ``cpu`` (seconds of wall-clock and of CPU time the claim
took).  Every claim but the last is completed; the last one it holds, sleeping until it is
killed.  The suite kills it to show that a killed worker loses nothing (LEASE-007) and
times it to see how fast a waiter wakes and how little it costs while idle (CLAIM-007);
``Holder`` is the suite's side of it."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from agentcomm_conformance.target import InProcessTarget, Target, load_target

WAIT = 30.0


def main(impl: str, hub: str, agent: str, queue_name: str, rounds: str = "1") -> None:
    handle = load_target(impl).open(hub, agent, None)
    for left in range(int(rounds), 0, -1):
        print("waiting", flush=True)
        wall, cpu = time.monotonic(), time.process_time()
        claim = handle.claim(queue_name, wait=WAIT)
        returned_at = time.time()
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        print(json.dumps({
            "id": None if claim is None else claim.id,
            "lease_expires_at": None if claim is None else claim.lease_expires_at,
            "returned_at": returned_at, "wall": wall, "cpu": cpu}), flush=True)
        if claim is not None and left > 1:
            handle.complete(claim.id, claim.token)
    time.sleep(3600)  # holding the last claim until killed


class Holder:
    """The suite's side: start a holder on ``hub`` for a target whose hubs Python can open
    (``supports``), read what it prints, and kill it (SIGKILL) when done."""

    def __init__(self, target: Target, hub: str, agent: str, queue_name: str,
                 rounds: int = 1) -> None:
        assert isinstance(target, InProcessTarget), "see Holder.supports"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "agentcomm_conformance.holder", target.racer_spec, hub, agent,
             queue_name, str(rounds)], stdout=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @staticmethod
    def supports(target: Target) -> bool:
        return isinstance(target, InProcessTarget)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def line(self, timeout: float = WAIT + 30) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the holder printed nothing for {timeout:g} s") from None

    def waiting(self) -> None:
        """Return once the holder is about to block in ``claim``."""
        assert self.line() == "waiting", "the holder failed to open the hub"

    def claimed(self) -> dict[str, Any]:
        """What the holder's claim returned (see the module's docstring)."""
        found: dict[str, Any] = json.loads(self.line())
        return found

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self.reader.join(timeout=30)  # ends at the pipe's end, now that the process is gone
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


if __name__ == "__main__":
    main(*sys.argv[1:6])
