"""The hybrid hub's audit trail: what each call records in the SQLite audit before it
returns, as the SQLite hub would hold it, and the audit file itself.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from agentcomm import Hub, ManualClock, connect
from agentcomm.errors import ConfigurationError, NotFound
from agentcomm.hybrid import audit
from agentcomm.hybrid.outbox import State
from agentcomm.sqlite.rows import iso
from agentcomm_conformance.servers import RedisServer
from hybrid_support import (
    QUEUE,
    audit_path,
    hub,
    hybrid,
    redis_messages,
    rows,
    status_of,
    with_option,
)
from hybrid_support import opened as opened  # fixtures, imported by name
from hybrid_support import server as server
from hybrid_support import url as url


# -- what is recorded ----------------------------------------------------------------------
def test_each_call_is_in_the_audit_when_it_returns(url: str, opened: dict[str, Hub]) -> None:
    asker, worker = hub(opened, url, "@backend.api"), hub(opened, url, "@service.auth")
    worker.register(capabilities=["validate_token"], process_id=4242)
    assert rows(
        url,
        "SELECT status, process_id, capabilities FROM agent_registry"
        " WHERE agent_id = '@service.auth'",
    ) == [("active", 4242, '["validate_token"]')]
    sent = asker.send("@service.auth", "validate_token", {"token": "abc"}, correlation_id="req_1")
    assert status_of(url, sent.id) == "pending"
    claim = worker.claim()
    assert claim is not None
    # Redis keeps a lease token only as its digest, and so does the audit (LEASE-002).
    digest = hashlib.sha1(claim.token.encode(), usedforsecurity=False).hexdigest()
    assert rows(
        url,
        "SELECT status, claimed_by, lease_token FROM agent_messages WHERE id = ?",
        (int(sent.id),),
    ) == [("processing", "@service.auth", digest)]
    answer = worker.reply(claim.id, claim.token, {"valid": True})
    assert rows(
        url, "SELECT status, response_id FROM agent_messages WHERE id = ?", (int(sent.id),)
    ) == [("completed", int(answer.id))]
    assert rows(
        url,
        "SELECT id, request_id, from_agent, to_agent, response_payload,"
        " response_status FROM agent_responses",
    ) == [
        (int(answer.id), int(sent.id), "@service.auth", "@backend.api", '{"valid":true}', "success")
    ]


def test_rows_keep_redis_ids_and_the_sqlite_hub_s_time_columns(
    url: str, opened: dict[str, Hub]
) -> None:
    sender = hub(opened, url, "@backend.api")
    first, second = (sender.send(QUEUE, "job", n, expires_in=60) for n in (1, 2))
    found = rows(
        url,
        "SELECT id, created_at, typeof(available_at), available_at, expires_at"
        " FROM agent_messages ORDER BY id",
    )
    assert found == [
        (int(m.id), iso(m.created_at), "real", m.available_at, m.expires_at)
        for m in (first, second)
    ]
    event = sender.publish("deploy", {"v": 2}, ttl=30)
    assert rows(
        url, "SELECT id, event_type, publisher, payload, published_at, expires_at FROM agent_events"
    ) == [
        (
            int(event.id),
            "deploy",
            "@backend.api",
            '{"v":2}',
            iso(event.published_at),
            iso(event.expires_at or 0),
        )
    ]


def test_subscriptions_show_the_cursor_and_vanish_on_unsubscribe(
    url: str, opened: dict[str, Hub]
) -> None:
    publisher, reader = hub(opened, url, "@backend.api"), hub(opened, url, "@audit.compliance")
    reader.subscribe("user_login")
    cursor = "SELECT last_event_id FROM agent_subscriptions WHERE agent_id = '@audit.compliance'"
    assert rows(url, cursor) == [(0,)]
    events = [publisher.publish("user_login", {"user": n}) for n in range(3)]
    assert [e.id for e in reader.events(limit=2)] == [e.id for e in events[:2]]
    assert rows(url, cursor) == [(int(events[1].id),)]
    reader.unsubscribe("user_login")
    assert rows(url, cursor) == []


def test_deregister_and_heartbeat_update_the_registry_row(url: str, opened: dict[str, Hub]) -> None:
    agent = hub(opened, url, "@worker.one")
    agent.register()
    beat = agent.heartbeat(load=3)
    query = (
        "SELECT status, current_load, last_heartbeat FROM agent_registry"
        " WHERE agent_id = '@worker.one'"
    )
    assert rows(url, query) == [("active", 3, iso(beat.last_heartbeat))]
    agent.deregister()
    assert rows(url, query) == [("inactive", 0, iso(beat.last_heartbeat))]


def test_a_dead_letter_replayed_then_purged_keeps_its_last_row(
    url: str, opened: dict[str, Hub]
) -> None:
    sender, worker = hub(opened, url, "@backend.api"), hub(opened, url, "@worker.one")
    sent = sender.send(QUEUE, "job", {"n": 1}, max_retries=0)
    claim = worker.claim(QUEUE)
    assert claim is not None
    worker.fail(claim.id, claim.token, "boom")
    query = "SELECT status, retry_count, last_error FROM agent_messages WHERE id = ?"
    assert rows(url, query, (int(sent.id),)) == [("dead", 0, "boom")]
    sender.replay(sent.id)
    assert status_of(url, sent.id) == "pending"
    claim = worker.claim(QUEUE)
    assert claim is not None
    worker.fail(claim.id, claim.token, "boom again", retry=False)
    assert sender.purge_dead() == 1
    assert int(sent.id) not in redis_messages(url)
    assert rows(url, query, (int(sent.id),)) == [("dead", 0, "boom again")]


def test_changes_made_by_time_are_recorded_by_the_call_that_settles_them(
    url: str, opened: dict[str, Hub]
) -> None:
    clock = ManualClock()
    sender = hub(opened, url, "@backend.api", clock=clock)
    worker = hub(opened, url, "@worker.one", clock=clock)
    leased = sender.send(QUEUE, "job", 1, timeout_seconds=5)
    expiring = sender.send(QUEUE, "job", 2, expires_in=5)
    assert worker.claim(QUEUE) is not None
    clock.advance(10)
    assert sender.sweep() == 2
    query = "SELECT status, retry_count, last_error FROM agent_messages WHERE id = ?"
    assert rows(url, query, (int(leased.id),)) == [("pending", 1, "lease expired")]
    assert rows(url, query, (int(expiring.id),)) == [("expired", 0, None)]


def test_counters_follow_redis(url: str, opened: dict[str, Hub]) -> None:
    sender = hub(opened, url, "@backend.api")
    sender.send(QUEUE, "job", 1)
    sender.publish("deploy", None)
    assert dict(rows(url, "SELECT name, value FROM agent_counters")) == {"sent": 1, "published": 1}


def test_a_stale_copy_of_a_message_never_overwrites_a_newer_row(
    url: str, opened: dict[str, Hub]
) -> None:
    sender = hybrid(opened, url, "@backend.api")
    sent = sender.send(QUEUE, "job", 1)
    as_sent = redis_messages(url)[int(sent.id)]
    assert hub(opened, url, "@worker.one").claim(QUEUE) is not None
    with sender.audit.store.write() as conn:  # a slow recorder, late with the old copy
        audit.record(conn, State(messages={sent.id: as_sent}), 0.0)
    assert status_of(url, sent.id) == "processing"


# -- the audit file --------------------------------------------------------------------------
def test_the_audit_file_is_private_in_wal_mode_with_the_sqlite_layout(url: str) -> None:
    path = audit_path(url)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert rows(url, "PRAGMA journal_mode") == [("wal",)]
    assert rows(url, "PRAGMA user_version") == [(2,)]
    tables = {r[0] for r in rows(url, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "agent_messages",
        "agent_registry",
        "agent_responses",
        "agent_events",
        "agent_subscriptions",
        "agent_counters",
    } <= tables
    columns = {r[1] for r in rows(url, "PRAGMA table_info(agent_messages)")}
    assert {"audit_rev", "dead_order", "lease_token", "finished_at"} <= columns


def test_a_url_without_an_audit_file_is_refused_naming_it_redacted(server: RedisServer) -> None:
    url = f"hybrid://user:s3cret@127.0.0.1:{server.port}/0?prefix=noaudit:"
    with pytest.raises(ConfigurationError, match="names no audit file") as caught:
        connect(url, create=True)
    assert "user:***@127.0.0.1" in str(caught.value)
    assert "s3cret" not in str(caught.value)


def test_a_missing_audit_file_is_not_created_without_create(url: str, tmp_path: Path) -> None:
    elsewhere = tmp_path / "other-audit.db"
    other = with_option(url, "audit", elsewhere)
    with pytest.raises(NotFound, match="no audit file"):
        connect(other, agent="@backend.api")
    assert not elsewhere.exists()
