"""Retries with backoff, dead letters, replay and purge, counters (SPEC RETRY, DLQ, PRIO-004).

The test hub's URL sets ``backoff_base=1&backoff_max=8``: retry delays are 1, 2, 4, 8, 8...
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import AlreadyFinished, Claim, Conflict, Hub, ManualClock, Message, NotFound, Status

LEASE = 10


def claimed(worker: Hub) -> Claim:
    claim = worker.claim()
    assert claim is not None
    return claim


def lapse(worker: Hub, clock: ManualClock) -> Message:
    """Claim the worker's next message, let the lease run out, settle it; its new state."""
    claim = claimed(worker)
    clock.advance(LEASE)
    assert worker.sweep() == 1
    return worker.get(claim.id)


def test_a_lapsed_lease_returns_the_message_to_pending_with_one_more_retry(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    message = lapse(hubs("@worker"), clock)
    assert message.status is Status.PENDING
    assert (message.retry_count, message.last_error, message.claimed_by) == (
        1, "lease expired", None)
    assert message.available_at == clock.now() + 1


def test_retries_back_off_exponentially_up_to_the_cap(hubs: Callable[..., Hub],
                                                      clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, timeout_seconds=LEASE, max_retries=6)
    worker = hubs("@worker")
    for expected in (1, 2, 4, 8, 8, 8):
        message = lapse(worker, clock)
        assert message.available_at - clock.now() == expected
        clock.advance(expected / 2)
        assert worker.claim() is None
        clock.advance(expected / 2)
    assert claimed(worker).message.retry_count == 6


def test_the_backoff_counts_from_when_the_lapse_is_settled(hubs: Callable[..., Hub],
                                                           clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    worker = hubs("@worker")
    claimed(worker)
    clock.advance(LEASE + 5)
    assert worker.claim() is None  # the claim settles the lapse now, 5 s after it happened
    clock.advance(0.5)
    assert worker.claim() is None
    clock.advance(0.5)
    assert worker.claim() is not None


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_after_max_retries_lapses_the_message_is_dead(hubs: Callable[..., Hub],
                                                      clock: ManualClock,
                                                      max_retries: int) -> None:
    sent = hubs("@boss").send("@worker", "work", {"n": 1}, timeout_seconds=LEASE,
                              max_retries=max_retries)
    worker = hubs("@worker")
    for retry in range(1, max_retries + 1):
        assert lapse(worker, clock).retry_count == retry
        clock.advance(8)
    dead = lapse(worker, clock)
    assert (dead.status, dead.last_error, dead.retry_count) == (
        Status.DEAD, "lease expired", max_retries)
    clock.advance(3600)
    assert worker.claim() is None
    assert [m.id for m in worker.dead_letters()] == [sent.id]


def test_fail_with_retry_schedules_a_retry_with_its_reason(hubs: Callable[..., Hub],
                                                           clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {})
    worker = hubs("@worker")
    claim = claimed(worker)
    failed = worker.fail(claim.id, claim.token, "upstream timed out")
    assert (failed.status, failed.retry_count, failed.last_error, failed.claimed_by) == (
        Status.PENDING, 1, "upstream timed out", None)
    assert failed.available_at == clock.now() + 1
    assert worker.get(claim.id) == failed


def test_fail_on_the_last_retry_dead_letters_with_the_reason(hubs: Callable[..., Hub],
                                                             clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, max_retries=1)
    worker = hubs("@worker")
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "first try")
    clock.advance(1)
    claim = claimed(worker)
    dead = worker.fail(claim.id, claim.token, "second try")
    assert (dead.status, dead.last_error, dead.retry_count) == (Status.DEAD, "second try", 1)


def test_fail_without_retry_dead_letters_at_once(hubs: Callable[..., Hub],
                                                 clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, max_retries=5)
    worker = hubs("@worker")
    claim = claimed(worker)
    dead = worker.fail(claim.id, claim.token, "poison", retry=False)
    assert (dead.status, dead.last_error, dead.retry_count) == (Status.DEAD, "poison", 0)
    clock.advance(3600)
    assert worker.claim() is None
    with pytest.raises(AlreadyFinished):
        worker.complete(claim.id, claim.token)


def test_with_max_retries_zero_the_first_failure_is_final(hubs: Callable[..., Hub]) -> None:
    hubs("@boss").send("@worker", "work", {}, max_retries=0)
    worker = hubs("@worker")
    claim = claimed(worker)
    assert worker.fail(claim.id, claim.token, "once").status is Status.DEAD


def kill(worker: Hub, reason: str) -> Message:
    claim = claimed(worker)
    return worker.fail(claim.id, claim.token, reason, retry=False)


def test_dead_letters_lists_dead_messages_oldest_first_with_reasons(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    boss = hubs("@boss")
    sent = [boss.send("@worker", "work", {"n": i}) for i in range(3)]
    boss.send("@worker", "work", "still pending")
    worker = hubs("@worker")
    for reason in ("first", "second", "third"):
        kill(worker, reason)
        clock.advance(1)
    dead = worker.dead_letters()
    assert [(m.id, m.last_error, m.payload) for m in dead] == [
        (sent[0].id, "first", {"n": 0}), (sent[1].id, "second", {"n": 1}),
        (sent[2].id, "third", {"n": 2})]
    assert all(m.status is Status.DEAD and m.from_agent == "@boss" for m in dead)
    assert [m.id for m in worker.dead_letters(limit=2)] == [sent[0].id, sent[1].id]


def test_replay_returns_a_dead_letter_to_pending_with_a_fresh_budget(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "work", {}, max_retries=1, expires_in=600)
    worker = hubs("@worker")
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "retry me")
    clock.advance(1)
    dead = kill(worker, "broken")
    replayed = worker.replay(dead.id)
    assert (replayed.status, replayed.retry_count, replayed.claimed_by, replayed.expires_at) == (
        Status.PENDING, 0, None, None)
    assert replayed.available_at == clock.now()
    assert worker.dead_letters() == []
    claim = claimed(worker)
    assert worker.fail(claim.id, claim.token, "again").status is Status.PENDING


@pytest.mark.parametrize("state", ["pending", "processing", "completed"])
def test_replaying_a_message_that_is_not_dead_raises_conflict(hubs: Callable[..., Hub],
                                                              state: str) -> None:
    sent = hubs("@boss").send("@worker", "work", {})
    worker = hubs("@worker")
    if state != "pending":
        claim = claimed(worker)
        if state == "completed":
            worker.complete(claim.id, claim.token)
    before = worker.get(sent.id)
    with pytest.raises(Conflict, match=repr(sent.id)):
        worker.replay(sent.id)
    assert worker.get(sent.id) == before


def test_purge_dead_deletes_only_the_named_dead_letters(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(3):
        boss.send("@worker", "work", i)
    pending = boss.send("@other", "work", "pending")
    worker = hubs("@worker")
    dead = [kill(worker, "x") for _ in range(3)]
    assert worker.purge_dead([dead[0].id, dead[2].id, pending.id, "424242"]) == 2
    assert [m.id for m in worker.dead_letters()] == [dead[1].id]
    assert worker.get(pending.id).status is Status.PENDING


def test_purge_dead_ignores_ids_that_name_nothing(hubs: Callable[..., Hub]) -> None:
    hubs("@boss").send("@worker", "work", {})
    dead = kill(hubs("@worker"), "x")
    assert hubs("@worker").purge_dead(["no-such-message", dead.id]) == 1


def test_purge_dead_without_ids_deletes_every_dead_letter(hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for i in range(3):
        boss.send("@worker", "work", i)
    worker = hubs("@worker")
    dead = [kill(worker, "x") for _ in range(2)]
    assert worker.purge_dead() == 2
    assert worker.dead_letters() == []
    assert worker.claim() is not None
    with pytest.raises(NotFound):
        worker.get(dead[0].id)


def test_counters_count_sends_completions_failures_retries_and_dead_letters(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    boss = hubs("@boss")
    for i in range(4):
        boss.send("@worker", "work", i, timeout_seconds=LEASE)
    worker = hubs("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "retry")
    kill(worker, "poison")
    lapse(worker, clock)
    counters = worker.stats().counters
    assert {k: counters.get(k, 0) for k in ("sent", "completed", "failed", "retried", "dead")} \
        == {"sent": 4, "completed": 1, "failed": 3, "retried": 2, "dead": 1}


def test_stats_counts_messages_per_target_status_and_pending_level(
        hubs: Callable[..., Hub]) -> None:
    boss = hubs("@boss")
    for level in ("low", "high", "high", "normal"):
        boss.send("jobs", "work", level, priority=level)
    for i in range(2):
        boss.send("@worker", "work", i)
    worker = hubs("@worker")
    assert worker.claim("jobs") is not None
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    kill(worker, "poison")
    depths = {target: {k: n for k, n in counts.items() if n}
              for target, counts in worker.stats().depths.items()}
    assert depths == {
        "jobs": {"pending": 3, "pending_high": 1, "pending_normal": 1, "pending_low": 1,
                 "processing": 1},
        "@worker": {"completed": 1, "dead": 1},
    }
