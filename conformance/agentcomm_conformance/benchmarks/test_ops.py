"""The cost of each hub operation, on the implementation under test (``--impl``).

Timings are measured and recorded (BENCHMARKS.md), never asserted.  Each benchmark still
checks that the operation did its job, counting the calls it made, so a broken fast path
cannot pass for a quick one, and the same checks hold under ``--benchmark-disable``
(every benchmarked function then runs once).
"""

from __future__ import annotations

from typing import Any

import pytest

from agentcomm import Hub, Outgoing, Status
from agentcomm_conformance.plugin import Agents
from agentcomm_conformance.targets import Target

pytestmark = pytest.mark.bench
ROUNDS = 2000
CYCLES = 20


def fill(hub: Hub, count: int, target: Target) -> None:
    """``count`` tasks on queue ``q``, in batches when the implementation has them."""
    if "batch" not in target.capabilities:
        for i in range(count):
            hub.send("q", "task", {"i": i})
        return
    for start in range(0, count, 1000):
        hub.send_many(
            [Outgoing("q", "task", {"i": i}) for i in range(start, min(start + 1000, count))]
        )


def completed(hub: Hub) -> int:
    return hub.stats().depths.get("q", {}).get("completed", 0)


def test_send_one_message(benchmark: Any, hub: Hub) -> None:
    message = benchmark(hub.send, "q", "task", {"i": 1})
    assert message.status is Status.PENDING


def test_claim_then_complete_one_message(
    benchmark: Any, hub: Hub, conformance_target: Target
) -> None:
    fill(hub, ROUNDS, conformance_target)
    calls = []

    def claim_complete() -> None:
        claim = hub.claim("q")
        assert claim is not None
        hub.complete(claim.id, claim.token)
        calls.append(claim.id)

    benchmark.pedantic(claim_complete, rounds=ROUNDS, iterations=1)
    assert completed(hub) == len(calls) == len(set(calls))


@pytest.mark.capability("batch")
@pytest.mark.parametrize("batch", [100, 1000])
def test_send_claim_complete_a_batch(benchmark: Any, hub: Hub, batch: int) -> None:
    cycles = []

    def cycle() -> None:
        hub.send_many([Outgoing("q", "task", {"i": i}) for i in range(batch)])
        claims = hub.claim_many("q", limit=batch)
        assert len(claims) == batch
        hub.complete_many([(c.id, c.token) for c in claims])
        cycles.append(batch)

    benchmark.pedantic(cycle, rounds=CYCLES, iterations=1)
    assert completed(hub) == sum(cycles)


def test_request_reply_round_trip(benchmark: Any, agents: Agents) -> None:
    asker, answerer = agents("@backend.nodejs"), agents("@service.auth")

    def round_trip() -> Any:
        sent = asker.send("@service.auth", "validate_token", {"token": "t"}, correlation_id="r1")
        claim = answerer.claim()
        assert claim is not None
        answerer.reply(claim.id, claim.token, {"valid": True})
        return asker.wait_reply(sent.id, timeout=0)

    assert benchmark(round_trip).payload == {"valid": True}


def test_publish_then_read_one_event(benchmark: Any, agents: Agents) -> None:
    publisher, subscriber = agents("@service.auth"), agents("@analytics.tracker")
    subscriber.subscribe("user_login")

    def publish_read() -> Any:
        publisher.publish("user_login", {"user_id": "123"})
        return subscriber.events(limit=1)

    assert len(benchmark(publish_read)) == 1
