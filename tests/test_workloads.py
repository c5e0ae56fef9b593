"""Generated workloads, raced by real worker processes on one shared hub, judged by history.

Hypothesis draws a workload: 2 to 6 workers (``workload_worker.py``, each its own OS
process) of which some fail every n-th task or SIGKILL themselves after a claim, and
tasks with priorities, retry budgets, slow first deliveries (the worker comes back after
its lease ran out) and poison.  The producer sends the tasks in batches while the workers
race for them on the real clock with short leases and backoffs; every call anyone makes
is recorded; when every task is finished the workers stop, each task's end is read, and
``history.check`` must find no broken promise (no task lost, never two live claims,
completed at most once, stale completes refused, retries bounded, priority order kept;
see its docstring for what exactly can be decided under concurrency).

Backends: those other processes can reach (a SQLite file, a private redis-server).
Examples: 8 in the ``ci`` profile, a twentieth of the profile's ``max_examples``
otherwise (50 under ``deep``); each is bounded by ``DEADLINE`` per wait.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from agentcomm import Outgoing, Status, connect
from agentcomm.urls import fresh_url
from history import Recorder, load
from history_check import Kind, Violation, check
from support import spawn, until

pytestmark = [pytest.mark.slow]

WORKER = Path(__file__).with_name("workload_worker.py")
QUEUE = "jobs"
LIVE_OPTIONS = "backoff_base=0.05&backoff_max=0.2"
DEADLINE = 30.0  # seconds any one wait may take before the example fails
EXAMPLES = max(8, settings().max_examples // 20)  # the loaded profile's, scaled down
if EXAMPLES > 8:  # more examples than the ini's 300 s per test may allow
    pytestmark.append(pytest.mark.timeout(60 * EXAMPLES))


@dataclasses.dataclass(frozen=True)
class WorkerPlan:
    limit: int  # 1: claim; more: claim_many
    fail_every: int  # fail every n-th task handled (0: never)
    crash_after: int | None  # SIGKILL itself after this many claims


@dataclasses.dataclass(frozen=True)
class TaskPlan:
    priority: int
    max_retries: int
    slow: int  # deliveries (by retry_count) on which the worker outlasts its lease
    poison: bool


@dataclasses.dataclass(frozen=True)
class Workload:
    workers: tuple[WorkerPlan, ...]
    batches: tuple[tuple[TaskPlan, ...], ...]
    lease: float

    @property
    def tasks(self) -> int:
        return sum(len(b) for b in self.batches)


worker_plans = st.builds(
    WorkerPlan,
    limit=st.integers(1, 3),
    fail_every=st.sampled_from([0, 0, 2, 3]),
    crash_after=st.sampled_from([None, None, 1, 2]),
)
task_plans = st.builds(
    TaskPlan,
    priority=st.integers(0, 2),
    max_retries=st.integers(0, 2),
    slow=st.sampled_from([0, 0, 0, 1]),
    poison=st.sampled_from([False] * 9 + [True]),
)


@st.composite
def workloads(draw: st.DrawFn) -> Workload:
    """At least one worker never crashes, so the work always gets done."""
    workers = draw(st.lists(worker_plans, min_size=2, max_size=6))
    workers[0] = dataclasses.replace(workers[0], crash_after=None)
    tasks = draw(st.lists(task_plans, min_size=3, max_size=30))
    count = draw(st.integers(1, 3))
    batches = tuple(tuple(tasks[i::count]) for i in range(count))
    return Workload(tuple(workers), batches, draw(st.sampled_from([0.3, 0.6])))


class Run:
    """One workload on one fresh hub: its workers, its producer, its history files."""

    def __init__(
        self, url: str, directory: Path, workload: Workload, mutant: str | None = None
    ) -> None:
        self.url, self.directory, self.workload, self.mutant = url, directory, workload, mutant
        self.stop_file = directory / "stop"
        self.producer = Recorder(directory / "producer.jsonl", "producer")
        self.hub = connect(url, agent="@producer")
        self.workers: list[subprocess.Popen[bytes]] = []
        self.task_ids: list[str] = []

    def start_workers(self) -> None:
        for n, plan in enumerate(self.workload.workers):
            agent = f"@worker.{n}"
            config = {
                "url": self.url,
                "agent": agent,
                "queue": QUEUE,
                "history": str(self.directory / f"{agent}.jsonl"),
                "stop": str(self.stop_file),
                "mutant": self.mutant,
                **dataclasses.asdict(plan),
            }
            with (self.directory / f"{agent}.err").open("wb") as errors:
                self.workers.append(
                    spawn(
                        [sys.executable, str(WORKER), json.dumps(config)],
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                    )
                )
        until(self._all_ready, DEADLINE)

    def _all_ready(self) -> bool:
        self._no_worker_failed()
        ready = [r for r in load(self.histories()) if r["op"] == "ready"]
        return len(ready) == len(self.workers)

    def _no_worker_failed(self) -> None:
        for n, proc in enumerate(self.workers):
            if proc.poll() not in (None, 0, -signal.SIGKILL):
                errors = (self.directory / f"@worker.{n}.err").read_text(errors="replace")
                raise AssertionError(f"worker {n} exited {proc.returncode}:\n{errors}")

    def send_batches(self) -> None:
        """Each batch once the workers are busy with the previous one, so sends race claims."""
        for batch in self.workload.batches:
            self._send(batch)
            until(self._some_taken, DEADLINE)

    def _send(self, batch: tuple[TaskPlan, ...]) -> None:
        items = [
            Outgoing(
                QUEUE,
                "task",
                {"slow": t.slow, "poison": t.poison},
                t.priority,
                self.workload.lease,
                t.max_retries,
            )
            for t in batch
        ]
        first = len(self.task_ids)
        sent = self.producer.timed(
            "send",
            lambda: self.hub.send_many(items),
            lambda messages: {
                "tasks": [_task_record(m, first + i) for i, m in enumerate(messages)]
            },
        )
        assert sent is not None
        self.task_ids += [m.id for m in sent]

    def _some_taken(self) -> bool:
        self._no_worker_failed()
        return self._depth("pending") < len(self.task_ids)

    def _depth(self, status: str) -> int:
        return int(self.hub.stats().depths.get(QUEUE, {}).get(status, 0))

    def wait_until_every_task_is_finished(self) -> None:
        def finished() -> bool:
            self._no_worker_failed()
            return self._depth("completed") + self._depth("dead") == len(self.task_ids)

        until(finished, DEADLINE)

    def stop_workers(self) -> None:
        self.stop_file.touch()
        for n, (proc, plan) in enumerate(zip(self.workers, self.workload.workers, strict=True)):
            code = proc.wait(timeout=DEADLINE)
            crashed = code == -signal.SIGKILL and plan.crash_after is not None
            assert code == 0 or crashed, f"worker {n} ({plan}) exited {code}"

    def record_the_end(self) -> None:
        for task_id in self.task_ids:
            m = self.hub.get(task_id)
            self.producer.write(
                "final", id=task_id, status=m.status.value, retry_count=m.retry_count
            )

    def histories(self) -> list[Path]:
        return sorted(self.directory.glob("*.jsonl"))

    def close(self) -> None:
        """Kill what is still running (an example that failed half-way), close files."""
        for proc in self.workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.producer.close()
        self.hub.close()


def _task_record(m: Any, seq: int) -> dict[str, Any]:
    return {
        "id": m.id,
        "queue": m.to_agent,
        "priority": int(m.priority),
        "max_retries": m.max_retries,
        "timeout": m.timeout_seconds,
        "seq": seq,
        "available_at": m.available_at,
    }


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("redis", id="redis", marks=pytest.mark.redis),
    ]
)
def fresh_hubs(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[[], tuple[str, Path]]]:
    """A maker of (URL, directory): a new, empty, created hub that other processes can
    reach, and a directory for its run's files (one per example)."""
    template = (
        f"sqlite:///{tmp_path / 'unused.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("redis_server").url
    )

    def make() -> tuple[str, Path]:
        directory = tmp_path / uuid.uuid4().hex[:8]
        directory.mkdir()
        url = fresh_url(f"{template}?{LIVE_OPTIONS}", directory)
        connect(url, create=True).close()
        return url, directory

    yield make


def race(
    make_hub: Callable[[], tuple[str, Path]], workload: Workload, mutant: str | None = None
) -> tuple[list[Violation], Path]:
    """Run ``workload`` to its end on a fresh hub; the violations its history shows."""
    url, directory = make_hub()
    run = Run(url, directory, workload, mutant)
    try:
        run.start_workers()
        run.send_batches()
        run.wait_until_every_task_is_finished()
        run.stop_workers()
        run.record_the_end()
    finally:
        run.close()
    records = load(run.histories())
    return check(records), directory


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(workload=workloads())
def test_racing_worker_processes_keep_every_promise_of_the_task_queue(
    fresh_hubs: Callable[[], tuple[str, Path]], workload: Workload
) -> None:
    violations, directory = race(fresh_hubs, workload)
    _note(load(directory.glob("*.jsonl")))
    assert not violations, f"{len(violations)} broken promises, history in {directory}:\n" + (
        "\n".join(map(str, violations[:20]))
    )


# -- the race can fail: broken hubs (tests/mutants) under fixed workloads -------------------


def _tasks(*plans: TaskPlan) -> tuple[tuple[TaskPlan, ...], ...]:
    return (plans,)


ANY_ORDER = Workload(
    (WorkerPlan(1, 0, None),) * 2,
    _tasks(*(TaskPlan(priority=n % 3, max_retries=1, slow=0, poison=False) for n in range(12))),
    0.6,
)
LATE_WORKERS = Workload(
    (WorkerPlan(1, 0, None),) * 2,
    _tasks(*(TaskPlan(priority=1, max_retries=1, slow=1, poison=False) for _ in range(4))),
    0.3,
)
CROWD = Workload(
    (WorkerPlan(1, 0, None),) * 6,
    _tasks(*(TaskPlan(priority=1, max_retries=2, slow=0, poison=False) for _ in range(30))),
    0.6,
)


@pytest.mark.parametrize(
    ("mutant", "workload", "caught"),
    [
        pytest.param("priority_ignored", ANY_ORDER, Kind.PRIORITY_INVERSION, id="priority"),
        pytest.param(
            "stale_token_accepted", LATE_WORKERS, Kind.STALE_COMPLETE_ACCEPTED, id="stale-token"
        ),
        pytest.param("claim_select_then_update", CROWD, Kind.TWO_LIVE_CLAIMS, id="select-update"),
    ],
)
def test_the_race_catches_a_broken_hub(
    tmp_path: Path, mutant: str, workload: Workload, caught: Kind
) -> None:
    """Each defect shows in the history of an ordinary run (the workers use the mutant,
    the producer the reference hub, on one SQLite file)."""

    def make_hub() -> tuple[str, Path]:
        url = f"sqlite:///{tmp_path / 'hub.db'}?{LIVE_OPTIONS}"
        connect(url, create=True).close()
        return url, tmp_path

    violations, _ = race(make_hub, workload, mutant)
    assert caught in {v.kind for v in violations}, violations


def _note(records: list[dict[str, Any]]) -> None:
    """What the example exercised, for ``--hypothesis-show-statistics``."""
    ops = [r["op"] for r in records]
    refused = sum(1 for r in records if r["op"] == "complete" and not r["ok"])
    event(f"crashes: {min(ops.count('crash'), 3)}")
    event(f"refused completes: {min(refused, 3)}")
    dead = sum(1 for r in records if r["op"] == "final" and r["status"] == Status.DEAD.value)
    event(f"dead letters: {min(dead, 3)}")
