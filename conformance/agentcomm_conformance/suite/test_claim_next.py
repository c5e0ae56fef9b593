"""Finish one message and claim the next in one step (SPEC CLAIM-009, capability
``claim_next``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Status
from agentcomm_conformance.expect import claimed, refused

Agents = Callable[..., Hub]
Finish = Callable[[Hub, Claim], Any]

pytestmark = [pytest.mark.spec("CLAIM-009"), pytest.mark.capability("claim_next")]

WRONG = "not-the-token-" + "x" * 32

CHAINED: dict[str, Finish] = {
    "complete": lambda h, c: h.complete(c.id, c.token, claim_next=True),
    "reply": lambda h, c: h.reply(c.id, c.token, {"ok": True}, claim_next=True),
    "fail": lambda h, c: h.fail(c.id, c.token, "try later", claim_next=True),
    "fail_no_retry": lambda h, c: h.fail(c.id, c.token, "poison", retry=False, claim_next=True),
}
"""Finishing calls that never hand the finished message back."""
each_finish = pytest.mark.parametrize("finish", CHAINED.values(), ids=CHAINED.keys())

AFTER = {
    "complete": Status.COMPLETED,
    "reply": Status.COMPLETED,
    "fail": Status.PENDING,
    "fail_no_retry": Status.DEAD,
}


def queue_of(boss: Hub, *payloads: str, priority: str = "normal") -> list[str]:
    return [boss.send("jobs", "work", p, priority=priority).id for p in payloads]


@pytest.mark.parametrize("name", CHAINED.keys())
def test_a_finish_also_leases_the_next_message_of_the_same_queue(agents: Agents, name: str) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    first, second, third = queue_of(boss, "a", "b", "c")
    claim = claimed(worker, "jobs")
    assert claim.id == first
    following = CHAINED[name](worker, claim)
    assert isinstance(following, Claim), f"{name} with claim_next returned {following!r}"
    assert following.id == second and following.message.payload == "b"
    assert following.message.status is Status.PROCESSING
    assert following.message.claimed_by == "@worker"
    assert following.token != claim.token  # a fresh token for the new claim (CLAIM-004)
    assert worker.get(first).status is AFTER[name]
    assert worker.get(second).status is Status.PROCESSING
    assert worker.get(third).status is Status.PENDING
    worker.complete(following.id, following.token)  # the token holds the new lease


def test_the_next_message_is_the_one_claim_would_give(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    queue_of(boss, "n1")
    claim = claimed(worker, "jobs")
    queue_of(boss, "n2")
    queue_of(boss, "l1", priority="low")
    queue_of(boss, "h1", priority="high")
    order = []
    following = worker.complete(claim.id, claim.token, claim_next=True)
    while following is not None:
        order.append(following.message.payload)
        following = worker.complete(following.id, following.token, claim_next=True)
    assert order == ["h1", "n2", "l1"]


def test_a_released_message_may_come_straight_back(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    first, _ = queue_of(boss, "a", "b")
    claim = claimed(worker, "jobs")
    again = worker.release(claim.id, claim.token, claim_next=True)
    assert again is not None and again.id == first  # the oldest is the best there
    assert again.token != claim.token and again.message.retry_count == 0


def test_the_next_message_comes_from_the_agents_own_inbox(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    request = boss.send("@worker", "ask", 1)
    later = boss.send("@worker", "ask", 2)
    boss.send("jobs", "work", "not from here")
    claim = claimed(worker)
    assert claim.id == request.id
    following = worker.reply(claim.id, claim.token, "one", claim_next=True)
    assert following is not None and following.id == later.id
    assert boss.wait_reply(request.id, timeout=1).payload == "one"


@each_finish
def test_with_nothing_claimable_the_finish_stands_and_null_comes_back(
    agents: Agents, finish: Finish
) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    (only,) = queue_of(boss, "a")
    claim = claimed(worker, "jobs")
    assert finish(worker, claim) is None
    assert worker.get(only).status is not Status.PROCESSING


@each_finish
def test_a_refused_finish_claims_nothing(agents: Agents, finish: Finish) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    first, waiting = queue_of(boss, "a", "b")
    claim = claimed(worker, "jobs")
    forged = Claim(claim.message, WRONG, claim.lease_expires_at)
    before = dict(worker.stats().counters)
    with refused("stale_lease"):
        finish(worker, forged)
    assert worker.get(first).status is Status.PROCESSING
    assert worker.get(waiting).status is Status.PENDING
    assert worker.get(waiting).claimed_by is None
    assert dict(worker.stats().counters) == before
    assert worker.claim("jobs") is not None  # still claimable: nobody took it


@each_finish
def test_a_target_that_is_another_agents_inbox_changes_nothing(
    agents: Agents, finish: Finish
) -> None:
    boss, bob, alice = agents("@boss"), agents("@bob"), agents("@alice")
    sent = boss.send("@bob", "ask", 1)
    boss.send("@bob", "ask", 2)
    claim = claimed(bob)
    with refused("invalid_input"):  # alice holds bob's token, but may not claim his inbox
        finish(alice, claim)
    assert alice.get(sent.id).status is Status.PROCESSING
    bob.complete(claim.id, claim.token)  # bob's lease is untouched


@pytest.mark.capability("batch")
def test_complete_many_leases_up_to_n_next_messages(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    ids = queue_of(boss, "a", "b", "c", "d", "e")
    claims = worker.claim_many("jobs", limit=2)
    following = worker.complete_many([(c.id, c.token) for c in claims], claim_next=2)
    assert [c.id for c in following] == ids[2:4]
    assert len({c.token for c in following}) == 1  # one claim call, one token
    assert [worker.get(i).status for i in ids] == [Status.COMPLETED] * 2 + [
        Status.PROCESSING
    ] * 2 + [Status.PENDING]


@pytest.mark.capability("batch")
def test_complete_many_of_several_targets_claims_and_completes_nothing(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    boss.send("jobs", "work", 1)
    boss.send("other", "work", 2)
    boss.send("jobs", "work", 3)
    pairs = [(c.id, c.token) for c in (claimed(worker, "jobs"), claimed(worker, "other"))]
    with refused("invalid_input"):
        worker.complete_many(pairs, claim_next=1)
    assert [worker.get(m).status for m, _ in pairs] == [Status.PROCESSING] * 2


def test_wait_bounds_the_wait_for_the_next_message(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    (only,) = queue_of(boss, "a")
    claim = claimed(worker, "jobs")
    assert worker.complete(claim.id, claim.token, claim_next=True, wait=0.2) is None
    assert worker.get(only).status is Status.COMPLETED


def test_wait_without_claim_next_is_invalid_and_changes_nothing(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    (only,) = queue_of(boss, "a")
    claim = claimed(worker, "jobs")
    with refused("invalid_input"):
        worker.complete(claim.id, claim.token, wait=1)
    assert worker.get(only).status is Status.PROCESSING
