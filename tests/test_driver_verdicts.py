"""The suite's driver client on misbehaving drivers (fake ones written to ``tmp_path``):
each ends in one verdict that says what went wrong."""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import pytest

from agentcomm_conformance.driver.process import DriverFailure, DriverProcess
from driver_support import PYTHON

PRELUDE = """\
import json, os, sys
HELLO = {"protocol": 1, "implementation": {"name": "fake", "version": "0"},
         "kind": "other", "capabilities": []}
def answer(request_id, result):
    print(json.dumps({"id": request_id, "ok": True, "result": result}), flush=True)
def requests():
    for line in sys.stdin:
        yield json.loads(line)
"""


def fake_driver(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake_driver.py"
    script.write_text(PRELUDE + body)
    return f"{PYTHON} {shlex.quote(str(script))}"


def verdict(command: str, *, timeout: float = 10, then: str | None = None) -> DriverFailure:
    """Start the driver (and send ``then``); return the DriverFailure it must end in."""
    with pytest.raises(DriverFailure) as caught:
        driver = DriverProcess.start(command, timeout=timeout, name="@fake")
        if then is not None:
            driver.call(then)
    failure = caught.value
    assert failure.__cause__ is None and (
        failure.__context__ is None or failure.__suppress_context__
    )
    return failure


def test_a_driver_that_crashes_at_start_is_reported_with_its_exit_code_and_stderr(
    tmp_path: Path,
) -> None:
    command = fake_driver(
        tmp_path, "sys.stderr.write('fake: cannot load libhub.so\\n')\nsys.exit(3)\n"
    )
    message = str(verdict(command))
    assert "driver '@fake'" in message and "exited with code 3" in message
    assert "before answering 'hello' (request 0)" in message
    assert "| fake: cannot load libhub.so" in message and "Traceback" not in message


def test_a_driver_that_never_answers_is_killed_when_its_time_is_up(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    command = fake_driver(
        tmp_path,
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid()))\nfor line in sys.stdin:\n    pass\n",
    )
    started = time.monotonic()
    message = str(verdict(command, timeout=1))
    assert time.monotonic() - started < 5
    assert "did not answer 'hello' (request 0) within 1 s; it was killed" in message
    with pytest.raises(ProcessLookupError):  # reaped: the process is gone
        os.kill(int(pid_file.read_text()), 0)


def test_a_driver_that_prints_garbage_is_quoted(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "sys.stdin.readline()\n"
        "print('Hello! I am a driver.' + 'x' * 500, flush=True)\n"
        "sys.stdin.readline()\n",
    )
    message = str(verdict(command))
    assert "wrote a line that is not JSON while 'hello' (request 0) was due" in message
    assert "'Hello! I am a driver.xxx" in message and "(521 bytes)" in message
    assert "x" * 201 not in message


@pytest.mark.parametrize(
    "reply",
    [
        "answer(0, {**HELLO, 'protocol': 2})",
        "print(json.dumps({'id': 0, 'ok': False, 'error': {'code': 'protocol', "
        "'message': 'I speak protocol 2 only', 'definite': True}}), flush=True)",
    ],
    ids=["its-own-number", "a-refusal"],
)
def test_a_driver_that_speaks_protocol_2_gets_a_verdict_naming_both_versions(
    tmp_path: Path, reply: str
) -> None:
    command = fake_driver(tmp_path, f"next(requests())\n{reply}\nsys.stdin.readline()\n")
    message = str(verdict(command))
    assert "protocol 2" in message and "protocol 1" in message


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("[0, true]", "wrote a JSON array where a response object was due"),
        ('{"id": 0}', "answered without 'ok' true or false"),
        ('{"id": 0, "ok": true}', "answered ok=true without 'result'"),
        ('{"id": 0, "ok": false, "error": "no"}', "an 'error' that is not an object"),
        ('{"id": 0, "ok": true, "result": null, "log": "hi"}', "fields ['log']"),
    ],
    ids=["array", "no-ok", "no-result", "bad-error", "extra-field"],
)
def test_a_json_line_that_is_not_a_response_is_explained(
    tmp_path: Path, line: str, said: str
) -> None:
    command = fake_driver(
        tmp_path, f"sys.stdin.readline()\nprint({line!r}, flush=True)\nsys.stdin.readline()\n"
    )
    assert said in str(verdict(command))


def test_a_driver_that_exits_mid_line_shows_what_it_had_written(tmp_path: Path) -> None:
    command = fake_driver(tmp_path, 'sys.stdin.readline()\nsys.stdout.write(\'{"id": 0, "ok"\')\n')
    message = str(verdict(command))
    assert (
        "exited with code 0 before answering 'hello' (request 0), after an unfinished "
        'line \'{"id": 0, "ok"\'' in message
    )


def test_a_driver_whose_hello_lacks_a_field_is_told_which(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "next(requests())\n"
        "answer(0, {k: v for k, v in HELLO.items() if k != 'kind'})\n"
        "sys.stdin.readline()\n",
    )
    assert "answered 'hello' without 'kind'" in str(verdict(command))


def test_a_driver_that_answers_with_the_wrong_id_is_caught(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "for request in requests():\n    answer(request['id'] and request['id'] + 41, HELLO)\n",
    )
    message = str(verdict(command, then="stats"))
    assert "answered with id 42 while 'stats' (request 1) was due" in message


def test_a_driver_that_exits_mid_session_is_reported_and_stays_stopped(tmp_path: Path) -> None:
    command = fake_driver(
        tmp_path,
        "answer(next(requests())['id'], HELLO)\n"
        "sys.stdin.readline()\n"
        "sys.stderr.write('fake: lost the store\\n')\n"
        "sys.exit(4)\n",
    )
    driver = DriverProcess.start(command, timeout=10, name="@fake")
    with pytest.raises(DriverFailure) as caught:
        driver.call("stats")
    message = str(caught.value)
    assert "exited with code 4 before answering 'stats' (request 1)" in message
    assert "| fake: lost the store" in message and not driver.alive
    with pytest.raises(DriverFailure, match="failed earlier"):
        driver.call("stats")
    driver.close()  # nothing left to do, and no error


def test_a_driver_command_that_does_not_exist_cannot_start(tmp_path: Path) -> None:
    failure = verdict(str(tmp_path / "no-such-driver"))
    assert "could not be started" in str(failure) and "No such file" in str(failure)
