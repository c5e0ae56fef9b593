"""Claims, priorities, leases and stale tokens (SPEC CLAIM, PRIO, ORD, LEASE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import (
    DEFAULT_QUEUE,
    AlreadyFinished,
    Claim,
    Conflict,
    Hub,
    ManualClock,
    NotFound,
    Priority,
    StaleLease,
    Status,
)

Action = Callable[[Hub, str, str], Any]

FINISHING: dict[str, Action] = {
    "complete": lambda h, m, t: h.complete(m, t),
    "reply": lambda h, m, t: h.reply(m, t, "late"),
    "fail": lambda h, m, t: h.fail(m, t, "late"),
    "release": lambda h, m, t: h.release(m, t),
    "extend": lambda h, m, t: h.extend(m, t),
}


def claimed(worker: Hub, source: str | None = None) -> Claim:
    claim = worker.claim(source)
    assert claim is not None
    return claim


def test_claim_serves_high_then_normal_then_low(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for level in ("low", "normal", "high"):
        boss.send("jobs", "work", level, priority=level)
    worker = hubs("@worker")
    assert [claimed(worker, "jobs").message.payload for _ in range(3)] == ["high", "normal", "low"]


@pytest.mark.parametrize("level", list(Priority))
def test_claim_serves_the_oldest_first_within_a_priority(hubs: Callable[..., Hub],
                                                         level: Priority) -> None:
    boss = hubs("@boss")
    sent = [boss.send("jobs", "work", i, priority=level).id for i in range(5)]
    worker = hubs("@worker")
    assert [claimed(worker, "jobs").id for _ in range(5)] == sent


def test_a_later_high_message_overtakes_older_normal_ones(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(5):
        boss.send("jobs", "work", i)
    urgent = boss.send("jobs", "work", "urgent", priority=Priority.HIGH)
    assert claimed(hubs("@worker"), "jobs").id == urgent.id


def test_priorities_of_different_targets_never_interact(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    boss.send("other", "work", "high elsewhere", priority="high")
    low = boss.send("jobs", "work", "low here", priority="low")
    assert claimed(hubs("@worker"), "jobs").id == low.id


def test_claim_without_source_takes_only_from_the_agents_own_inbox(
        hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    boss.send(DEFAULT_QUEUE, "work", "queue")
    boss.send("@bob", "work", "for bob")
    mine = boss.send("@alice", "work", "for alice")
    alice = hubs("@alice")
    assert claimed(alice).id == mine.id
    assert alice.claim() is None


def test_claim_from_a_queue_takes_only_that_queue(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    boss.send("reports", "work", "report")
    task = boss.send(DEFAULT_QUEUE, "work", "task")
    worker = hubs("@worker")
    claim = claimed(worker, DEFAULT_QUEUE)
    assert claim.id == task.id
    assert worker.claim(DEFAULT_QUEUE) is None


def test_a_claim_grants_a_lease_of_the_messages_timeout(hubs: Callable[..., Hub],
                                                        clock: ManualClock) -> None:
    sent = hubs("@boss").send(DEFAULT_QUEUE, "work", {}, timeout_seconds=30)
    worker = hubs("@worker")
    claim = claimed(worker, DEFAULT_QUEUE)
    assert claim.lease_expires_at == clock.now() + 30
    for message in (claim.message, worker.get(sent.id)):
        assert message.status is Status.PROCESSING
        assert (message.claimed_by, message.to_agent) == ("@worker", DEFAULT_QUEUE)


def test_each_claim_call_draws_a_fresh_token(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(4):
        boss.send("jobs", "work", i)
    worker = hubs("@worker")
    batch = worker.claim_many("jobs", limit=2)
    singles = [claimed(worker, "jobs"), claimed(worker, "jobs")]
    assert batch[0].token == batch[1].token
    tokens = {batch[0].token, singles[0].token, singles[1].token}
    assert len(tokens) == 3
    assert all(0 < len(t) <= 100 for t in tokens)


def test_claim_many_returns_messages_in_claim_order(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for payload, level in [("n1", "normal"), ("l1", "low"), ("h1", "high"), ("n2", "normal"),
                           ("h2", "high")]:
        boss.send("jobs", "work", payload, priority=level)
    claims = hubs("@worker").claim_many("jobs", limit=4)
    assert [c.message.payload for c in claims] == ["h1", "h2", "n1", "n2"]


def test_claims_never_hand_out_the_same_message_twice(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    sent = {boss.send("jobs", "work", i).id for i in range(7)}
    one, two = hubs("@worker.1"), hubs("@worker.2")
    got = [c.id for c in one.claim_many("jobs", limit=3) + two.claim_many("jobs", limit=3)]
    got += [claimed(one, "jobs").id]
    assert len(got) == len(set(got)) == 7
    assert set(got) == sent
    assert two.claim("jobs") is None


def test_claim_returns_nothing_when_nothing_is_pending(hub: Hub) -> None:
    assert hub.claim() is None
    assert hub.claim(DEFAULT_QUEUE) is None
    assert hub.claim_many(DEFAULT_QUEUE, limit=5) == []


def test_claim_with_wait_returns_none_once_the_wait_has_passed(hub: Hub,
                                                               clock: ManualClock) -> None:
    start = clock.now()
    assert hub.claim(wait=2) is None
    assert clock.now() >= start + 2


def test_claim_with_wait_returns_a_waiting_message_at_once(hubs: Callable[..., Hub],
                                                           clock: ManualClock) -> None:
    sent = hubs("@boss").send("@worker", "work", {})
    start = clock.now()
    claim = hubs("@worker").claim(wait=10)
    assert claim is not None and claim.id == sent.id
    assert clock.now() == start


def test_an_expired_message_is_never_claimable(hubs: Callable[..., Hub],
                                               clock: ManualClock) -> None:
    boss = hubs("@boss")
    boss.send("@worker", "work", "overdue", expires_in=5, priority="high")
    lasting = boss.send("@worker", "work", "lasting", priority="low")
    clock.advance(5)
    worker = hubs("@worker")
    assert [c.id for c in worker.claim_many(limit=10)] == [lasting.id]
    assert worker.claim() is None


def test_a_message_is_claimable_until_its_deadline(hubs: Callable[..., Hub],
                                                   clock: ManualClock) -> None:
    sent = hubs("@boss").send("@worker", "work", {}, expires_in=5)
    clock.advance(4.5)
    assert claimed(hubs("@worker")).id == sent.id


def test_extend_renews_the_lease_from_now(hubs: Callable[..., Hub], clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, timeout_seconds=30)
    worker = hubs("@worker")
    claim = claimed(worker)
    clock.advance(20)
    assert worker.extend(claim.id, claim.token).lease_expires_at == clock.now() + 30
    assert worker.extend(claim.id, claim.token, 100).lease_expires_at == clock.now() + 100
    clock.advance(99)
    assert worker.claim() is None
    worker.complete(claim.id, claim.token)
    assert worker.get(claim.id).status is Status.COMPLETED


def test_complete_finishes_the_message(hubs: Callable[..., Hub]) -> None:
    hubs("@boss").send("@worker", "work", {})
    worker = hubs("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    assert worker.get(claim.id).status is Status.COMPLETED
    assert worker.claim() is None
    assert worker.stats().counters["completed"] == 1


@pytest.mark.parametrize("action", FINISHING.values(), ids=FINISHING.keys())
def test_the_holder_that_completed_a_message_gets_already_finished(
        hubs: Callable[..., Hub], action: Action) -> None:
    hubs("@boss").send("@worker", "work", {})
    worker = hubs("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    with pytest.raises(AlreadyFinished):
        action(worker, claim.id, claim.token)
    assert worker.stats().counters["completed"] == 1


@pytest.mark.parametrize("action", FINISHING.values(), ids=FINISHING.keys())
def test_a_wrong_token_raises_stale_lease_and_changes_nothing(hubs: Callable[..., Hub],
                                                              action: Action) -> None:
    hubs("@boss").send("@worker", "work", {})
    worker = hubs("@worker")
    claim = claimed(worker)
    with pytest.raises(StaleLease):
        action(worker, claim.id, "not-the-token")
    assert worker.get(claim.id) == claim.message
    assert worker.get_reply(claim.id) is None


@pytest.mark.parametrize("action", FINISHING.values(), ids=FINISHING.keys())
def test_a_lapsed_lease_raises_stale_lease_even_before_anyone_reclaims(
        hubs: Callable[..., Hub], clock: ManualClock, action: Action) -> None:
    hubs("@boss").send("@worker", "work", {}, timeout_seconds=10)
    worker = hubs("@worker")
    claim = claimed(worker)
    clock.advance(10)
    with pytest.raises(StaleLease):
        action(worker, claim.id, claim.token)
    assert worker.get(claim.id) == claim.message
    assert worker.get_reply(claim.id) is None
    assert worker.stats().counters.get("completed", 0) == 0


@pytest.mark.parametrize("action", FINISHING.values(), ids=FINISHING.keys())
def test_a_worker_whose_message_was_reclaimed_is_fenced_off(
        hubs: Callable[..., Hub], clock: ManualClock, action: Action) -> None:
    hubs("@boss").send("jobs", "work", {}, timeout_seconds=10)
    slow, fast = hubs("@worker.slow"), hubs("@worker.fast")
    stale = claimed(slow, "jobs")
    clock.advance(10)
    assert fast.claim("jobs") is None  # settles the lapsed lease; backoff of 1 s begins
    clock.advance(1)
    fresh = claimed(fast, "jobs")
    with pytest.raises(StaleLease):
        action(slow, stale.id, stale.token)
    fast.complete(fresh.id, fresh.token)
    assert fast.get(fresh.id).status is Status.COMPLETED


def test_complete_many_finishes_all_or_nothing(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(3):
        boss.send("@worker", "work", i)
    worker = hubs("@worker")
    a, b, c = worker.claim_many(limit=3)
    with pytest.raises(Conflict):
        worker.complete_many([(a.id, a.token), (b.id, "not-the-token"), (c.id, c.token)])
    assert [worker.get(x.id).status for x in (a, b, c)] == [Status.PROCESSING] * 3
    worker.complete_many([(a.id, a.token), (b.id, b.token), (c.id, c.token)])
    assert [worker.get(x.id).status for x in (a, b, c)] == [Status.COMPLETED] * 3


def test_complete_many_raises_the_refusal_of_the_refused_pair(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(2):
        boss.send("@worker", "work", i)
    worker = hubs("@worker")
    good, bad = worker.claim_many(limit=2)
    with pytest.raises(StaleLease, match=repr(bad.id)):
        worker.complete_many([(good.id, good.token), (bad.id, "not-the-token")])


def test_release_returns_the_message_at_once_without_a_retry(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    first = boss.send("jobs", "work", 1)
    boss.send("jobs", "work", 2)
    one, two = hubs("@worker.1"), hubs("@worker.2")
    claim = claimed(one, "jobs")
    released = one.release(claim.id, claim.token)
    assert released.status is Status.PENDING
    assert (released.retry_count, released.claimed_by, released.last_error) == (0, None, None)
    assert claimed(two, "jobs").id == first.id  # keeps its place in line
    assert two.stats().counters.get("retried", 0) == 0
    with pytest.raises(StaleLease):
        one.complete(claim.id, claim.token)


@pytest.mark.parametrize("call", [
    lambda h: h.get("424242"),
    lambda h: h.get_reply("424242"),
    lambda h: h.extend("424242", "token"),
    lambda h: h.complete("424242", "token"),
    lambda h: h.reply("424242", "token", {}),
    lambda h: h.fail("424242", "token", "why"),
    lambda h: h.release("424242", "token"),
    lambda h: h.replay("424242"),
], ids=["get", "get_reply", "extend", "complete", "reply", "fail", "release", "replay"])
def test_an_unknown_message_id_raises_not_found(hub: Hub, call: Callable[[Hub], Any]) -> None:
    hub.send("@tester", "work", {})
    with pytest.raises(NotFound):
        call(hub)
