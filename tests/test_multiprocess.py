"""One hub file shared by separate OS processes, as agents use it.

Every agent here is its own Python process (``tests/procs.py``); the tests wait on what
those processes print or on hub state, with a deadline, and never sleep to synchronise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Outgoing, Priority, Status, connect
from support import spawn, until

PROCS = str(Path(__file__).with_name("procs.py"))
pytestmark = pytest.mark.slow


def start(role: str, *args: str) -> subprocess.Popen[str]:
    return spawn(
        [sys.executable, PROCS, role, *args], stdout=subprocess.PIPE, text=True, encoding="utf-8"
    )


def run(role: str, *args: str) -> Any:
    """Run a role to its end and return the last JSON value it printed."""
    done = subprocess.run(
        [sys.executable, PROCS, role, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


@pytest.fixture
def url(shared_url: str) -> str:
    return shared_url


@pytest.fixture
def coordinator(url: str) -> Iterator[Hub]:
    with connect(url, agent="@coordinator.backend") as hub:
        yield hub


def test_four_worker_processes_complete_each_of_1000_tasks_exactly_once(
    url: str, coordinator: Hub
) -> None:
    workers = [start("worker", url, f"@worker.batch.{i:03}", DEFAULT_QUEUE) for i in range(4)]
    for worker in workers:  # every worker is waiting on the queue before the tasks land
        assert worker.stdout is not None
        assert json.loads(worker.stdout.readline()) == "ready"
    tasks = coordinator.send_many(
        [Outgoing(DEFAULT_QUEUE, "process_batch", {"batch_id": i}) for i in range(1000)]
    )
    # Strict priority hands the low-priority stops out only after every task.
    coordinator.send_many([Outgoing(DEFAULT_QUEUE, "stop", None, Priority.LOW) for _ in workers])
    done = [json.loads(w.communicate(timeout=120)[0].splitlines()[-1]) for w in workers]
    completed = [task_id for ids in done for task_id in ids]
    assert sorted(completed, key=int) == [t.id for t in tasks]  # each once, none missing
    assert sum(1 for ids in done if ids) >= 2, "the workers did not compete"
    depth = coordinator.stats().depths[DEFAULT_QUEUE]
    assert depth == {"completed": 1004}


def test_a_task_held_by_a_worker_killed_with_sigkill_is_completed_by_another_after_its_lease(
    url: str, coordinator: Hub
) -> None:
    task = coordinator.send(DEFAULT_QUEUE, "process_batch", {"batch_id": 7}, timeout_seconds=1)
    victim = start("hang", url, "@worker.victim", DEFAULT_QUEUE)
    assert victim.stdout is not None
    assert json.loads(victim.stdout.readline()) == task.id
    victim.kill()
    victim.wait(timeout=10)
    assert coordinator.get(task.id).status is Status.PROCESSING  # the dead still holds it
    survivor = start("worker", url, "@worker.survivor", DEFAULT_QUEUE)
    until(lambda: coordinator.get(task.id).status is Status.COMPLETED)
    coordinator.send(DEFAULT_QUEUE, "stop", None)
    assert json.loads(survivor.communicate(timeout=30)[0].splitlines()[-1]) == [task.id]
    final = coordinator.get(task.id)
    assert (final.retry_count, final.claimed_by, final.last_error) == (
        1,
        "@worker.survivor",
        "lease expired",
    )


def test_a_killed_workers_task_with_no_retries_left_is_dead_lettered(
    url: str, coordinator: Hub
) -> None:
    task = coordinator.send(DEFAULT_QUEUE, "process_batch", {}, timeout_seconds=0.5, max_retries=0)
    victim = start("hang", url, "@worker.victim", DEFAULT_QUEUE)
    assert victim.stdout is not None
    assert json.loads(victim.stdout.readline()) == task.id
    victim.kill()
    victim.wait(timeout=10)
    until(lambda: coordinator.sweep() or coordinator.get(task.id).status is Status.DEAD)
    (dead,) = coordinator.dead_letters()
    assert (dead.id, dead.status, dead.last_error) == (task.id, Status.DEAD, "lease expired")


def test_a_reply_written_before_the_requester_waits_is_still_returned(url: str) -> None:
    request_id = run("request", url, "@backend.nodejs", "@service.auth")  # then exits
    assert run("answer", url, "@service.auth") == request_id  # nobody is waiting
    reply = run("wait_reply", url, "@backend.nodejs", request_id)  # a later process waits
    assert reply == {"valid": True, "for": {"token": "abc123"}}


def test_an_offline_subscriber_catches_up_on_every_event_in_publish_order(url: str) -> None:
    run("subscribe", url, "@analytics.tracker", "user_login", "user_logout")
    run("publish", url, "@service.auth", "user_login", "25")  # the subscriber is not running
    run("publish", url, "@service.auth", "ignored", "5")
    run("publish", url, "@service.auth", "user_logout", "10")
    expected = [["user_login", i] for i in range(25)] + [["user_logout", i] for i in range(10)]
    assert run("read_events", url, "@analytics.tracker") == expected
    assert run("read_events", url, "@analytics.tracker") == []  # each event once


INJECTIONS = [
    "'; DROP TABLE agent_messages; --",
    '" OR 1=1 --',
    "a|b|c|d",
    "line one\nline two\r\nline three",
    "nul\u0000inside",
    "$(touch /tmp/pwned) `id` ${HOME}",
    "%s %d {0} \\ \\\\",
    "emoji 🚀 and right-to-left עברית",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("text", INJECTIONS, ids=range(len(INJECTIONS)))
def test_hostile_text_round_trips_between_processes_unchanged(url: str, text: str) -> None:
    payload = {"text": text, "nested": [text, {text: text}]}
    run("send", url, "@backend.nodejs", "@service.auth", json.dumps(payload))
    assert run("receive", url, "@service.auth") == payload
