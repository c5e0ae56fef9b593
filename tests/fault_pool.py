"""The worker pool of ``test_faults_at_scale.py``, run as its own process.

``python tests/fault_pool.py pool CONFIG`` imports agentcomm once and forks workers of one
role (``crunch``, ``answer`` or ``race``) on the hub, dooming them to SIGKILL while kills
remain and replacing each killed one; ``python tests/fault_pool.py hold URL`` claims one
task and keeps its lease alive until told to finish.  The test module's docstring says
why it is done this way.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import mmap
import os
import random
import select
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agentcomm import Claim, Conflict, Hub, connect

T = TypeVar("T")
QUEUE = "chaos"
WORK = 0.01  # seconds of "work" per task, so that most kills land with a task in hand
DOOM_WITHIN = {"crunch": 8, "answer": 4}  # a doomed worker dies on one of its first
# this-many tasks (from the second on): answering is quick, so it needs dooming sooner for
# a hundred kills to land before the requests run out
DEADLINE = 60.0  # seconds the pool's workers wait to be told to start
STOP_GRACE = 10.0  # seconds the pool gives its workers to stop when told


@dataclasses.dataclass(frozen=True)
class Fate:
    """How a doomed worker dies: during its ``task``-th task, ``share`` of the way through
    the step it is aimed at (the work, or a typical reply)."""

    task: int
    share: float


class Flags:
    """Bytes shared by the pool and its forked workers (an anonymous shared mapping):
    [0] stop, [1] go, [2 + slot] ready."""

    def __init__(self, slots: int) -> None:
        self.memory = mmap.mmap(-1, 2 + slots)

    @property
    def stopping(self) -> bool:
        return self.memory[0] == 1

    def stop(self) -> None:
        self.memory[0] = 1

    def ready(self, slot: int) -> None:
        self.memory[2 + slot] = 1

    def all_ready(self) -> bool:
        return all(self.memory[2:])

    def go(self) -> None:
        self.memory[1] = 1

    def wait_for_go(self) -> None:
        end = time.monotonic() + DEADLINE
        while self.memory[1] != 1:
            if time.monotonic() > end:
                raise RuntimeError("the pool never said go")
            time.sleep(0.001)


class Journal:
    """A worker's record of its steps: one ``write`` per line, append-only, never buffered,
    so a SIGKILL loses nothing already noted."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def note(self, *words: str) -> None:
        os.write(self.fd, (" ".join(words) + "\n").encode())


class Worker:
    """One forked worker: its hub handle, its journal and its fate."""

    def __init__(self, hub: Hub, journal: Journal, fate: Fate | None, flags: Flags) -> None:
        self.hub, self.journal, self.fate, self.flags = hub, journal, fate, flags
        self.tasks = 0
        self.reply_seconds = 0.001  # a running mean, where kills around a reply aim

    def take(self, wait: float) -> Claim | None:
        claim = self.hub.claim(QUEUE, wait=wait)
        if claim is not None:
            self.tasks += 1
            self.journal.note("claimed", claim.id)
        return claim

    def doom_now(self, span: float) -> None:
        """If this task is the fated one, SIGKILL this process ``share`` of ``span`` from now."""
        if self.fate is not None and self.tasks == self.fate.task:
            killer = threading.Timer(self.fate.share * span, os.kill, (os.getpid(), signal.SIGKILL))
            killer.daemon = True
            killer.start()

    def finish(
        self, claim: Claim, noting: str, action: Callable[[], T], doom_span: float | None = None
    ) -> T | Refused:
        """Note ``noting <id>``, then run the finishing call (doomed within ``doom_span``
        of its start, if fated); a refusal is noted, not raised."""
        self.journal.note(noting, claim.id)
        if doom_span is not None:
            self.doom_now(doom_span)
        try:
            return action()
        except Conflict as refused:
            self.journal.note("refused", claim.id, type(refused).__name__)
            return Refused()


class Refused:
    """What ``Worker.finish`` returns when the hub refused the call (StaleLease...)."""


def crunch(worker: Worker) -> None:
    """Claim, work a little, complete, until told to stop; doomed mid-task."""
    while not worker.flags.stopping:
        claim = worker.take(wait=0.1)
        if claim is None:
            continue
        worker.doom_now(1.2 * WORK)
        do_work()
        done = worker.finish(
            claim, "completing", functools.partial(worker.hub.complete, claim.id, claim.token)
        )
        if not isinstance(done, Refused):
            worker.journal.note("completed", claim.id)


def do_work() -> None:
    """The task itself: it takes a while, like real work (this is not synchronisation)."""
    time.sleep(WORK)


def answer(worker: Worker) -> None:
    """Answer requests with ``reply``, until told to stop; doomed around a reply."""
    while not worker.flags.stopping:
        claim = worker.take(wait=0.1)
        if claim is None:
            continue
        square = {"square": claim.message.payload["n"] ** 2}
        started = time.perf_counter()
        reply = worker.finish(
            claim,
            "replying",
            functools.partial(worker.hub.reply, claim.id, claim.token, square),
            doom_span=worker.reply_seconds,
        )
        if not isinstance(reply, Refused):
            took = time.perf_counter() - started
            worker.reply_seconds = 0.8 * worker.reply_seconds + 0.2 * took
            worker.journal.note("replied", claim.id, reply.id)


def race(worker: Worker) -> None:
    """Start with the others, then claim and complete until the queue is empty."""
    worker.flags.wait_for_go()
    while (claim := worker.take(wait=0.0)) is not None:
        done = worker.finish(
            claim, "completing", functools.partial(worker.hub.complete, claim.id, claim.token)
        )
        if not isinstance(done, Refused):
            worker.journal.note("completed", claim.id)


ROLES: dict[str, Callable[[Worker], None]] = {"crunch": crunch, "answer": answer, "race": race}


@dataclasses.dataclass
class Child:
    agent: str
    slot: int
    fate: Fate | None


class Supervisor:
    """Forks the workers, dooms them while kills remain, reaps and replaces the killed."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.rng = random.Random(config["seed"])
        self.flags = Flags(config["size"])
        self.children: dict[int, Child] = {}
        self.doomed = 0
        self.killed: list[str] = []
        self.agents: list[str] = []
        self.failures: list[str] = []

    def start(self, slot: int) -> None:
        fate = None
        if self.doomed < self.config["kills"]:
            self.doomed += 1
            share = self.rng.uniform(0.0, 1.5 if self.config["role"] == "answer" else 1.0)
            fate = Fate(self.rng.randint(2, DOOM_WITHIN[self.config["role"]]), share)
        agent = f"@chaos.w{len(self.agents):03d}"
        self.agents.append(agent)
        sys.stdout.flush()
        pool = os.getpid()
        pid = os.fork()
        if pid == 0:
            die_with_parent(pool)
            os._exit(work_in_child(self.config, agent, slot, fate, self.flags))
        self.children[pid] = Child(agent, slot, fate)

    def reap(self) -> None:
        """Collect dead workers; a doomed one that died of SIGKILL is counted and replaced."""
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            child = self.children.pop(pid)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL and child.fate:
                self.killed.append(child.agent)
                if not self.flags.stopping:
                    self.start(child.slot)
            elif os.waitstatus_to_exitcode(status) != 0:
                self.failures.append(f"{child.agent} ended with status {status}")

    def run(self) -> None:
        # Open and close one handle first: the workers fork with the backend's modules
        # imported and its caches warm (importing redis-py alone costs ~0.3 s), and no
        # connection is open across a fork.
        connect(self.config["url"]).close()
        for slot in range(self.config["size"]):
            self.start(slot)
        while not told_to_stop():
            self.reap()
            if not self.flags.memory[1] and self.flags.all_ready():
                self.flags.go()
        self.flags.stop()
        end = time.monotonic() + STOP_GRACE
        while self.children and time.monotonic() < end:
            self.reap()
            time.sleep(0.01)
        for pid, child in self.children.items():  # our unreaped children: safe to signal
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            self.failures.append(f"{child.agent} did not stop within {STOP_GRACE:g}s")

    def report(self) -> dict[str, Any]:
        return {
            "kills": len(self.killed),
            "killed": self.killed,
            "agents": self.agents,
            "failures": self.failures,
            "seed": self.config["seed"],
        }


def told_to_stop() -> bool:
    """Whether the test wrote ``stop`` (or went away); waits up to 10 ms to hear it."""
    readable, _, _ = select.select([sys.stdin], [], [], 0.01)
    return bool(readable) and sys.stdin.readline().strip() in {"stop", ""}


def work_in_child(
    config: dict[str, Any], agent: str, slot: int, fate: Fate | None, flags: Flags
) -> int:
    """The forked worker's life; its exit status."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)  # the pool's pipes belong to the pool
    os.dup2(devnull, 1)
    sys.setswitchinterval(0.0002)  # the doom timer thread fires on time
    try:
        journal = Journal(Path(config["logs"]) / f"{agent}.log")
        with connect(config["url"], agent=agent) as hub:
            flags.ready(slot)
            ROLES[config["role"]](Worker(hub, journal, fate, flags))
    except BaseException:
        traceback.print_exc()
        sys.stderr.flush()
        return 1
    return 0


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies, so no worker outlives a
    pool that was itself killed (and exit now if the parent died before the asking)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def hold(url: str) -> None:
    """Claim one task and keep its lease alive with a keeper thread until told to finish;
    then try to complete it.  Prints what happened, one JSON object per line."""
    with connect(url, agent="@chaos.frozen") as hub:
        claim = hub.claim(QUEUE, wait=10.0)
        assert claim is not None, "no task to hold"
        say({"claimed": claim.id})
        stop = threading.Event()
        keeper = threading.Thread(target=keep_lease, args=(hub, claim, stop))
        keeper.start()
        sys.stdin.readline()  # the work lasts until the test says it is over
        stop.set()
        keeper.join()
        try:
            hub.complete(claim.id, claim.token)
            say({"complete": "ok"})
        except Conflict as refused:
            say({"complete": type(refused).__name__})


def keep_lease(hub: Hub, claim: Claim, stop: threading.Event) -> None:
    """Renew the lease every fifth of it while the holder runs; stop at a refusal."""
    while not stop.wait(claim.message.timeout_seconds / 5):
        try:
            hub.extend(claim.id, claim.token)
        except Conflict as refused:
            say({"extend": type(refused).__name__})
            return
        say({"extended": claim.id})


def say(value: object) -> None:
    print(json.dumps(value), flush=True)


def main(argv: list[str]) -> None:
    if argv[0] == "pool":
        supervisor = Supervisor(json.loads(argv[1]))
        with contextlib.suppress(KeyboardInterrupt):
            supervisor.run()
        say(supervisor.report())
    elif argv[0] == "hold":
        hold(argv[1])


if __name__ == "__main__":
    main(sys.argv[1:])
