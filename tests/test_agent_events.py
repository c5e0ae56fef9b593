"""The agent loop runtime on events: subscribed events run the ``--on-event`` command."""

from __future__ import annotations

import json
from pathlib import Path

from agent_support import FAIL, RECORD_EVENT, Hubs, Script, run_inline
from agent_support import hubs as hubs  # fixtures, imported by name
from agent_support import script as script
from agent_support import url as url


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
