"""The bash library and its session when things go wrong: every way a script or its session
can fail (bad input, a hub gone, a session killed or stopped, a script that ends) is
reported, never hung on, and leaves no process behind.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm import connect
from agentcomm_conformance.servers import RedisServer
from shell_support import DEADLINE, gone, lines, run_script, script_env, start_script, states
from shell_support import env as env  # fixtures, imported by name
from shell_support import url as url
from support import until


# -- bad input ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("ac_stats", 11, "no agentcomm session 'default' is open"),
        ("ac_open 'bad name'", 2, "is not a name"),
        ("ac_open --url 'ftp://nowhere'", 9, "unsupported hub URL scheme"),
        ("ac_open --agent 'no-at-sign'", 8, "agent id"),
        ("ac_open\nac_into 1x stats", 2, "ac_into needs a variable name"),
        ("ac_open --agent @a\nprintf 'a\\0b\\0' | ac_send @b t -", 8, "NUL byte"),
        ("ac_open\nac_call tail --follow", 2, "runs until stopped"),
    ],
)
def test_bad_input_is_a_json_error_with_the_documented_status(
    env: dict[str, str], body: str, status: int, error: str
) -> None:
    done = run_script(f'{body} || echo "status $?"', env)
    assert done.stdout.splitlines()[-1:] == [f"status {status}"], done.stderr
    report = json.loads(done.stderr.splitlines()[-1])
    assert error in report["message"] and set(report) == {"error", "message", "definite"}


def test_bytes_that_are_not_the_protocol_end_the_session_and_the_call_says_so(
    env: dict[str, str],
) -> None:
    done = run_script(
        "ac_open\npid=${_AC_PID[default]}\n"
        'printf "GET / HTTP/1.0\\r\\n\\r\\n" >&"${_AC_TO[default]}"\n'
        'ac_stats || echo "status $?"\necho "$pid"',
        env,
    )
    status, pid = lines(done)[-2:]
    assert status == "status 11"
    assert "not an agentcomm session request" in done.stderr  # the session said why
    assert json.loads(done.stderr.splitlines()[-1])["error"] == "session_lost"
    until(lambda: gone(int(pid)))


# -- the hub goes away ----------------------------------------------------------------------
def test_a_deleted_hub_file_is_not_found_as_for_the_command_then_init_makes_a_new_one(
    env: dict[str, str], url: str, tmp_path: Path
) -> None:
    path = tmp_path / "hub.db"
    env = {**env, "HUB": str(path)}
    done = run_script(
        "ac_open --agent @a\nac_send @b t 1 > /dev/null\n"
        'rm -f "$HUB" "$HUB-wal" "$HUB-shm"\n'
        'ac_send @b t 2 || echo "status $?"\nac_init > /dev/null\n'
        "ac_stats | jq -c .counters.sent",
        env,
    )
    status, sent = lines(done)[-2:]
    assert status == "status 4" and "no hub at" in done.stderr
    assert sent == "0"  # a new, empty hub: the first one's message is not in it
    assert connect(url).stats().counters.get("sent", 0) == 0


@pytest.mark.redis
def test_a_redis_server_that_stops_is_exit_7_and_the_session_recovers_when_it_is_back(
    start: Callable[..., RedisServer],
) -> None:
    server = start()
    url = f"{server.url}?prefix=shell:&reconnect_attempts=1"
    connect(url, create=True).close()
    proc = start_script(
        "ac_open --agent @a\nac_send @b t 1 > /dev/null\necho sent\nread -r\n"
        'ac_send @b t 2 || echo "status $?"\nread -r\n'
        "ac_send @b t 3 | jq -r .payload",
        script_env(url),
        stdin=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "sent\n"
    server.stop()
    proc.stdin.write("\n")  # go on: the next send meets no server
    proc.stdin.flush()
    assert proc.stdout.readline() == "status 7\n"
    server.start()
    out, stderr = proc.communicate("\n", timeout=DEADLINE)  # the one after finds it back
    assert out == "3\n"
    assert proc.returncode == 0, stderr
    assert json.loads(stderr.splitlines()[0])["error"] == "backend_unavailable"


@pytest.mark.redis
def test_a_durability_warning_comes_once_per_session(start: Callable[..., RedisServer]) -> None:
    server = start(appendonly=False)
    url = f"{server.url}?prefix=once:"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # this test's own opening: not what is checked
        connect(url, create=True).close()
    done = run_script(
        "ac_open --agent @a\nfor n in 1 2 3; do ac_send @b t $n > /dev/null; "
        "done\nac_stats > /dev/null",
        script_env(url),
    )
    assert done.returncode == 0
    [line] = done.stderr.splitlines()
    assert json.loads(line)["warning"] == "durability"


# -- the session dies, stops, or takes long --------------------------------------------------
WAIT_FOR_A_REPLY = (
    'ac_open --agent @client\necho "${_AC_PID[default]}"\n'
    'ac_request @nobody ask "{}" --timeout 30 || echo "status $?"\n'
    'ac_stats || echo "after: $?"\necho "end"'
)


def pending_request(url: str) -> bool:
    with connect(url) as hub:
        return hub.stats().depths.get("@nobody", {}).get("pending", 0) == 1


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "stopped"])
def test_a_session_killed_or_stopped_in_a_call_is_reported_within_the_stall_limit(
    env: dict[str, str], url: str, how: signal.Signals
) -> None:
    proc = start_script(WAIT_FOR_A_REPLY, {**env, "AC_STALL": "1"})
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    until(lambda: pending_request(url))  # the session is waiting for the reply now
    os.kill(pid, how)
    started = time.monotonic()
    out, err = proc.communicate(timeout=DEADLINE)
    assert time.monotonic() - started < 5  # not the request's 30 s
    assert out.splitlines() == ["status 11", "after: 11", "end"]
    reports = [json.loads(line) for line in err.splitlines()]
    assert reports[0]["error"] == "session_lost" and reports[0]["definite"] is False
    assert "no agentcomm session 'default' is open" in reports[1]["message"]  # closed
    assert gone(pid)  # a stopped session is killed, not left behind


WRITE_SYSCALL = {"x86_64": "1", "aarch64": "64"}.get(os.uname().machine)


def writing(pid: int) -> bool:
    """The process is in write(2) now: a session blocked on an answer the pipe cannot hold."""
    return Path(f"/proc/{pid}/syscall").read_text().split(" ")[0] == WRITE_SYSCALL


@pytest.mark.skipif(
    WRITE_SYSCALL is None or not Path("/proc/self/syscall").exists(),
    reason="needs /proc/PID/syscall to see the session writing",
)
def test_a_session_stopped_in_the_middle_of_a_long_answer_is_reported_not_waited_for(
    env: dict[str, str], url: str
) -> None:
    """An answer longer than the pipe holds comes in parts: bash reads them with a timeout
    (only an answer of at most PIPE_BUF bytes, all there at once, is read without)."""
    with connect(url, agent="@a") as hub:
        big = hub.send("@b", "t", "x" * 900_000)
    body = f'ac_open --agent @b\necho "${{_AC_PID[default]}}"\nac_get {big.id} > /dev/null'
    proc = start_script(body + ' || echo "status $?"\necho end', {**env, "AC_STALL": "1"})
    assert proc.stdout is not None
    pid = int(proc.stdout.readline())
    until(lambda: proc.poll() is not None or writing(pid))
    assert proc.poll() is None, "the script read the whole answer before it could be stopped"
    os.kill(proc.pid, signal.SIGSTOP)  # bash: the pipe fills, the session waits to write
    until(lambda: writing(pid))
    os.kill(pid, signal.SIGSTOP)  # now bash has a part of the answer and waits for the rest
    os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate(timeout=DEADLINE)
    assert out.splitlines() == ["status 11", "end"]
    assert "stopped in the middle of an answer" in json.loads(err.splitlines()[0])["message"]
    assert gone(pid)


def test_a_session_killed_between_calls_is_reported_as_gone_before_sending(
    env: dict[str, str],
) -> None:
    done = run_script(
        'ac_open\nkill -KILL "${_AC_PID[default]}"\n'
        'while kill -0 "${_AC_PID[default]}" 2> /dev/null; do :; done\n'
        'ac_stats || echo "status $?"',
        env,
    )
    assert lines(done) == ["status 11"]
    report = json.loads(done.stderr)
    assert report["definite"] is True and "nothing was sent" in report["message"]


def test_a_long_wait_is_not_taken_for_a_stopped_session(env: dict[str, str]) -> None:
    started = time.monotonic()
    done = run_script(
        'ac_open --agent @w\nac_claim jobs --wait 2 || echo "status $?"', {**env, "AC_STALL": "0.5"}
    )
    assert lines(done) == ["[]", "status 3"]  # nothing came: the command's own answer
    assert time.monotonic() - started >= 2


# -- the script ends --------------------------------------------------------------------------
def test_a_script_that_exits_leaves_no_session_and_keeps_its_own_exit_trap(
    env: dict[str, str],
) -> None:
    done = run_script(
        "trap 'echo own trap' EXIT\nac_open one\nac_open two\n"
        'echo "${_AC_PID[one]} ${_AC_PID[two]}"\nexit 3',
        env,
    )
    assert done.returncode == 3
    pids, trap = done.stdout.splitlines()
    assert trap == "own trap"
    numbers = [int(pid) for pid in pids.split()]
    assert all(gone(pid) for pid in numbers), states(numbers)  # ended before the script


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_a_script_that_is_killed_leaves_no_session_behind(
    env: dict[str, str], how: signal.Signals
) -> None:
    proc = start_script(
        'ac_open one\nac_open two\necho "${_AC_PID[one]} ${_AC_PID[two]}"\n'
        "while :; do ac_stats > /dev/null; done",
        env,
    )
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    proc.send_signal(how)
    proc.communicate(timeout=DEADLINE)
    for pid in pids:  # SIGKILL runs no trap: the sessions see their parent gone
        until(functools.partial(gone, pid))
