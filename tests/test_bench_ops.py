"""Cost of each hub operation, measured by pytest-benchmark (``pytest -m bench -p no:xdist``).

Not part of the default run: timings are measured and recorded (BENCHMARKS.md), never
asserted.  Each benchmark still checks the operation did its job, so a broken fast path
cannot pass for a quick one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Outgoing, Status

pytestmark = pytest.mark.bench
ROUNDS = 2000


def fill(hub: Hub, count: int) -> None:
    for start in range(0, count, 1000):
        hub.send_many([Outgoing("q", "task", {"i": i}) for i in range(start, start + 1000)])


def test_send_one_message(benchmark: Any, hub: Hub) -> None:
    message = benchmark(hub.send, "q", "task", {"i": 1})
    assert message.status is Status.PENDING


def test_claim_then_complete_one_message(benchmark: Any, hub: Hub) -> None:
    fill(hub, ROUNDS)

    def claim_complete() -> None:
        claim = hub.claim("q")
        assert claim is not None
        hub.complete(claim.id, claim.token)

    benchmark.pedantic(claim_complete, rounds=ROUNDS, iterations=1)
    assert hub.stats().counters["completed"] == ROUNDS


@pytest.mark.parametrize("batch", [100, 1000])
def test_send_claim_complete_a_batch(benchmark: Any, hub: Hub, batch: int) -> None:
    def cycle() -> None:
        hub.send_many([Outgoing("q", "task", {"i": i}) for i in range(batch)])
        claims = hub.claim_many("q", limit=batch)
        hub.complete_many([(c.id, c.token) for c in claims])

    benchmark.pedantic(cycle, rounds=20, iterations=1)
    assert hub.stats().depths["q"] == {"completed": 20 * batch}


def test_request_reply_round_trip(benchmark: Any, hubs: Callable[..., Hub]) -> None:
    asker, answerer = hubs("@backend.nodejs"), hubs("@service.auth")

    def round_trip() -> Any:
        sent = asker.send("@service.auth", "validate_token", {"token": "t"}, correlation_id="r1")
        claim = answerer.claim()
        assert claim is not None
        answerer.reply(claim.id, claim.token, {"valid": True})
        return asker.wait_reply(sent.id, timeout=0)

    assert benchmark(round_trip).payload == {"valid": True}


def test_publish_then_read_one_event(benchmark: Any, hubs: Callable[..., Hub]) -> None:
    publisher, subscriber = hubs("@service.auth"), hubs("@analytics.tracker")
    subscriber.subscribe("user_login")

    def publish_read() -> Any:
        publisher.publish("user_login", {"user_id": "123"})
        return subscriber.events(limit=1)

    assert len(benchmark(publish_read)) == 1
