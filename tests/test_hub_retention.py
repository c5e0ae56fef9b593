"""sweep and prune: expiry and retention (SPEC EXP, DLQ-004, ENV-004).

The test hub keeps the default retention: finished messages 1 day, events 7 days.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import Hub, ManualClock, Message, NotFound, Status

DAY = 86_400.0


def finish(worker: Hub, how: str) -> Message:
    """Claim the worker's next message and finish it ``how``; returns the message."""
    claim = worker.claim()
    assert claim is not None
    if how == "completed":
        worker.complete(claim.id, claim.token)
    elif how == "replied":
        worker.reply(claim.id, claim.token, "answer")
    elif how == "dead":
        worker.fail(claim.id, claim.token, "poison", retry=False)
    return worker.get(claim.id)


def test_sweep_expires_overdue_pending_messages(hubs: Callable[..., Hub],
                                               clock: ManualClock) -> None:
    boss = hubs("@boss")
    overdue = boss.send("@worker", "ask", {}, expires_in=5)
    later = boss.send("@worker", "ask", {}, expires_in=50)
    clock.advance(5)
    assert boss.sweep() == 1
    assert boss.get(overdue.id).status is Status.EXPIRED
    assert boss.get(later.id).status is Status.PENDING
    assert boss.sweep() == 0
    assert boss.stats().counters["expired"] == 1


def test_a_leased_message_past_its_deadline_can_still_be_finished(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "ask", {}, expires_in=5, timeout_seconds=30)
    worker = hubs("@worker")
    claim = worker.claim()
    assert claim is not None
    clock.advance(10)
    assert worker.sweep() == 0
    worker.reply(claim.id, claim.token, "late but leased")
    assert worker.get(claim.id).status is Status.COMPLETED


def test_a_message_back_from_a_lapsed_lease_after_its_deadline_expires(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    sent = hubs("@boss").send("@worker", "ask", {}, expires_in=5, timeout_seconds=10)
    worker = hubs("@worker")
    assert worker.claim() is not None
    clock.advance(10)
    worker.sweep()
    clock.advance(1)
    assert worker.claim() is None
    worker.sweep()
    assert worker.get(sent.id).status is Status.EXPIRED


@pytest.mark.parametrize("how", ["completed", "replied"])
def test_prune_deletes_finished_messages_and_replies_after_a_day(
        hubs: Callable[..., Hub], clock: ManualClock, how: str) -> None:
    hubs("@boss").send("@worker", "ask", {})
    worker = hubs("@worker")
    done = finish(worker, how)
    clock.advance(DAY + 1)
    counts = worker.prune()
    assert (counts["messages"], counts["replies"]) == (1, 1 if how == "replied" else 0)
    with pytest.raises(NotFound):
        worker.get(done.id)
    with pytest.raises(NotFound):
        worker.get_reply(done.id)


def test_prune_keeps_finished_messages_younger_than_a_day(hubs: Callable[..., Hub],
                                                          clock: ManualClock) -> None:
    hubs("@boss").send("@worker", "ask", {})
    worker = hubs("@worker")
    done = finish(worker, "replied")
    clock.advance(DAY - 1)
    assert worker.prune()["messages"] == 0
    assert worker.get(done.id).status is Status.COMPLETED
    assert worker.get_reply(done.id) is not None


def test_prune_deletes_expired_messages_after_a_day(hubs: Callable[..., Hub],
                                                    clock: ManualClock) -> None:
    sent = hubs("@boss").send("@worker", "ask", {}, expires_in=5)
    clock.advance(5)
    hubs("@boss").sweep()
    clock.advance(DAY + 1)
    assert hubs("@boss").prune()["messages"] == 1
    with pytest.raises(NotFound):
        hubs("@boss").get(sent.id)


def test_sweep_and_prune_never_remove_unfinished_work_or_dead_letters(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    boss = hubs("@boss")
    for _ in range(2):
        boss.send("@worker", "work", {}, timeout_seconds=20 * DAY)
    pending = boss.send("@idle", "work", {})
    worker = hubs("@worker")
    dead = finish(worker, "dead")
    processing = finish(worker, "leased")
    clock.advance(10 * DAY)
    boss.sweep()
    boss.prune()
    assert boss.get(pending.id).status is Status.PENDING
    assert boss.get(processing.id).status is Status.PROCESSING
    assert boss.get(dead.id) == dead
    assert boss.dead_letters() == [dead]


def test_ids_are_never_reused_after_prune_or_purge(hubs: Callable[..., Hub],
                                                   clock: ManualClock) -> None:
    boss, worker = hubs("@boss"), hubs("@worker")
    old = [boss.send("@worker", "work", i).id for i in range(2)]
    finish(worker, "completed")
    finish(worker, "dead")
    worker.purge_dead()
    clock.advance(DAY + 1)
    worker.prune()
    assert boss.send("@worker", "work", "new").id not in old


def test_prune_deletes_events_older_than_a_week(hubs: Callable[..., Hub],
                                                clock: ManualClock) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("log")
    publisher.publish("log", "old")
    clock.advance(7 * DAY - 10)
    publisher.publish("log", "recent")
    clock.advance(11)
    assert publisher.prune()["events"] == 1
    assert [e.payload for e in publisher.tail_events()] == ["recent"]
    assert [e.payload for e in reader.events()] == ["recent"]


def test_prune_deletes_events_past_their_ttl(hubs: Callable[..., Hub],
                                             clock: ManualClock) -> None:
    publisher = hubs("@publisher")
    publisher.publish("flash", "brief", ttl=10)
    publisher.publish("flash", "lasting")
    clock.advance(9.5)
    assert publisher.prune()["events"] == 0
    clock.advance(0.5)
    assert publisher.prune()["events"] == 1
    assert [e.payload for e in publisher.tail_events()] == ["lasting"]


def test_prune_forgets_agents_long_inactive_but_never_active_ones(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    gone, silent = hubs("@gone"), hubs("@silent")
    gone.register()
    gone.deregister()
    silent.register()
    clock.advance(DAY + 1)
    assert silent.prune()["agents"] == 1
    assert [a.agent_id for a in silent.agents()] == ["@silent"]
    with pytest.raises(NotFound):
        gone.heartbeat()
