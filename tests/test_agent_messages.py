"""The agent loop runtime on messages: each type to its handler and the reply back, a
handler's failures retried or dead-lettered, and how a handler spec is read."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import pytest

from agent_support import ECHO, FAIL, PRINT_TEXT, Hubs, Script, run_inline
from agent_support import hubs as hubs  # fixtures, imported by name
from agent_support import script as script
from agent_support import url as url
from agentcomm import ConfigurationError, InvalidInput, Status
from agentcomm.agent import parse_handler


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
