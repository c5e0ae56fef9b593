"""The hybrid hub when its audit fails or its senders die: nothing is lost, and the audit
ends equal to Redis.

Crashes are real (SIGKILL of another process); a failing audit write is a real lock held
by another SQLite connection.  Agents in other processes run this file as a script:
``python tests/test_hybrid_failures.py ROLE URL AGENT``.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from agentcomm import Hub, Outgoing, connect
from agentcomm.errors import BackendUnavailable
from agentcomm.urls import parse
from hybrid_support import (
    QUEUE,
    audit_path,
    hub,
    hybrid,
    redis_client,
    redis_messages,
    rows,
    status_of,
    with_option,
)
from hybrid_support import opened as opened  # fixtures, imported by name
from hybrid_support import server as server
from hybrid_support import url as url
from support import spawn, until

CHURN_ROUNDS = 40


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


def with_busy_timeout(url: str, seconds: float) -> str:
    return with_option(url, "busy_timeout", seconds)


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
