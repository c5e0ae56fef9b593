"""The hybrid hub: Redis traffic, and a SQLite audit trail written before each call returns.

Every test runs against a real ``redis-server`` private to this module, each on a fresh
key prefix and audit file.  The audit is read as users read it: with ``sqlite3``,
read-only.  Crashes are real (SIGKILL of another process); a failing audit write is a
real lock held by another SQLite connection.  Agents in other processes run this file
as a script: ``python tests/test_hybrid.py ROLE URL AGENT``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sqlite3
import stat
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from agentcomm import Hub, ManualClock, Outgoing, connect
from agentcomm.errors import BackendUnavailable, ConfigurationError, NotFound
from agentcomm.hybrid import audit
from agentcomm.hybrid.hub import HybridHub
from agentcomm.hybrid.outbox import State
from agentcomm.sqlite.rows import iso
from agentcomm.urls import fresh_url, parse
from agentcomm_conformance.servers import RedisServer, require_redis_server
from support import spawn, until

QUEUE = "audit_jobs"
CHURN_ROUNDS = 40


# -- fixtures and helpers --------------------------------------------------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis_server()
    with RedisServer(directory=tmp_path_factory.mktemp("redis")) as running:
        yield running


@pytest.fixture
def url(server: RedisServer, tmp_path: Path) -> str:
    """A fresh hybrid hub (new prefix, new audit file), created; retries come back at once."""
    template = f"hybrid://127.0.0.1:{server.port}/0?backoff_base=0&backoff_max=0"
    made = fresh_url(template, tmp_path)
    connect(made, create=True).close()
    return made


@pytest.fixture
def opened(url: str) -> Iterator[dict[str, Hub]]:
    """Handles opened by ``hub(url, agent)``, closed after the test."""
    handles: dict[str, Hub] = {}
    yield handles
    for handle in handles.values():
        handle.close()


def hub(opened: dict[str, Hub], url: str, agent: str, **options: Any) -> Hub:
    opened[agent] = connect(url, agent=agent, **options)
    return opened[agent]


def hybrid(opened: dict[str, Hub], url: str, agent: str) -> HybridHub:
    """A handle typed as what ``connect`` opens for a hybrid URL, with ``reconcile()``."""
    handle = hub(opened, url, agent)
    assert isinstance(handle, HybridHub)
    return handle


def audit_path(url: str) -> str:
    return parse(url).options["audit"]


def rows(url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Query the audit file read-only, as an auditor would."""
    uri = f"file:{urllib.parse.quote(audit_path(url))}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        return [tuple(r) for r in db.execute(sql, params).fetchall()]


def status_of(url: str, message_id: str) -> str:
    found = rows(url, "SELECT status FROM agent_messages WHERE id = ?", (int(message_id),))
    assert found, f"message {message_id} has no audit row"
    return str(found[0][0])


def redis_client(url: str) -> Any:
    where = parse(url)
    return redis.Redis.from_url(f"redis://{where.location}/0", decode_responses=True)


def redis_messages(url: str) -> dict[int, dict[str, str]]:
    """Every message hash under the hub's prefix, by id, read straight from Redis."""
    prefix = parse(url).options["prefix"]
    with redis_client(url) as client:
        keys = list(client.scan_iter(match=f"{prefix}message:*", count=1000))
        return {int(k.rpartition(":")[2]): client.hgetall(k) for k in keys}


def audit_stream_length(url: str) -> int:
    with redis_client(url) as client:
        return int(client.xlen(parse(url).options["prefix"] + "audit"))


@pytest.fixture
def locked_audit(url: str) -> Iterator[sqlite3.Connection]:
    """Another connection holding the audit file's write lock until the test releases it."""
    holder = sqlite3.connect(audit_path(url), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    yield holder
    holder.close()


def with_option(url: str, name: str, value: object) -> str:
    """``url`` with one query option set (added or replaced)."""
    base, _, query = url.partition("?")
    options = dict(urllib.parse.parse_qsl(query)) | {name: str(value)}
    return f"{base}?{urllib.parse.urlencode(options, safe=':/')}"


def with_busy_timeout(url: str, seconds: float) -> str:
    return with_option(url, "busy_timeout", seconds)


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


# -- failures and crashes ----------------------------------------------------------------------
def test_a_failing_audit_write_is_indefinite_and_reconciled_later(
    url: str, opened: dict[str, Hub], locked_audit: sqlite3.Connection
) -> None:
    sender = hybrid(opened, url, "@backend.api")
    impatient = hub(opened, with_busy_timeout(url, 0.05), "@backend.impatient")
    with pytest.raises(BackendUnavailable, match="could not be recorded") as caught:
        impatient.send(QUEUE, "job", {"n": 1})
    assert caught.value.definite is False
    assert isinstance(caught.value.__cause__, BackendUnavailable)
    (message_id,) = redis_messages(url)  # Redis took the message
    locked_audit.execute("ROLLBACK")
    assert rows(url, "SELECT id FROM agent_messages") == []
    assert sender.reconcile() == 1
    assert status_of(url, str(message_id)) == "pending"
    assert sender.reconcile() == 0
    assert audit_stream_length(url) == 0


def test_a_sender_killed_while_its_audit_writes_fail_loses_nothing(
    url: str, opened: dict[str, Hub], locked_audit: sqlite3.Connection
) -> None:
    sender = start("send_forever", with_busy_timeout(url, 0.02), "@backend.api")
    lines_before_kill = random.randint(3, 20)
    for _ in range(lines_before_kill):  # each line: a send Redis took, unaudited
        assert read_line(sender) == "unaudited"
    sender.kill()
    sender.wait()
    locked_audit.execute("ROLLBACK")
    in_redis = redis_messages(url)
    assert len(in_redis) >= lines_before_kill
    assert rows(url, "SELECT count(*) FROM agent_messages") == [(0,)]
    hub(opened, url, "@auditor")  # opening reconciles
    assert audit_matches_redis(url)


def test_a_sender_killed_at_a_random_point_loses_nothing(url: str, opened: dict[str, Hub]) -> None:
    # Polling Redis rather than reading the sender's output: each kill then lands at a
    # random point of a send, often after Redis took it and before the audit did.
    for _ in range(3):
        kill_after(
            start("send_forever", url, "@backend.api"),
            url,
            messages_sent(url) + random.randint(5, 100),
        )
    hub(opened, url, "@auditor")  # opening reconciles
    assert audit_matches_redis(url)


def kill_after(sender: subprocess.Popen[str], url: str, messages: int) -> None:
    until(lambda: messages_sent(url) >= messages)
    sender.kill()
    sender.wait()


def messages_sent(url: str) -> int:
    with redis_client(url) as client:
        return int(client.get(parse(url).options["prefix"] + "seq:message") or 0)


@pytest.mark.slow
def test_concurrent_hybrid_processes_leave_an_audit_equal_to_redis(url: str) -> None:
    agents = [start("churn", url, f"@worker.{n}") for n in range(3)]
    for agent in agents:
        assert read_line(agent) == "ready"
    for agent in agents:  # all released before any finishes: their writes overlap
        assert agent.stdin is not None
        agent.stdin.write("go\n")
        agent.stdin.flush()
    for agent in agents:
        out, _ = agent.communicate(timeout=120)
        assert agent.returncode == 0 and out.split() == ["done"]
    assert audit_matches_redis(url)
    assert len(redis_messages(url)) == 3 * CHURN_ROUNDS


def audit_matches_redis(url: str) -> bool:
    """Redis's every message, reply, event, agent, cursor and counter is in the audit as it
    is in Redis, and nothing waits in the audit stream."""
    assert audit_stream_length(url) == 0
    assert audited_state(url) == redis_state(url)
    return True


def redis_state(url: str) -> dict[str, Any]:
    prefix = parse(url).options["prefix"]
    with redis_client(url) as client:
        messages = {
            i: (
                h["status"],
                int(h.get("retry_count", 0)),
                h.get("claimed_by"),
                h.get("last_error"),
                int(h["rev"]),
            )
            for i, h in redis_messages(url).items()
        }
        replies = {
            int(k.rpartition(":")[2]): int(client.hget(k, "request_id"))
            for k in client.scan_iter(match=f"{prefix}reply:*")
        }
        events = {
            int(entry.partition("-")[0]): (kind, fields["publisher"])
            for kind in client.smembers(f"{prefix}event_types")
            for entry, fields in client.xrange(f"{prefix}event:{kind}")
        }
        agents = {
            a: client.hget(f"{prefix}agent:{a}:registry", "status")
            for a in client.smembers(f"{prefix}agents")
        }
        cursors = {
            (a, kind): int(cursor)
            for a in agents
            for kind, cursor in client.hgetall(f"{prefix}agent:{a}:subscriptions").items()
        }
        counters = {k: int(v) for k, v in client.hgetall(f"{prefix}counters").items()}
        for name, seq in (("sent", "message"), ("published", "event")):  # derived (stats.lua)
            if client.exists(f"{prefix}seq:{seq}"):
                counters[name] = int(client.get(f"{prefix}seq:{seq}"))
    return {
        "messages": messages,
        "replies": replies,
        "events": events,
        "agents": agents,
        "cursors": cursors,
        "counters": counters,
    }


def audited_state(url: str) -> dict[str, Any]:
    messages = {
        r[0]: r[1:]
        for r in rows(
            url,
            "SELECT id, status, retry_count, claimed_by, last_error, audit_rev FROM agent_messages",
        )
    }
    return {
        "messages": messages,
        "replies": dict(rows(url, "SELECT id, request_id FROM agent_responses")),
        "events": {
            r[0]: r[1:] for r in rows(url, "SELECT id, event_type, publisher FROM agent_events")
        },
        "agents": dict(rows(url, "SELECT agent_id, status FROM agent_registry")),
        "cursors": {
            (a, k): c
            for a, k, c in rows(
                url, "SELECT agent_id, event_type, last_event_id FROM agent_subscriptions"
            )
        },
        "counters": dict(rows(url, "SELECT name, value FROM agent_counters")),
    }


# -- agents in other processes -----------------------------------------------------------------
def start(role: str, url: str, agent: str) -> subprocess.Popen[str]:
    return spawn(
        [sys.executable, __file__, role, url, agent],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def read_line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, f"the agent process exited early (status {process.wait()})"
    return str(json.loads(line))


def say(text: str) -> None:
    print(json.dumps(text), flush=True)


def send_forever(url: str, agent: str) -> None:
    """Send batches until killed; after each say whether its audit write succeeded.

    Batches make the audit write a longer part of each send, where a kill hurts."""
    with connect(url, agent=agent) as handle:
        for n in range(1_000_000):
            try:
                handle.send_many([Outgoing(QUEUE, "job", {"n": n, "i": i}) for i in range(10)])
            except BackendUnavailable as exc:
                assert exc.definite is False
                say("unaudited")
            else:
                say("audited")


def churn(url: str, agent: str) -> None:
    """Every kind of write, interleaved with the other churners' once 'go' arrives."""
    with connect(url, agent=agent) as handle:
        handle.register(capabilities=["job"])
        handle.subscribe("tick")
        say("ready")
        sys.stdin.readline()
        for n in range(CHURN_ROUNDS):
            handle.send(QUEUE, "job", {"n": n, "by": agent}, max_retries=1)
            claim = handle.claim(QUEUE)
            if claim is not None:
                finish = (handle.complete, handle.release, lambda i, t: handle.fail(i, t, "flaky"))[
                    n % 3
                ]
                finish(claim.id, claim.token)
            handle.publish("tick", n)
            handle.events()
            handle.heartbeat(load=n)
        handle.deregister()
    print("done", flush=True)


if __name__ == "__main__":
    {"send_forever": send_forever, "churn": churn}[sys.argv[1]](*sys.argv[2:4])
