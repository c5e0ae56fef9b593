"""A request that dies is answered by the hub, so its requester stops waiting (SPEC REQ-007).

A request is a message with a correlation id and a deadline (REQ-001).  Whatever kills
it (a poison refusal, retries spent by ``fail``, a lease that lapsed at the last retry),
the same atomic step stores its one reply: status ``error``, from the agent that held it
last, with the reason; a requester waiting for it then returns at once (REQ-005), which the
scenario ``request_dies.yaml`` shows with real agent processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Reply, Status
from agentcomm_conformance.expect import claimed, refused

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]
LEASE = 1.0


def ask(asker: Hub, **options: Any) -> str:
    """A request as ``request`` sends one, without waiting for its reply: its id."""
    payload = {"token": "abc123"}
    return asker.send("@worker", "validate_token", payload, correlation_id="req_dies", **options).id


def answered(hub: Hub, request_id: str, holder: str, reason: str) -> Reply:
    """The hub's answer to a dead request: checked field by field, then returned."""
    reply = hub.wait_reply(request_id, timeout=0)
    assert (
        reply.request_id,
        reply.status.value,
        reply.from_agent,
        reply.to_agent,
        reply.correlation_id,
    ) == (request_id, "error", holder, "@backend", "req_dies")
    assert reply.payload == {"error": "dead_letter", "reason": reason}
    dead = hub.get(request_id)
    assert (dead.status, dead.reply_id, dead.last_error) == (Status.DEAD, reply.id, reason)
    return reply


@pytest.mark.spec("REQ-007", "RETRY-003")
def test_a_request_refused_as_poison_is_answered_with_the_reason(agents: Agents) -> None:
    asker, worker = agents("@backend"), agents("@worker")
    request_id = ask(asker, expires_in=60)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison: cannot parse the token", retry=False)
    answered(asker, request_id, "@worker", "poison: cannot parse the token")


@pytest.mark.spec("REQ-007", "RETRY-001")
def test_a_request_whose_last_retry_fails_is_answered(agents: Agents, elapse: Elapse) -> None:
    asker, worker = agents("@backend"), agents("@worker")
    request_id = ask(asker, expires_in=60, max_retries=1)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "first try")
    assert asker.get_reply(request_id) is None  # retried: not dead, not answered
    elapse(1)  # the backoff
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "second try")
    answered(asker, request_id, "@worker", "second try")


@pytest.mark.spec("REQ-007", "RETRY-001", "LEASE-007")
def test_a_request_whose_holder_vanished_at_its_last_retry_is_answered(
    agents: Agents, elapse: Elapse
) -> None:
    asker, worker = agents("@backend"), agents("@worker")
    request_id = ask(asker, expires_in=60, max_retries=0, timeout_seconds=LEASE)
    claimed(worker)  # and never heard from again
    elapse(LEASE)
    assert agents("@sweeper").sweep() == 1
    answered(asker, request_id, "@worker", "lease expired")


@pytest.mark.spec("REQ-007")
@pytest.mark.parametrize(
    "options", [{"expires_in": 60}, {}], ids=["no-correlation-id", "no-deadline"]
)
def test_a_message_that_is_not_a_request_dies_unanswered(
    agents: Agents, options: dict[str, object]
) -> None:
    asker, worker = agents("@backend"), agents("@worker")
    correlation = {} if options else {"correlation_id": "req_dies"}
    sent = asker.send("@worker", "work", {}, **options, **correlation)  # type: ignore[arg-type]
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison", retry=False)
    assert asker.get_reply(sent.id) is None
    assert asker.get(sent.id).reply_id is None


@pytest.mark.spec("REQ-007", "REQ-004", "DLQ-002", "DLQ-003")
def test_an_answered_dead_request_is_not_replayed_and_is_purged_with_its_reply(
    agents: Agents,
) -> None:
    asker, worker = agents("@backend"), agents("@worker")
    request_id = ask(asker, expires_in=60)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison", retry=False)
    reply = answered(asker, request_id, "@worker", "poison")
    before = worker.get(request_id)
    with refused("conflict"):
        worker.replay(request_id)
    assert worker.get(request_id) == before
    with refused("already_finished"):  # its holder cannot answer it a second time
        worker.reply(claim.id, claim.token, {"valid": True})
    assert asker.get_reply(request_id) == reply
    assert worker.purge_dead([request_id]) == 1
    with refused("not_found"):
        asker.get_reply(request_id)
