"""The design's scripts on a hub's SQLite file, and a design-era file (SPEC COMPAT-004).

The design's own INSERTs, claim and subscription (``sqlite_design.py``, copied from the
design document unchanged) run on the hub's file with Python's ``sqlite3``; a design-era
file is opened with the hub's URL at another path.
"""

from __future__ import annotations

import datetime
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Status
from agentcomm_conformance.expect import now_by_message
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.suite.sqlite_design import (
    DESIGN_EVENT,
    DESIGN_REGISTRATION,
    DESIGN_REQUEST,
    DESIGN_RESPONSE_QUERY,
    DESIGN_SCHEMA,
    DESIGN_SUBSCRIPTION,
    DESIGN_TASK,
    DESIGN_TASK_CLAIM,
    Opener,
    Sql,
)
from agentcomm_conformance.suite.sqlite_design import hub_path as hub_path  # fixture, by name
from agentcomm_conformance.suite.sqlite_design import sql as sql  # fixture, by name


def locator_for(locator: str, path: Path, *options: str) -> str:
    """``locator`` naming ``path`` instead, with its options and ``options`` added."""
    query = "&".join([q for q in [urllib.parse.urlsplit(locator).query, *options] if q])
    return f"sqlite:///{urllib.parse.quote(str(path))}" + (f"?{query}" if query else "")


@pytest.fixture
def open_at(hub_session: HubSession) -> Opener:
    """``open_at(path, agent, *options)``: a handle on the hub file at ``path``."""

    def opener(path: Path, agent: str | None = None, *options: str) -> Hub:
        handle = hub_session.target.open(
            locator_for(hub_session.locator, path, *options), agent, hub_session.clock
        )
        hub_session.handles.append(handle)
        return handle

    return opener


# -- COMPAT-004: design-era files and the design's own INSERTs ------------------------------
@pytest.mark.spec("COMPAT-004")
def test_a_design_era_database_is_upgraded_in_place_keeping_every_row(
    open_at: Opener, sql: Sql, tmp_path: Path
) -> None:
    path = tmp_path / "design.db"
    legacy = sql(path)
    legacy.executescript(
        DESIGN_SCHEMA
        + DESIGN_REQUEST
        + DESIGN_EVENT
        + DESIGN_REGISTRATION
        + "INSERT INTO agent_subscriptions (agent_id, event_type)"
        " VALUES ('@analytics.tracker', 'user_login');"
    )
    worker = open_at(path, "@service.auth")  # no creation asked: adopted as it is
    assert legacy.execute("PRAGMA user_version").fetchone()[0] == 2
    claim = worker.claim()
    assert claim is not None
    assert (claim.message.from_agent, claim.message.type, claim.message.correlation_id) == (
        "@backend.nodejs",
        "validate_token",
        "req_001",
    )
    assert claim.message.payload == {"token": "abc123", "user_id": "user456"}
    assert (claim.message.timeout_seconds, claim.message.max_retries) == (300, 3)
    worker.reply(claim.id, claim.token, {"valid": True, "user": "john_doe"})
    ((payload, status),) = legacy.execute(DESIGN_RESPONSE_QUERY).fetchall()
    assert (json.loads(payload), status) == ({"valid": True, "user": "john_doe"}, "success")
    requester = open_at(path, "@backend.nodejs")
    assert requester.wait_reply(claim.id, timeout=0).payload["user"] == "john_doe"
    (event,) = requester.tail_events()
    assert (event.event_type, event.publisher, event.payload["ip"]) == (
        "user_login",
        "@service.auth",
        "192.168.1.1",
    )
    (agent,) = requester.agents()
    assert (agent.agent_id, agent.status, agent.process_id) == ("@backend.nodejs", "active", 4242)
    assert open_at(path, "@analytics.tracker").subscriptions() == ["user_login"]
    legacy.execute(DESIGN_REQUEST)  # the design's scripts keep working after the upgrade
    again = worker.claim()
    assert again is not None and again.message.correlation_id == "req_001"


@pytest.mark.spec("COMPAT-004")
def test_tasks_inserted_by_the_design_are_pending_and_claimed_by_priority(
    agents: Opener, sql: Sql
) -> None:
    worker = agents("@worker.batch.001")
    older = agents("@coordinator").send(DEFAULT_QUEUE, "process_batch", {"batch_id": "ours"})
    db = sql()
    for priority in (0, 2, 1):
        db.execute(DESIGN_TASK.replace("{priority}", str(priority)))
    claims = [c for c in (worker.claim(DEFAULT_QUEUE) for _ in range(4)) if c is not None]
    assert [int(c.message.priority) for c in claims] == [2, 1, 1, 0]
    assert claims[1].id == older.id
    assert all(
        c.message.retry_count == 0 and c.message.from_agent == "@coordinator.backend"
        for c in (claims[0], claims[2], claims[3])
    )
    assert claims[0].message.payload == {"batch_id": "batch_001", "items": 1000}


def utc_text(epoch_seconds: float) -> str:
    """Epoch seconds as the design's DATETIME text (CURRENT_TIMESTAMP's form)."""
    when = datetime.datetime.fromtimestamp(epoch_seconds, datetime.timezone.utc)
    return when.strftime("%Y-%m-%d %H:%M:%S")


@pytest.mark.spec("COMPAT-004", "RETRY-001", "EXP-002")
def test_a_task_claimed_the_designs_way_is_reclaimed_by_sweep_after_its_timeout(
    agents: Opener, elapse: Callable[[float], None], sql: Sql
) -> None:
    coordinator = agents("@coordinator")
    task = coordinator.send(
        DEFAULT_QUEUE, "process_batch", {"batch_id": "b1"}, timeout_seconds=2, max_retries=1
    )
    sql().execute(DESIGN_TASK_CLAIM, (utc_text(now_by_message(coordinator)), int(task.id)))
    assert coordinator.sweep() == 0  # its derived lease is live
    elapse(3)
    assert coordinator.sweep() == 1
    back = coordinator.get(task.id)
    assert (back.status, back.retry_count, back.last_error) == (Status.PENDING, 1, "lease expired")
    elapse(1)  # the backoff
    claim = agents("@worker.batch.001").claim()  # the design moved it to the worker's inbox
    assert claim is not None and claim.id == task.id


@pytest.mark.spec("COMPAT-004", "EVT-002")
def test_a_subscription_inserted_the_designs_way_starts_at_the_end_of_the_log(
    agents: Opener, sql: Sql
) -> None:
    auth, tracker = agents("@service.auth"), agents("@analytics.tracker")
    auth.publish("user_login", {"user_id": "before"})
    sql().execute(DESIGN_SUBSCRIPTION)
    after = auth.publish("user_login", {"user_id": "after"})
    assert tracker.subscriptions() == ["user_login"]
    assert [e.id for e in tracker.events()] == [after.id]
