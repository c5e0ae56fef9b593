"""The Redis key layout of the design document, made durable (SPEC COMPAT-006, COMPAT-007).

The suite reaches the server through the hub's locator, a ``redis://`` URL whose
``prefix`` option is the hub's key prefix, and reads the keys with redis-py as the
design's ``redis-cli`` monitoring does (``redis_design.py``).  One script per change
(COMPAT-008) and the design's own items (COMPAT-011) are in ``test_compat_redis_scripts.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Outgoing
from agentcomm_conformance.suite.redis_design import key as key  # fixture, by name
from agentcomm_conformance.suite.redis_design import server as server  # fixture, by name

Agents = Callable[..., Hub]
RETAIN_FINISHED = 86_400  # the hub option's default (SPEC "Hub options")


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


@pytest.mark.spec("COMPAT-007")
@pytest.mark.capability("batch")
@pytest.mark.capability("claim_next")
def test_the_processing_set_holds_exactly_a_batchs_leases(
    agents: Agents, server: Any, key: Callable[[str], str]
) -> None:
    """Batches are leased in steps of their own (a claim of many, the next claim of a
    finishing step); the set still holds each lease and nothing else, and is gone once
    the last is finished."""
    producer, worker = agents("@producer"), agents("@worker")
    producer.send_many([Outgoing("jobs", "work", n) for n in range(40)])
    processing = key("processing:jobs")

    def held() -> dict[str, float]:
        return dict(server.zrange(processing, 0, -1, withscores=True))

    first = worker.claim_many("jobs", limit=20)
    assert held() == pytest.approx({c.id: c.lease_expires_at for c in first}, abs=1e-3)
    second = worker.complete_many([(c.id, c.token) for c in first], claim_next=20)
    assert len(second) == 20
    assert held() == pytest.approx({c.id: c.lease_expires_at for c in second}, abs=1e-3)
    worker.complete_many([(c.id, c.token) for c in second])
    assert server.exists(processing) == 0
