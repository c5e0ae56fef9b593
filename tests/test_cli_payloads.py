"""Payloads given to the ``agentcomm`` command line: an argument, or stdin when it is
``-``, through real pipes and terminals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import DEADLINE, Run, agentcomm, err, out
from cli_support import run as run  # fixtures, imported by name
from cli_support import url as url


def test_the_payload_comes_from_stdin_only_when_it_is_a_dash(run: Run) -> None:
    assert out(run("send", "@b", "t", "-", input='{"via": "dash"}', agent="@a"))["payload"] == {
        "via": "dash"
    }
    assert out(run("publish", "tick", "-", input="[1, 2]", agent="@a"))["payload"] == [1, 2]


@pytest.mark.parametrize(
    "args",
    [
        ("send", "@b", "t"),
        ("request", "@b", "t", "--timeout", "1"),
        ("publish", "tick"),
    ],
    ids=lambda args: args[0],
)
def test_a_missing_payload_is_a_usage_error_and_leaves_stdin_unread(
    url: str, args: tuple[str, ...]
) -> None:
    # The `while read` trap: a loop's own input must not become the payload.
    script = (
        "printf 'first\\nsecond\\n' | while read -r line; do"
        ' agentcomm "$@" || echo "exit $?"; echo "$line"; done'
    )
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "-c", script, "loop", "--url", url, "--agent", "@a", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"},
    )
    assert done.stdout.splitlines() == ["exit 2", "first", "exit 2", "second"]
    assert "as - to read it from stdin" in done.stderr


def test_a_dash_on_a_terminal_is_a_usage_error_not_a_wait(url: str) -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        done = agentcomm("--url", url, "--agent", "@a", "send", "@b", "t", "-", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 2 and b"stdin is a terminal" in done.stderr


def test_a_large_payload_on_stdin_round_trips(run: Run, url: str) -> None:
    big = {"blob": "x" * (900 * 1024)}
    sent = agentcomm(
        "--url", url, "--agent", "@a", "send", "@b", "bulk", "-", input=json.dumps(big).encode()
    )  # through a real pipe, not a buffer
    assert sent.returncode == 0, sent.stderr
    assert out(run("receive", agent="@b"))[0]["payload"] == big


def test_a_payload_over_the_limit_on_stdin_exits_8(run: Run) -> None:
    report = err(
        run("send", "@b", "t", "-", input=json.dumps("x" * (1024 * 1024 + 10)), agent="@a"), 8
    )
    assert "limit" in report["message"]


def test_awkward_text_round_trips_byte_for_byte_through_real_processes(url: str) -> None:
    text = "quotes ' \" | pipes\nnew\r\nlines\ttabs NUL\u0000 emoji \U0001f680 \u00e9 \\ $(x)"
    env = {"AGENTCOMM_URL": url}
    payload = json.dumps({"text": text}, ensure_ascii=False).encode("utf-8")
    sent = agentcomm("--agent", "@a", "send", "@b", "t", "-", input=payload, env=env)
    assert sent.returncode == 0, sent.stderr
    got = agentcomm("--agent", "@b", "receive", env={**env, "LC_ALL": "C", "LANG": "C"})
    assert got.returncode == 0, got.stderr
    received = json.loads(got.stdout.decode("utf-8"))[0]["payload"]
    assert received["text"].encode("utf-8") == text.encode("utf-8")
    assert "\U0001f680".encode() in got.stdout  # printed as UTF-8, not \\u escapes
