"""Scripts on a Redis hub: each state change reaches the server as one script of the
hub's (SPEC COMPAT-008), and the items the design's own scripts push are adopted, and
replies published as they expect (COMPAT-011).

The suite reaches the server as ``test_compat_redis.py`` does (``redis_design.py``).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import DEFAULT_QUEUE, Hub
from agentcomm_conformance.suite.redis_design import key as key  # fixture, by name
from agentcomm_conformance.suite.redis_design import server as server  # fixture, by name

Agents = Callable[..., Hub]

# Commands a hub may send outside a script: reads, blocking waits, and the script calls.
NOT_A_STATE_CHANGE = {
    "evalsha",
    "eval",
    "script",
    "fcall",
    "fcall_ro",
    "function",
    "ping",
    "info",
    "hello",
    "auth",
    "select",
    "client",
    "get",
    "hget",
    "hgetall",
    "hkeys",
    "hmget",
    "lrange",
    "lindex",
    "llen",
    "smembers",
    "scard",
    "zrange",
    "zrangebyscore",
    "zscore",
    "xrange",
    "xrevrange",
    "xread",
    "xlen",
    "exists",
    "type",
    "blpop",
    "blmove",
    "brpoplpush",
    "multi",
    "exec",
    "pttl",
    "ttl",
}


# -- COMPAT-008: one script per multi-key change ---------------------------------------------
@pytest.mark.spec("COMPAT-008")
def test_every_state_change_reaches_the_server_as_one_script(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    worker.register()
    with monitored(server, about=key("")) as seen:
        request = asker.send("@service.auth", "validate_token", {})
        claim = worker.claim()
        assert claim is not None
        worker.extend(claim.id, claim.token)
        worker.reply(claim.id, claim.token, {"valid": True})
        asker.publish("user_login", {})
        worker.heartbeat(load=1)
        assert asker.get_reply(request.id) is not None
    plain = sorted({c for c in seen if c not in NOT_A_STATE_CHANGE})
    assert {"evalsha", "eval", "fcall", "fcall_ro"} & set(seen)
    assert plain == [], f"state changed by commands outside a script: {plain}"


# -- COMPAT-011: the design's own items ----------------------------------------------------
ENVELOPE = {
    "id": "msg_1642234567",
    "from": "@backend.nodejs",
    "type": "validate_token",
    "payload": '{"token": "abc123"}',
    "timestamp": "2024-01-15T10:30:00Z",
}
"""What the design's send_message LPUSHes (its payload is the JSON text, by jq --arg)."""


@pytest.mark.spec("COMPAT-011")
def test_the_designs_envelope_in_an_inbox_is_claimed_as_its_message(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    auth = agents("@service.auth")
    sent_before = auth.stats().counters.get("sent", 0)
    server.lpush(key("agent:@service.auth:inbox"), json.dumps(ENVELOPE))
    claim = auth.claim()
    assert claim is not None
    m = claim.message
    assert (m.from_agent, m.to_agent, m.type, m.payload, m.correlation_id, m.priority.name) == (
        "@backend.nodejs",
        "@service.auth",
        "validate_token",
        ENVELOPE["payload"],
        "msg_1642234567",
        "NORMAL",
    )
    assert auth.get(claim.id).status.value == "processing"
    assert auth.stats().counters["sent"] == sent_before + 1
    auth.reply(claim.id, claim.token, {"valid": True})
    assert auth.get_reply(claim.id) is not None


@pytest.mark.spec("COMPAT-011")
def test_the_designs_task_without_a_type_is_claimed_whole_from_its_priority_list(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    task = {"batch_id": "7", "data": "dataset_7"}
    server.lpush(key("tasks:high_priority"), json.dumps(task))
    claim = agents("@worker.batch.001").claim(DEFAULT_QUEUE)
    assert claim is not None
    assert (
        claim.message.type,
        claim.message.payload,
        claim.message.priority.name,
        claim.message.from_agent,
    ) == ("task", "dataset_7", "HIGH", "@unknown")


@pytest.mark.spec("COMPAT-011")
def test_an_item_that_is_not_json_becomes_a_dead_letter_shown_by_stats(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    worker = agents("@worker")
    server.lpush(key("agent:@worker:inbox"), "not json at all")
    assert worker.claim() is None
    (dead,) = worker.dead_letters()
    assert (dead.type, dead.payload, dead.to_agent) == ("unreadable", "not json at all", "@worker")
    assert "cannot adopt" in (dead.last_error or "")
    assert worker.stats().depths["@worker"].get("dead") == 1


@pytest.mark.spec("COMPAT-011", "DLQ-001")
def test_the_designs_dead_letters_are_listed_with_their_reason(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    operator = agents(None)
    design_dead = {
        "original": json.dumps(ENVELOPE),
        "reason": "validation service down",
        "failed_at": "2024-01-15T10:31:00Z",
    }
    server.lpush(key("dead_letter_queue"), json.dumps(design_dead))
    (dead,) = operator.dead_letters()
    assert (dead.status.value, dead.from_agent, dead.type, dead.payload, dead.last_error) == (
        "dead",
        "@backend.nodejs",
        "validate_token",
        ENVELOPE["payload"],
        "validation service down",
    )
    assert [m.id for m in operator.dead_letters()] == [dead.id]  # adopted once
    assert operator.purge_dead([dead.id]) == 1


@pytest.mark.spec("COMPAT-011")
@pytest.mark.parametrize("adopted", [False, True], ids=["sent", "design-envelope"])
def test_a_reply_is_published_on_the_designs_response_channel(
    agents: Agents, server: Any, key: Callable[[str], str], adopted: bool
) -> None:
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    if adopted:
        server.lpush(key("agent:@service.auth:inbox"), json.dumps(ENVELOPE))
        channel = key(f"response:@backend.nodejs:{ENVELOPE['id']}")
    else:
        request = asker.send(
            "@service.auth", "validate_token", {"token": "abc123"}, correlation_id="req_1"
        )
        channel = key(f"response:@backend.nodejs:{request.id}")
    listener = server.pubsub()
    listener.subscribe(channel)
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    claim = worker.claim()
    assert claim is not None
    reply = worker.reply(claim.id, claim.token, {"valid": True})
    heard = listener.get_message(timeout=5)
    listener.close()
    assert heard is not None and heard["channel"] == channel
    assert json.loads(heard["data"]) == {
        "id": reply.id,
        "request_id": claim.id,
        "from_agent": "@service.auth",
        "to_agent": "@backend.nodejs",
        "payload": {"valid": True},
        "status": "success",
        "created_at": reply.created_at,
        "correlation_id": claim.message.correlation_id,
    }


@pytest.mark.spec("COMPAT-011")
def test_a_message_popped_by_the_designs_brpop_is_put_back_by_sweep(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    sender, worker = agents("@backend.nodejs"), agents("@service.auth")
    sent = [sender.send("@service.auth", "validate_token", {"n": n}) for n in range(3)]
    _, popped = server.brpop([key("agent:@service.auth:inbox")], timeout=1)
    assert popped == sent[0].id  # the design's reader gets the oldest id, not its JSON
    assert agents(None).sweep() == 1
    back = worker.get(sent[0].id)
    assert back.status.value == "pending" and "outside agentcomm" in (back.last_error or "")
    assert [c.id for c in worker.claim_many(limit=3)] == [m.id for m in sent]  # in order


class monitored:
    """Top-level commands the server runs meanwhile (MONITOR), without those run by scripts.

    Synchronised on what MONITOR itself shows, never on timing: the block starts only once
    the listener has read an ECHO of a start mark, and ends with an ECHO of an end mark,
    read by the listener before it stops; so every command of the block is seen.  The
    marks are unique, so another client of a shared server cannot end the watch.  Only
    commands that name ``about`` (the hub's key prefix) are kept: a test beside this one
    on the same server, opening a hub of its own, is not this hub's doing."""

    WAIT = 30.0  # seconds for a mark to show; a loaded machine shows one in milliseconds

    def __init__(self, server: Any, about: str = "") -> None:
        self.server = server
        self.about = about
        self.seen: list[str] = []
        self.start_mark = f"agentcomm-monitor-start-{uuid.uuid4().hex}"
        self.end_mark = f"agentcomm-monitor-end-{uuid.uuid4().hex}"
        self.started = threading.Event()
        self.done = threading.Event()

    def __enter__(self) -> list[str]:
        try:
            self.monitor = self.server.monitor().__enter__()
        except Exception as exc:  # a server without MONITOR cannot be observed
            pytest.skip(f"the server does not allow MONITOR: {exc}")
        threading.Thread(target=self.listen, daemon=True).start()
        self.server.echo(self.start_mark)
        if not self.started.wait(self.WAIT):
            self.monitor.connection.disconnect()
            raise AssertionError(f"MONITOR did not show the start mark within {self.WAIT:g} s")
        return self.seen

    def listen(self) -> None:
        for command in self.monitor.listen():
            text = str(command["command"])
            if not self.started.is_set():
                if self.start_mark in text:
                    self.started.set()
                continue
            if self.end_mark in text:
                break
            if command.get("client_type") != "lua" and self.about in text:
                self.seen.append(text.split(" ")[0].lower())
        self.done.set()

    def __exit__(self, *exc_info: object) -> None:
        self.server.echo(self.end_mark)
        finished = self.done.wait(self.WAIT)
        self.monitor.connection.disconnect()
        assert finished, f"MONITOR did not show the end mark within {self.WAIT:g} s"
