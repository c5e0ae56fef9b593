"""The Redis key layout of the design document, made durable (SPEC COMPAT-006..008).

The suite reaches the server through the hub's locator, a ``redis://`` URL whose
``prefix`` option is the hub's key prefix, and reads the keys with redis-py as the
design's ``redis-cli`` monitoring does.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from agentcomm import DEFAULT_QUEUE, Hub
from agentcomm_conformance.plugin import HubSession

Agents = Callable[..., Hub]
RETAIN_FINISHED = 86_400  # the hub option's default (SPEC "Hub options")

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


@pytest.fixture
def server(hub_session: HubSession) -> Iterator[Any]:
    """A redis-py client on the hub's server (the locator's URL without its options)."""
    redis = pytest.importorskip("redis", reason="redis-py reads the hub's keys")
    parts = urllib.parse.urlsplit(hub_session.locator)
    if parts.scheme not in {"redis", "rediss"}:
        pytest.skip(f"the hub's locator {hub_session.locator!r} is not a redis:// URL")
    with redis.Redis.from_url(
        urllib.parse.urlunsplit(parts._replace(query="")), decode_responses=True
    ) as client:
        yield client


@pytest.fixture
def key(hub_session: HubSession) -> Callable[[str], str]:
    """A design key name under the hub's prefix."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(hub_session.locator).query)
    prefix = query.get("prefix", [""])[0]
    return lambda name: prefix + name


# -- COMPAT-006: per-agent keys ----------------------------------------------------------------
@pytest.mark.spec("COMPAT-006")
def test_an_inbox_is_the_designs_list_and_llen_counts_what_waits_in_it(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    sender, bob = agents("@backend.nodejs"), agents("@service.auth")
    for n in range(3):
        sender.send("@service.auth", "validate_token", {"n": n})
    assert server.llen(key("agent:@service.auth:inbox")) == 3
    claim = bob.claim()
    assert claim is not None
    assert server.llen(key("agent:@service.auth:inbox")) == 2


@pytest.mark.spec("COMPAT-006")
@pytest.mark.parametrize("ttl", [60, 15])
def test_a_heartbeat_is_the_designs_ttl_key_and_the_registry_outlives_it(
    agents: Agents, server: Any, key: Callable[[str], str], ttl: int
) -> None:
    worker = agents("@backend.nodejs")
    worker.register(capabilities=["api", "auth"], process_id=1234, ttl=ttl)
    beat = key("agent:@backend.nodejs:heartbeat")
    entry = json.loads(server.get(beat))
    assert (entry["status"], entry["pid"], entry["capabilities"]) == (
        "active",
        1234,
        ["api", "auth"],
    )
    assert 0 < server.pttl(beat) <= ttl * 1000  # the agent's own TTL, not a fixed one
    worker.heartbeat()
    assert 0 < server.pttl(beat) <= ttl * 1000
    worker.deregister()
    assert server.get(beat) is None
    assert [a.agent_id for a in worker.agents()] == ["@backend.nodejs"]


# -- COMPAT-007: replies, queues, events, dead letters, processing ---------------------------------
@pytest.mark.spec("COMPAT-007")
def test_the_default_queue_uses_the_designs_three_priority_lists(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    producer = agents("@producer")
    for level in ("high", "normal", "low", "high"):
        producer.send(DEFAULT_QUEUE, "process_batch", {}, priority=level)
    lengths = [server.llen(key(f"tasks:{level}_priority")) for level in ("high", "normal", "low")]
    assert lengths == [2, 1, 1]


@pytest.mark.spec("COMPAT-007", "EXP-003")
def test_a_reply_is_kept_under_the_designs_response_key_with_a_ttl(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    request = asker.send("@service.auth", "validate_token", {"token": "jwt123"})
    claim = worker.claim()
    assert claim is not None
    worker.reply(claim.id, claim.token, {"valid": True})
    response = key(f"response:@backend.nodejs:{request.id}")
    assert server.exists(response)
    # EXP-003: kept on its own at least an hour past retain_finished (one day by default).
    assert server.pttl(response) >= (RETAIN_FINISHED + 3600 - 60) * 1000
    assert asker.wait_reply(request.id, timeout=1).payload == {"valid": True}


@pytest.mark.spec("COMPAT-007")
def test_each_event_type_is_a_durable_stream_under_the_designs_channel_name(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    publisher = agents("@service.auth")
    publisher.publish("user_login", {"user_id": "123"})
    publisher.publish("user_login", {"user_id": "456"})
    entries = server.xrange(key("event:user_login"))
    assert len(entries) == 2
    assert [json.loads(fields["payload"]) for _, fields in entries] == [
        {"user_id": "123"},
        {"user_id": "456"},
    ]


@pytest.mark.spec("COMPAT-007")
def test_dead_letters_are_listed_in_the_designs_dead_letter_queue(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    producer, worker = agents("@producer"), agents("@worker")
    sent = producer.send(DEFAULT_QUEUE, "poison", {})
    claim = worker.claim(DEFAULT_QUEUE)
    assert claim is not None
    worker.fail(claim.id, claim.token, "cannot parse", retry=False)
    assert sent.id in server.lrange(key("dead_letter_queue"), 0, -1)


@pytest.mark.spec("COMPAT-007")
def test_a_claimed_message_is_held_in_a_processing_structure_with_its_lease(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    producer, worker = agents("@producer"), agents("@worker")
    sent = producer.send(DEFAULT_QUEUE, "process_batch", {}, timeout_seconds=120)
    claim = worker.claim(DEFAULT_QUEUE)
    assert claim is not None
    holders = [
        k
        for k in server.scan_iter(match=key("*"), count=1000)
        if server.type(k) == "zset" and server.zscore(k, sent.id) is not None
    ]
    assert holders, "no sorted set under the prefix holds the claimed message"
    assert server.zscore(holders[0], sent.id) == pytest.approx(claim.lease_expires_at, abs=1e-3)


@pytest.mark.spec("COMPAT-006", "COMPAT-007", "EXP-003")
def test_no_key_holding_what_waits_expires_on_its_own(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    """Only finished records may expire on their own (EXP-003): a TTL on an inbox, a queue,
    a stream, the dead letters or the leases would lose them without a trace."""
    producer, worker, idle = agents("@producer"), agents("@worker"), "@idle.agent"
    for level in ("high", "high", "normal", "low"):
        producer.send(DEFAULT_QUEUE, "process_batch", {}, priority=level)
        producer.send(idle, "ping", {}, priority=level)
    assert worker.claim(DEFAULT_QUEUE) is not None
    producer.send("@worker", "poison", {})
    poison = worker.claim()
    assert poison is not None
    worker.fail(poison.id, poison.token, "poison", retry=False)
    producer.publish("user_login", {})
    waiting = [
        f"agent:{idle}:urgent",
        f"agent:{idle}:inbox",
        f"agent:{idle}:inbox:low",
        "tasks:high_priority",
        "tasks:normal_priority",
        "tasks:low_priority",
        "event:user_login",
        "dead_letter_queue",
        f"processing:{DEFAULT_QUEUE}",
    ]
    ttls = {name: server.pttl(key(name)) for name in waiting}
    assert all(t != -2 for t in ttls.values()), f"keys missing (-2): {ttls}"
    assert {n: t for n, t in ttls.items() if t != -1} == {}, "these keys have a TTL"


@pytest.mark.spec("COMPAT-007")
def test_the_dead_letter_queue_lists_exactly_the_dead_letters(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    producer, worker = agents("@producer"), agents("@worker")
    for n in range(4):
        producer.send("@worker", "work", n)
    dead = []
    for _ in range(4):
        claim = worker.claim()
        assert claim is not None
        dead.append(worker.fail(claim.id, claim.token, "poison", retry=False).id)
    worker.replay(dead[0])
    worker.purge_dead([dead[1]])
    assert sorted(server.lrange(key("dead_letter_queue"), 0, -1)) == sorted(dead[2:])


@pytest.mark.spec("COMPAT-007")
def test_the_processing_set_holds_exactly_the_live_leases(
    agents: Agents, elapse: Callable[[float], None], server: Any, key: Callable[[str], str]
) -> None:
    producer, worker = agents("@producer"), agents("@worker")
    for n in range(6):
        producer.send("jobs", "work", n, timeout_seconds=0.5 if n == 5 else 60)
    claims = [worker.claim("jobs") for _ in range(6)]
    assert all(c is not None for c in claims)
    processing = key("processing:jobs")

    def held() -> dict[str, float]:
        return dict(server.zrange(processing, 0, -1, withscores=True))

    assert held() == pytest.approx({c.id: c.lease_expires_at for c in claims if c}, abs=1e-3)
    done, replied, failed, released, extended, _lapsing = (c for c in claims if c)
    worker.complete(done.id, done.token)
    worker.reply(replied.id, replied.token, "ok")
    worker.fail(failed.id, failed.token, "again")
    worker.release(released.id, released.token)
    renewed = worker.extend(extended.id, extended.token, 120)
    elapse(0.5)
    assert worker.sweep() == 1  # the lapse is settled
    assert held() == pytest.approx({extended.id: renewed.lease_expires_at}, abs=1e-3)


# -- COMPAT-008: one script per multi-key change ---------------------------------------------
@pytest.mark.spec("COMPAT-008")
def test_every_state_change_reaches_the_server_as_one_script(agents: Agents, server: Any) -> None:
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    worker.register()
    with monitored(server) as seen:
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
    marks are unique, so another client of a shared server cannot end the watch."""

    WAIT = 30.0  # seconds for a mark to show; a loaded machine shows one in milliseconds

    def __init__(self, server: Any) -> None:
        self.server = server
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
            if command.get("client_type") != "lua":
                self.seen.append(text.split(" ")[0].lower())
        self.done.set()

    def __exit__(self, *exc_info: object) -> None:
        self.server.echo(self.end_mark)
        finished = self.done.wait(self.WAIT)
        self.monitor.connection.disconnect()
        assert finished, f"MONITOR did not show the end mark within {self.WAIT:g} s"
