"""The ``agentcomm`` event commands: subscribe, publish, events, unsubscribe and tail."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

from cli_support import DEADLINE, Run, out
from cli_support import run as run  # fixtures, imported by name
from cli_support import url as url


def test_subscribe_publish_events_and_unsubscribe(run: Run) -> None:
    assert out(run("subscribe", "user_login", "user_logout", agent="@tracker")) == {
        "agent": "@tracker",
        "subscriptions": ["user_login", "user_logout"],
    }
    event = out(run("publish", "user_login", '{"user_id": "123"}', "--ttl", "60", agent="@auth"))
    assert set(event) == {"id", "event_type", "publisher", "payload", "published_at", "expires_at"}
    [got] = out(run("events", agent="@tracker"))
    assert (got["id"], got["payload"]) == (event["id"], {"user_id": "123"})
    assert out(run("events", "--wait", "0.1", agent="@tracker"), 3) == []
    assert out(run("unsubscribe", "user_logout", agent="@tracker"))["subscriptions"] == [
        "user_login"
    ]


def test_tail_lists_recent_events_without_moving_cursors(run: Run) -> None:
    ids = [out(run("publish", "tick", str(n), agent="@clock"))["id"] for n in range(3)]
    assert [e["id"] for e in out(run("tail", "--limit", "2"))] == ids[1:]
    assert [e["id"] for e in out(run("tail", "--after", ids[0]))] == ids[1:]


def test_tail_follow_prints_lines_until_sigterm_then_exits_0(url: str, run: Run) -> None:
    first = out(run("publish", "tick", "1", agent="@clock"))
    command = [sys.executable, "-m", "agentcomm.cli", "--url", url, "tail", "--follow"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["id"] == first["id"]
        second = out(run("publish", "tick", "2", agent="@clock"))
        assert json.loads(proc.stdout.readline())["id"] == second["id"]
        proc.send_signal(signal.SIGTERM)
        rest, stderr = proc.communicate(timeout=DEADLINE)
    assert proc.returncode == 0 and rest == b"" and b"Traceback" not in stderr
