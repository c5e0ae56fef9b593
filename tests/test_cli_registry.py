"""The ``agentcomm`` registry commands: register, heartbeat, deregister and agents."""

from __future__ import annotations

import json
import os

from cli_support import Run, agentcomm, err, out
from cli_support import run as run  # fixtures, imported by name
from cli_support import url as url


def test_register_records_the_calling_script_as_the_process(url: str) -> None:
    done = agentcomm(
        "--url",
        url,
        "--agent",
        "@svc",
        "register",
        "--capability",
        "a",
        "--capability",
        "b",
        "--max-concurrent",
        "3",
        "--ttl",
        "30",
    )
    info = json.loads(done.stdout)
    assert info["process_id"] == os.getpid()  # this test is the "bash loop" that called it
    assert (info["capabilities"], info["max_concurrent"], info["heartbeat_ttl"]) == (
        ["a", "b"],
        3,
        30,
    )


def test_heartbeat_before_register_is_not_found_exit_4(run: Run) -> None:
    assert "register" in err(run("heartbeat", agent="@ghost"), 4)["message"]


def test_heartbeat_deregister_and_agents(run: Run) -> None:
    out(run("register", "--pid", "1234", agent="@svc"))
    assert out(run("heartbeat", "--load", "2", agent="@svc"))["current_load"] == 2
    [entry] = out(run("agents", "--alive"))
    assert entry["agent_id"] == "@svc" and entry["seconds_since_heartbeat"] >= 0
    assert out(run("deregister", agent="@svc")) == {"agent": "@svc", "status": "inactive"}
    assert out(run("agents", "--alive")) == []
    assert [a["status"] for a in out(run("agents"))] == ["inactive"]
