"""The bash library and its session (``source "$(agentcomm shell-lib)"``), with real bash
scripts and real session processes: calls behave as the commands, and every way a script
or its session can fail is reported, never hung on, and leaves no process behind.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agentcomm import Hub, Status, connect, shell
from agentcomm.cli.app import MODULES
from agentcomm.shell.server import LONG_RUNNING
from agentcomm_conformance.servers import RedisServer
from shell_support import (
    BASH,
    DEADLINE,
    gone,
    library_functions,
    run_script,
    script_env,
    start_script,
    states,
)
from support import opening, until

AWKWARD = "quotes ' \" | pipes\nnew\r\nlines\ttabs emoji \U0001f680 \u00e9 \\ $(touch x) `x` -"


@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def env(url: str) -> dict[str, str]:
    return script_env(url)


@pytest.fixture
def hubs(url: str) -> Iterator[Callable[..., Hub]]:
    yield from opening(url)


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentcomm.cli", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )


# -- finding the library ---------------------------------------------------------------------
def test_shell_lib_prints_the_library_and_the_examples_folder(env: dict[str, str]) -> None:
    assert cli(env, "shell-lib").stdout.strip() == str(shell.library())
    assert cli(env, "shell-lib", "--examples").stdout.strip() == str(shell.examples())
    assert cli(env, "shell-lib").stderr == ""  # this agentcomm is the one on PATH


def test_without_agentcomm_on_path_shell_lib_says_what_to_set_and_that_works(url: str) -> None:
    bare = {**script_env(url), "PATH": "/usr/bin:/bin"}
    done = cli(bare, "shell-lib")
    hint = done.stderr.rpartition("export ")[2].strip()
    name, _, value = hint.partition("=")
    assert name == "AGENTCOMM_COMMAND"
    script = (
        f"source {done.stdout.strip()}\nac_open --agent @a\nac_send @b t 1 > /dev/null && echo sent"
    )
    ran = subprocess.run(
        [BASH, "-c", script],
        env={**bare, name: value.strip("'")},
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
    )
    assert ran.stdout == "sent\n", ran.stderr


# -- calls behave as the commands -----------------------------------------------------------
def test_the_library_has_a_function_for_every_command_that_ends(env: dict[str, str]) -> None:
    commands = {name for names in MODULES.values() for name in names}
    admin_tools = {"shell-lib", "redis-acl"}  # reachable as ac_call COMMAND
    functions = library_functions()
    assert set(functions.values()) == commands - LONG_RUNNING - admin_tools
    assert all(f == "ac_" + c.replace("-", "_") for f, c in functions.items())


@pytest.mark.parametrize(
    "args",
    [
        ("get", "999"),  # 4, a JSON error
        ("send", "@b", "t"),  # 2, click's usage message
        ("send", "@b", "t", "{bad"),  # 8
        ("claim", "jobs"),  # 3, [] on stdout
        ("complete", "1"),  # 2
        ("events",),  # 3
        ("send", "--help"),  # 0, text
    ],
    ids=lambda args: "-".join(args),
)
def test_a_call_prints_and_exits_exactly_as_the_command(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    quoted = " ".join(f"'{a}'" for a in args)
    through = run_script(
        f'ac_open --agent @a\nac_call {quoted} && echo "status 0" || echo "status $?"', env
    )
    direct = cli(env, "--agent", "@a", *args)
    assert through.stdout == direct.stdout + f"status {direct.returncode}\n"
    assert through.stderr == direct.stderr


def test_any_text_goes_through_arguments_and_stdin_exactly(
    env: dict[str, str], tmp_path: Path, hubs: Callable[..., Hub]
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    payload = json.dumps({"text": AWKWARD}, ensure_ascii=False)
    env = {**env, "PAYLOAD": payload}
    done = run_script(
        'ac_open --agent @a\nac_send @b t "$PAYLOAD" > /dev/null\n'
        'printf %s "$PAYLOAD" | ac_send @b t - > /dev/null\n'
        'ac_send @b t - <<< "$PAYLOAD" > /dev/null',
        env,
        cwd=workdir,
    )
    assert done.returncode == 0, done.stderr
    claims = hubs("@b").claim_many(None, limit=10)
    assert [c.message.payload for c in claims] == [{"text": AWKWARD}] * 3
    assert list(workdir.iterdir()) == []  # nothing was run


def test_ac_into_sets_the_variable_without_the_newline_and_keeps_the_status(
    env: dict[str, str],
) -> None:
    done = run_script(
        "ac_open --agent @a\nac_into sent send @b t '\"x\"'\n"
        'echo "${#sent} $(jq -r .payload <<< "$sent")"\n'
        'ac_into found claim jobs || echo "status $? [$found]"',
        env,
    )
    length, text = lines(done)[0].split()
    assert text == "x" and int(length) > 100
    assert lines(done)[1] == "status 3 [[]]"


def test_two_sessions_in_one_script_speak_as_their_agents_and_both_end(env: dict[str, str]) -> None:
    done = run_script(
        "ac_open coordinator --agent @coordinator\nac_open worker --agent @worker\n"
        'echo "${_AC_PID[coordinator]} ${_AC_PID[worker]}"\n'
        "AC_SESSION=coordinator ac_send jobs job '{\"n\": 1}' > /dev/null\n"
        'AC_SESSION=worker ac_claim jobs | jq -r ".[0].claimed_by"\n'
        'ac_call --agent @third claim jobs || echo "status $?"\n'
        "AC_SESSION=coordinator ac_stats | jq -r .counters.sent",
        env,
    )
    pids, claimed_by, *third, sent = lines(done)
    assert (claimed_by, third, sent) == ("@worker", ["[]", "status 3"], "1")
    assert all(gone(int(pid)) for pid in pids.split())


def test_a_background_job_opens_its_own_session_and_leaves_the_scripts_alone(
    env: dict[str, str],
) -> None:
    done = run_script(
        "ac_open --agent @main\n"
        "( ac_open --agent @job; ac_send @main hi 1 > /dev/null ) &\nwait $!\n"
        'ac_receive | jq -r ".[0].from_agent"',
        env,
    )
    assert lines(done) == ["@job"]


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


# -- agents -------------------------------------------------------------------------------------
def test_ac_agent_start_returns_once_the_agent_is_subscribed(
    env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    handler = tmp_path / "record.sh"
    handler.write_text('#!/usr/bin/env bash\ncat >> "$1"; echo >> "$1"\n')
    handler.chmod(0o755)
    done = run_script(
        f'ac_agent_start @listener --on-event "tick={handler} {log}" 2> /dev/null\n'
        "ac_open --agent @clock\nac_publish tick '{\"n\": 1}' > /dev/null\n"
        'until [ -s "$LOG" ]; do sleep 0.05; done\n'
        'kill -TERM "$AC_AGENT_PID"; wait "$AC_AGENT_PID"',
        {**env, "LOG": str(log)},
    )
    summary = json.loads(lines(done)[-1])
    assert summary["events"] == 1
    assert json.loads(log.read_text()) == {"n": 1}


def test_ac_agent_start_reports_an_agent_that_cannot_start(env: dict[str, str]) -> None:
    done = run_script('ac_agent_start @x --handler "t=/no/such/program" || echo "status $?"', env)
    assert lines(done) == ["status 9"]
    assert "not executable" in json.loads(done.stderr)["message"]


def test_a_message_claimed_through_a_session_completes_once(
    env: dict[str, str], hubs: Callable[..., Hub]
) -> None:
    sent = hubs("@c").send("jobs", "job", {"n": 1})
    done = run_script(
        "ac_open --agent @w\ntasks=$(ac_claim jobs)\n"
        'ac_complete - <<< "$tasks" | jq -r ".[0].status"',
        env,
    )
    assert lines(done) == ["completed"]
    assert hubs().get(sent.id).status is Status.COMPLETED
