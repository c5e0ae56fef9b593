"""One claiming agent in its own process: ``python -m agentcomm_conformance.targets.holder IMPL HUB
AGENT QUEUE [ROUNDS]``.  It opens the hub as ``racer`` does, then ROUNDS times (default 1):
prints ``waiting``, blocks in ``claim(QUEUE, wait=30)``, and prints what it got as one JSON
line: ``id`` (null if nothing came), ``lease_expires_at``, ``returned_at`` (wall-clock time
the claim returned), ``wall`` and ``cpu`` (seconds of wall-clock and of CPU time the claim
took).  Every claim but the last is completed; the last one it holds, sleeping until it is
killed.  The suite kills it to show that a killed worker loses nothing (LEASE-007) and
times it to see how fast a waiter wakes and how little it costs while idle (CLAIM-007);
``Holder`` is the suite's side of it.

Through a driver the holder is a driver process itself (``DriverHolder``): its handle is
opened on the system clock (no ``now``, DRIVER.md), its claim is sent and answered as any
op, and its CPU time is read from ``/proc`` for the driver and every process under it."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import Any

from agentcomm import Claim
from agentcomm_conformance.driver.process import DriverProcess
from agentcomm_conformance.targets import Target, load_target
from agentcomm_conformance.targets.driver import DriverHub, DriverTarget
from agentcomm_conformance.targets.in_process import InProcessTarget

WAIT = 30.0


def main(impl: str, hub: str, agent: str, queue_name: str, rounds: str = "1") -> None:
    handle = load_target(impl).open(hub, agent, None)
    for left in range(int(rounds), 0, -1):
        # Timed from before "waiting": however late this process gets to its claim, the
        # window the suite sleeps in after reading "waiting" is inside what is measured.
        wall, cpu = time.monotonic(), time.process_time()
        print("waiting", flush=True)
        claim = handle.claim(queue_name, wait=WAIT)
        returned_at = time.time()
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        print(
            json.dumps(
                {
                    "id": None if claim is None else claim.id,
                    "lease_expires_at": None if claim is None else claim.lease_expires_at,
                    "returned_at": returned_at,
                    "wall": wall,
                    "cpu": cpu,
                }
            ),
            flush=True,
        )
        if claim is not None and left > 1:
            handle.complete(claim.id, claim.token)
    time.sleep(3600)  # holding the last claim until killed


class Holder:
    """The suite's side: start a holder on ``hub`` for a target whose hubs Python can open
    (``supports``), read what it prints, and kill it (SIGKILL) when done."""

    def __init__(
        self, target: Target, hub: str, agent: str, queue_name: str, rounds: int = 1
    ) -> None:
        assert isinstance(target, InProcessTarget), "see Holder.supports"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agentcomm_conformance.targets.holder",
                target.racer_spec,
                hub,
                agent,
                queue_name,
                str(rounds),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @staticmethod
    def supports(target: Target) -> bool:
        return isinstance(target, InProcessTarget)

    @staticmethod
    def start(
        target: Target, hub: str, agent: str, queue_name: str, rounds: int = 1
    ) -> Holder | DriverHolder:
        """A holder of the kind ``target`` needs; ``pytest.skip`` where there is none."""
        if isinstance(target, DriverTarget):
            return DriverHolder(target, hub, agent, queue_name, rounds)
        if Holder.supports(target):
            return Holder(target, hub, agent, queue_name, rounds)
        import pytest

        pytest.skip(f"a {type(target).__name__} cannot be started as a waiting agent process")

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


class DriverHolder:
    """The same holder, as a driver process of the target on the system clock."""

    def __init__(
        self, target: DriverTarget, hub: str, agent: str, queue_name: str, rounds: int = 1
    ) -> None:
        handle = target.open(hub, agent, None)
        assert isinstance(handle, DriverHub)
        self.handle: DriverHub = handle
        self.driver: DriverProcess = handle.driver
        self.queue_name: str = queue_name
        self.left: int = rounds
        self.pending: tuple[int, float, float] | None = None  # request id, wall, cpu at start

    def waiting(self) -> None:
        """Send the claim; the driver blocks in it from now on."""
        request = self.driver.submit("claim", source=self.queue_name, wait=WAIT)
        self.pending = (request, time.monotonic(), process_tree_cpu(self.driver.pid))

    def claimed(self) -> dict[str, Any]:
        assert self.pending is not None, "waiting() first"
        request, wall, cpu = self.pending
        claim: Claim | None = self.driver.collect(request)
        returned_at = time.time()
        wall, cpu = time.monotonic() - wall, process_tree_cpu(self.driver.pid) - cpu
        self.left -= 1
        if claim is not None and self.left > 0:
            self.driver.call("complete", message_id=claim.id, token=claim.token)
        return {
            "id": None if claim is None else claim.id,
            "lease_expires_at": None if claim is None else claim.lease_expires_at,
            "returned_at": returned_at,
            "wall": wall,
            "cpu": cpu,
        }

    def kill(self) -> None:
        self.driver.kill()

    def __enter__(self) -> DriverHolder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.driver.close()


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used by ``pid`` and every process under it (with the children they
    reaped), from ``/proc``; ``pytest.skip`` where there is no ``/proc`` to read."""
    import os

    if not os.path.isdir(f"/proc/{os.getpid()}"):
        import pytest

        pytest.skip("the CPU time of a driver process is read from /proc (Linux only)")
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as f:
                    fields = f.read().rpartition(")")[2].split()
            except OSError:  # it ended meanwhile
                continue
            # After "pid (comm)": state ppid ... utime(14) stime cutime cstime (proc(5)).
            stats[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]))
    ticks, tree = 0, [pid] if pid in stats else []  # gone: collect() says how it ended
    while tree:
        current = tree.pop()
        ticks += stats[current][1]
        tree += [child for child, (parent, _) in stats.items() if parent == current]
    return ticks / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main(*sys.argv[1:6])
