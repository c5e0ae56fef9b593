"""The bash library and its session (``source "$(agentcomm shell-lib)"``), with real bash
scripts and real session processes: finding the library, and calls that behave as the
commands, agents started from a script among them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm import Hub, Status, shell
from agentcomm.cli.app import MODULES
from agentcomm.shell.server import LONG_RUNNING
from shell_support import BASH, DEADLINE, gone, library_functions, lines, run_script, script_env
from shell_support import env as env  # fixtures, imported by name
from shell_support import hubs as hubs
from shell_support import url as url

AWKWARD = "quotes ' \" | pipes\nnew\r\nlines\ttabs emoji \U0001f680 \u00e9 \\ $(touch x) `x` -"


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


@pytest.mark.parametrize("name", ["python", "python3"])
def test_shell_lib_knows_its_installation_by_any_name_of_its_interpreter(
    env: dict[str, str], name: str
) -> None:
    interpreter = Path(sys.executable).with_name(name)
    if not interpreter.exists():
        pytest.skip(f"this environment has no {name}")
    done = subprocess.run(
        [str(interpreter), "-m", "agentcomm.cli", "shell-lib"],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=True,
    )
    assert done.stderr == ""  # the agentcomm on PATH is this environment's


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
        ("send", "@b", "t"),  # 2, the usage message
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


@pytest.mark.parametrize("chars", [1_000, 1_800, 1_830, 40_000])  # 4096 is between 1_800 and 1_830
def test_answers_of_any_size_come_through_whole_in_bytes_not_characters(
    env: dict[str, str], hubs: Callable[..., Hub], chars: int
) -> None:
    """An answer of at most PIPE_BUF (4096) bytes is read without a timeout (it came in one
    write); longer ones in parts as they come.  Two-byte characters: lengths are bytes."""
    sent = hubs("@a").send("@b", "t", {"text": "\u00e9" * chars, "tail": AWKWARD})
    through = run_script(f"ac_open --agent @b\nac_get {sent.id}\nac_get {sent.id}", env)
    direct = cli(env, "--agent", "@b", "get", sent.id)
    assert through.returncode == 0, through.stderr
    assert through.stdout == direct.stdout * 2


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
