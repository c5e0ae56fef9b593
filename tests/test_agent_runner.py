"""The agent loop runtime (``agentcomm.agent`` and ``agentcomm agent run``).

Handlers are real programs (small Python scripts written to ``tmp_path``).  Tests that
need the agent to run *beside* the test (leases, signals) start it as its own process
and wait on observable state (hub rows, files) with a bounded deadline, never a sleep.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import ConfigurationError, Hub, InvalidInput, Status
from agentcomm.agent import AgentConfig, AgentRunner, StopFlag, parse_handler
from support import opening, spawn, until

DEADLINE = 10.0

Hubs = Callable[..., Hub]
Script = Callable[..., str]

ECHO = """
import json, os, sys
payload = json.load(sys.stdin)
names = ["AGENTCOMM_URL", "AGENTCOMM_AGENT", "AGENTCOMM_MESSAGE_ID", "AGENTCOMM_FROM",
         "AGENTCOMM_TO", "AGENTCOMM_TYPE", "AGENTCOMM_CORRELATION_ID", "AGENTCOMM_PRIORITY",
         "AGENTCOMM_RETRY_COUNT", "AGENTCOMM_MAX_RETRIES"]
print(json.dumps({"got": payload, "argv": sys.argv[1:],
                  "env": {n: os.environ.get(n) for n in names}}))
"""
PRINT_TEXT = """
import sys
sys.stdout.write(sys.argv[1])
"""
FAIL = """
import sys
sys.stderr.write("boom: cannot process\\n")
sys.exit(int(sys.argv[1]))
"""
SLOW = """
import os, sys, time
with open(sys.argv[1], "a") as log:
    log.write(f"{os.getpid()}\\n")
time.sleep(float(sys.argv[2]))
print('"done"')
"""
RECORD_EVENT = """
import json, os, sys
event = json.load(sys.stdin)
names = ["AGENTCOMM_URL", "AGENTCOMM_AGENT", "AGENTCOMM_EVENT_ID", "AGENTCOMM_EVENT_TYPE",
         "AGENTCOMM_PUBLISHER", "AGENTCOMM_PUBLISHED_AT"]
with open(sys.argv[1], "a") as log:
    log.write(json.dumps({"event": event, "env": {n: os.environ[n] for n in names}}) + "\\n")
"""


@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def hubs(url: str) -> Iterator[Hubs]:
    yield from opening(url)


@pytest.fixture
def script(tmp_path: Path) -> Script:
    """``script(SOURCE, *args)`` -> a handler command line running that Python source."""

    def make(source: str, *args: str) -> str:
        path = tmp_path / f"handler_{abs(hash(source))}.py"
        path.write_text(source, encoding="utf-8")
        return shlex.join([sys.executable, str(path), *args])

    return make


def run_inline(hub: Hub, url: str, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the loop in this process until its stop condition; (summary, log lines)."""
    handlers = options.pop("handlers", {})
    events = options.pop("event_handlers", {})
    config = AgentConfig(
        handlers={k: tuple(shlex.split(c)) for k, c in handlers.items()},
        event_handlers={k: tuple(shlex.split(c)) for k, c in events.items()},
        url=url,
        **options,
    )
    log = io.StringIO()
    summary = AgentRunner(hub, config, StopFlag(), log=log).run()
    return vars(summary), [json.loads(line) for line in log.getvalue().splitlines()]


def start_agent(url: str, agent: str, tmp_path: Path, *options: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "agentcomm.cli", "--url", url, "agent", "run", agent, *options]
    log = open(tmp_path / f"{agent[1:]}.log", "w")  # noqa: SIM115 - the child keeps it
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    return spawn(command, stdout=subprocess.PIPE, stderr=log, text=True, env=env)


def alive(hub: Hub, agent: str) -> bool:
    return any(a.agent_id == agent and a.alive for a in hub.agents())


# -- dispatch --------------------------------------------------------------------------------
def test_each_message_type_goes_to_its_handler_and_gets_a_reply(
    hubs: Hubs, url: str, script: Script
) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    first = sender.send(
        "@worker", "alpha", {"n": 1}, correlation_id="req_1", priority="high", max_retries=2
    )
    second = sender.send("@worker", "beta", [2])
    handlers = {"alpha": script(ECHO, "A"), "beta": script(ECHO, "B")}
    summary, log = run_inline(worker, url, handlers=handlers, max_messages=2)

    replies = [sender.get_reply(m.id) for m in (first, second)]
    assert [r.payload["argv"] for r in replies if r] == [["A"], ["B"]]
    assert [r.payload["got"] for r in replies if r] == [{"n": 1}, [2]]
    env = replies[0].payload["env"] if replies[0] else {}
    assert env == {
        "AGENTCOMM_URL": url,
        "AGENTCOMM_AGENT": "@worker",
        "AGENTCOMM_MESSAGE_ID": first.id,
        "AGENTCOMM_FROM": "@sender",
        "AGENTCOMM_TO": "@worker",
        "AGENTCOMM_TYPE": "alpha",
        "AGENTCOMM_CORRELATION_ID": "req_1",
        "AGENTCOMM_PRIORITY": "high",
        "AGENTCOMM_RETRY_COUNT": "0",
        "AGENTCOMM_MAX_RETRIES": "2",
    }
    assert summary["handled"] == 2 and summary["failed"] == 0
    assert [line["outcome"] for line in log if line["log"] == "message"] == ["replied"] * 2


def test_an_unknown_type_gets_an_error_reply(hubs: Hubs, url: str, script: Script) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    sent = sender.send("@worker", "mystery", {})
    summary, _ = run_inline(worker, url, handlers={"known": script(ECHO)}, max_messages=1)
    reply = sender.get_reply(sent.id)
    assert reply is not None and reply.status.value == "error"
    assert reply.payload == {"error": "unknown_message_type", "type": "mystery"}
    assert summary["failed"] == 1


@pytest.mark.parametrize(
    ("stdout", "payload"),
    [
        ('{"valid": true}\n', {"valid": True}),
        ("plain words\n", "plain words"),
        ("two\nlines\n\n", "two\nlines\n"),
        ("NaN", "NaN"),
        ("", None),
    ],
)
def test_handler_stdout_is_json_or_else_a_string(
    hubs: Hubs, url: str, script: Script, stdout: str, payload: Any
) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    sent = sender.send("@worker", "say", None)
    run_inline(worker, url, handlers={"say": script(PRINT_TEXT, stdout)}, max_messages=1)
    reply = sender.get_reply(sent.id)
    assert reply is not None and reply.payload == payload


def test_a_payload_never_reaches_a_command_line_or_a_shell(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    trap = tmp_path / "pwned"
    evil = {"cmd": f"$(touch {trap}); touch {trap} | `touch {trap}`", "quote": "'\"\\"}
    sent = sender.send("@worker", "echo", evil)
    run_inline(worker, url, handlers={"echo": script(ECHO, "fixed arg")}, max_messages=1)
    reply = sender.get_reply(sent.id)
    assert reply is not None and reply.payload["argv"] == ["fixed arg"]
    assert reply.payload["got"] == evil
    assert not trap.exists()


def test_tasks_are_taken_from_each_queue_given(hubs: Hubs, url: str, script: Script) -> None:
    coordinator, worker = hubs("@coordinator"), hubs("@worker")
    task = coordinator.send("ANY_AVAILABLE", "job", {"batch": 1})
    summary, _ = run_inline(
        worker, url, handlers={"job": script(ECHO)}, queues=("ANY_AVAILABLE",), max_messages=1
    )
    assert coordinator.get(task.id).status is Status.COMPLETED
    assert summary["handled"] == 1


# -- failures --------------------------------------------------------------------------------
def test_a_failing_handler_is_retried_then_dead_lettered(
    hubs: Hubs, url: str, script: Script
) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    sent = sender.send("@worker", "flaky", {}, max_retries=2)
    summary, log = run_inline(worker, url, handlers={"flaky": script(FAIL, "3")}, max_messages=3)
    dead = sender.get(sent.id)
    assert dead.status is Status.DEAD and dead.retry_count == 2
    assert dead.last_error == "handler exited 3: boom: cannot process\n"
    outcomes = [line["outcome"] for line in log if line["log"] == "message"]
    assert outcomes == ["retrying", "retrying", "dead"]
    assert summary["failed"] == 3


def test_a_handler_that_cannot_start_fails_the_message_for_a_retry(
    hubs: Hubs, url: str, tmp_path: Path
) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    sent = sender.send("@worker", "t", {}, max_retries=0)
    gone = str(tmp_path / "deleted-since-startup")
    summary, _ = run_inline(worker, url, handlers={"t": gone}, max_messages=1)
    dead = sender.get(sent.id)
    assert dead.status is Status.DEAD and summary["failed"] == 1
    assert (dead.last_error or "").startswith(f"handler exited 127: cannot start {gone!r}")


def test_exit_65_dead_letters_the_message_at_once(hubs: Hubs, url: str, script: Script) -> None:
    sender, worker = hubs("@sender"), hubs("@worker")
    sent = sender.send("@worker", "poison", {}, max_retries=5)
    run_inline(worker, url, handlers={"poison": script(FAIL, "65")}, max_messages=1)
    dead = sender.get(sent.id)
    assert dead.status is Status.DEAD and dead.retry_count == 0
    assert [m.id for m in sender.dead_letters()] == [sent.id]


def test_an_idle_agent_stops_after_idle_exit_and_deregisters(
    hubs: Hubs, url: str, script: Script
) -> None:
    worker, watcher = hubs("@worker"), hubs()
    started = time.monotonic()
    summary, log = run_inline(worker, url, handlers={"x": script(ECHO)}, idle_exit=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    assert summary == {
        "agent": "@worker",
        "handled": 0,
        "failed": 0,
        "released": 0,
        "events": 0,
        "event_failures": 0,
    }
    assert [a.status for a in watcher.agents()] == ["inactive"]
    assert [line["log"] for line in log] == ["started", "stopped"]


# -- events ----------------------------------------------------------------------------------
def test_subscribed_events_run_the_on_event_command(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    listener, publisher = hubs("@listener"), hubs("@publisher")
    listener.subscribe("user_login")  # as an earlier run of this agent would have
    event = publisher.publish("user_login", {"user_id": "123"})
    record = tmp_path / "events.jsonl"
    summary, _ = run_inline(
        listener,
        url,
        idle_exit=0.5,
        event_handlers={"user_login": script(RECORD_EVENT, str(record))},
    )
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert lines == [
        {
            "event": {"user_id": "123"},
            "env": {
                "AGENTCOMM_URL": url,
                "AGENTCOMM_AGENT": "@listener",
                "AGENTCOMM_EVENT_ID": event.id,
                "AGENTCOMM_EVENT_TYPE": "user_login",
                "AGENTCOMM_PUBLISHER": "@publisher",
                "AGENTCOMM_PUBLISHED_AT": repr(event.published_at),
            },
        }
    ]
    assert summary["events"] == 1
    assert listener.subscriptions() == ["user_login"]


def test_a_failing_event_handler_is_logged_and_not_fatal(
    hubs: Hubs, url: str, script: Script
) -> None:
    listener, publisher = hubs("@listener"), hubs("@publisher")
    listener.subscribe("tick")
    publisher.publish("tick", 1)
    publisher.publish("tick", 2)
    summary, log = run_inline(
        listener, url, idle_exit=0.5, event_handlers={"tick": script(FAIL, "1")}
    )
    assert summary["event_failures"] == 2
    errors = [line["error"] for line in log if line["log"] == "event"]
    assert errors == ["handler exited 1: boom: cannot process\n"] * 2


# -- handler specs ---------------------------------------------------------------------------
def test_a_handler_spec_is_split_like_a_shell_would_but_never_run_by_one() -> None:
    kind, argv = parse_handler(f"greet={shlex.quote(sys.executable)} -c 'print(1); print(2)'")
    assert (kind, argv) == ("greet", (sys.executable, "-c", "print(1); print(2)"))


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("no-equals-sign", InvalidInput),
        ("greet=", InvalidInput),
        ("greet='unclosed", InvalidInput),
        ("bad type!=true", InvalidInput),
        ("greet=/no/such/program", ConfigurationError),
    ],
)
def test_a_bad_handler_spec_is_refused(spec: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_handler(spec)


# -- as its own process ----------------------------------------------------------------------
def test_agent_run_registers_heartbeats_and_prints_a_summary(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    sender, watcher = hubs("@sender"), hubs()
    proc = start_agent(
        url,
        "@svc",
        tmp_path,
        "--handler",
        f"ping={script(ECHO)}",
        "--capability",
        "extra",
        "--heartbeat",
        "0.2",
        "--max-messages",
        "1",
    )
    until(lambda: alive(watcher, "@svc"))
    entry = next(a for a in watcher.agents() if a.agent_id == "@svc")
    assert entry.process_id == proc.pid and set(entry.capabilities) == {"ping", "extra"}
    until(lambda: next(a for a in watcher.agents()).last_heartbeat > entry.last_heartbeat)
    sent = sender.send("@svc", "ping", {"x": 1})
    out, _ = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0
    assert json.loads(out) == {
        "agent": "@svc",
        "handled": 1,
        "failed": 0,
        "released": 0,
        "events": 0,
        "event_failures": 0,
    }
    assert sender.get(sent.id).status is Status.COMPLETED
    log = [json.loads(line) for line in (tmp_path / "svc.log").read_text().splitlines()]
    assert [line["log"] for line in log] == ["started", "message", "stopped"]


@pytest.mark.slow
def test_the_lease_is_extended_while_a_slow_handler_runs(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    sender, thief, watcher = hubs("@sender"), hubs("@thief"), hubs()
    runs = tmp_path / "runs.log"
    proc = start_agent(
        url,
        "@slow",
        tmp_path,
        "--max-messages",
        "1",
        "--queue",
        "jobs",
        "--handler",
        f"work={script(SLOW, str(runs), '2.5')}",
    )
    until(lambda: alive(watcher, "@slow"))
    sent = sender.send("jobs", "work", {}, timeout_seconds=1)
    until(runs.exists)
    # For the whole run, nobody else may claim it: its lease never lapses.
    end = time.monotonic() + DEADLINE
    while sender.get(sent.id).status is not Status.COMPLETED:
        assert thief.claim("jobs") is None
        assert time.monotonic() < end
        time.sleep(0.01)
    proc.communicate(timeout=DEADLINE)
    done = sender.get(sent.id)
    assert done.retry_count == 0 and done.last_error is None
    assert len(runs.read_text().splitlines()) == 1
    reply = sender.get_reply(sent.id)
    assert reply is not None and reply.payload == "done"


def test_sigterm_during_a_long_handler_releases_the_message_and_stops_fast(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    sender, watcher = hubs("@sender"), hubs()
    runs = tmp_path / "runs.log"
    proc = start_agent(url, "@slow", tmp_path, "--handler", f"work={script(SLOW, str(runs), '60')}")
    until(lambda: alive(watcher, "@slow"))
    sent = sender.send("@slow", "work", {})
    handler_pid = int(until(lambda: runs.exists() and runs.read_text().strip()))
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=DEADLINE)
    assert time.monotonic() - started < 2.0
    assert proc.returncode == 0
    assert json.loads(out)["released"] == 1
    back = sender.get(sent.id)
    assert back.status is Status.PENDING and back.retry_count == 0 and back.claimed_by is None
    assert [(a.agent_id, a.status) for a in watcher.agents()] == [("@slow", "inactive")]
    with pytest.raises(ProcessLookupError):
        os.kill(handler_pid, 0)


def test_sigint_stops_an_idle_agent_with_exit_0(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    watcher = hubs()
    proc = start_agent(url, "@idle", tmp_path, "--handler", f"x={script(ECHO)}")
    until(lambda: alive(watcher, "@idle"))
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0 and time.monotonic() - started < 2.0
    assert json.loads(out)["agent"] == "@idle"
    assert [a.status for a in watcher.agents()] == ["inactive"]


# -- readiness -------------------------------------------------------------------------------
def text_of(path: Path) -> str:
    """The file's text once it exists ("" before: not there yet)."""
    return path.read_text() if path.exists() else ""


def test_subscribers_started_with_a_ready_file_each_get_an_event_published_at_once(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    publisher = hubs("@auth")
    agents = ("@analytics", "@audit", "@mailer")
    procs = [
        start_agent(
            url,
            a,
            tmp_path,
            "--ready-file",
            str(tmp_path / f"{a[1:]}.ready"),
            "--on-event",
            f"user_login={script(RECORD_EVENT, str(tmp_path / a[1:]))}",
        )
        for a in agents
    ]
    for agent in agents:  # the file appears, whole, once the agent is subscribed
        ready = tmp_path / f"{agent[1:]}.ready"
        line = json.loads(until(functools.partial(text_of, ready)))
        assert (line["log"], line["agent"], line["events"]) == ("started", agent, ["user_login"])
    event = publisher.publish("user_login", {"user_id": "123"})  # at once: nothing is missed
    for agent in agents:
        record = tmp_path / agent[1:]
        got = until(functools.partial(text_of, record))
        assert json.loads(got)["env"]["AGENTCOMM_EVENT_ID"] == event.id
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert json.loads(proc.communicate(timeout=DEADLINE)[0])["events"] == 1


def test_a_ready_fifo_gets_the_started_line_so_a_reader_waits_without_polling(
    hubs: Hubs, url: str, script: Script, tmp_path: Path
) -> None:
    watcher = hubs()
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    # Read-write, as bash's `exec {fd}<>FIFO`: the open never blocks, a read waits.
    reader = os.open(fifo, os.O_RDWR)
    try:
        proc = start_agent(
            url, "@svc", tmp_path, "--ready-file", str(fifo), "--handler", f"ping={script(ECHO)}"
        )
        with os.fdopen(reader, "rb", closefd=False) as stream:
            line = json.loads(stream.readline())  # blocks until the agent is ready
    finally:
        os.close(reader)
    assert (line["log"], line["pid"]) == ("started", proc.pid)
    assert alive(watcher, "@svc")  # registered before it said so
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=DEADLINE) == 0
