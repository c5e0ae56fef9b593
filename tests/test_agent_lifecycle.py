"""The agent loop runtime from start to stop: ``agentcomm agent run`` as its own process,
its leases and signals, its readiness, and its exit when idle."""

from __future__ import annotations

import functools
import json
import os
import signal
import time
from pathlib import Path

import pytest

from agent_support import (
    DEADLINE,
    ECHO,
    RECORD_EVENT,
    SLOW,
    Hubs,
    Script,
    alive,
    run_inline,
    start_agent,
)
from agent_support import hubs as hubs  # fixtures, imported by name
from agent_support import script as script
from agent_support import url as url
from agentcomm import Status
from support import until


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


# -- idle exit -------------------------------------------------------------------------------
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
