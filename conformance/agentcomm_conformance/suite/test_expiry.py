"""Expiry, sweep and retention (SPEC section EXP).

The hub keeps the default retention: finished messages 1 day, events 7 days.  Tests that
let days pass need ``manual_clock``; the rest use deadlines under a second.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import Hub, Message, Priority, Status
from agentcomm_conformance.expect import refused

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]
DAY = 86_400.0
PRUNED = {"messages", "replies", "events", "agents"}


def finish(worker: Hub, how: str) -> Message:
    """Claim the worker's next message and finish it ``how``; returns the message after."""
    claim = worker.claim()
    assert claim is not None
    if how == "completed":
        worker.complete(claim.id, claim.token)
    elif how == "replied":
        worker.reply(claim.id, claim.token, "answer")
    elif how == "dead":
        worker.fail(claim.id, claim.token, "poison", retry=False)
    return worker.get(claim.id)


@pytest.mark.spec("EXP-001", "EXP-002")
def test_sweep_expires_overdue_pending_messages_and_only_those(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    overdue = boss.send("@worker", "ask", {}, expires_in=0.5)
    later = boss.send("@worker", "ask", {}, expires_in=60)
    plain = boss.send("@worker", "ask", {})
    elapse(0.5)
    assert boss.sweep() == 1
    assert boss.get(overdue.id).status is Status.EXPIRED
    assert boss.get(later.id).status is Status.PENDING
    assert boss.get(plain.id).status is Status.PENDING
    assert boss.sweep() == 0


@pytest.mark.spec("EXP-001")
def test_an_overdue_message_is_never_handed_out_even_before_a_sweep(
    agents: Agents, elapse: Elapse
) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    overdue = boss.send("@worker", "ask", {}, expires_in=0.5, priority=Priority.HIGH)
    fresh = boss.send("@worker", "ask", {}, priority=Priority.LOW)
    elapse(0.5)
    claim = worker.claim()
    assert claim is not None and claim.id == fresh.id
    assert worker.claim() is None
    assert worker.get(overdue.id).status in {Status.PENDING, Status.EXPIRED}  # claim may expire it
    worker.sweep()
    assert worker.get(overdue.id).status is Status.EXPIRED


@pytest.mark.spec("EXP-001")
def test_a_leased_message_past_its_deadline_can_still_be_finished(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("@worker", "ask", {}, expires_in=0.3, timeout_seconds=30)
    worker = agents("@worker")
    claim = worker.claim()
    assert claim is not None
    elapse(0.5)
    assert worker.sweep() == 0
    assert worker.get(claim.id).status is Status.PROCESSING
    worker.reply(claim.id, claim.token, "late but leased")
    assert worker.get(claim.id).status is Status.COMPLETED


@pytest.mark.spec("EXP-001", "EXP-002")
def test_a_message_back_from_a_lapsed_lease_after_its_deadline_is_never_handed_out(
    agents: Agents, elapse: Elapse
) -> None:
    sent = agents("@boss").send("@worker", "ask", {}, expires_in=0.3, timeout_seconds=0.5)
    worker = agents("@worker")
    assert worker.claim() is not None
    elapse(0.5)
    worker.sweep()
    elapse(1)  # past the retry's backoff (backoff_base 1 s)
    assert worker.claim() is None
    worker.sweep()
    assert worker.get(sent.id).status is Status.EXPIRED
    assert worker.sweep() == 0


@pytest.mark.spec("EXP-002")
def test_sweep_settles_every_lapsed_lease_once(agents: Agents, elapse: Elapse) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    retried = boss.send("@worker", "work", 1, timeout_seconds=0.5, max_retries=1)
    dead = boss.send("@worker", "work", 2, timeout_seconds=0.5, max_retries=0)
    held = boss.send("@worker", "work", 3, timeout_seconds=60)
    assert [c.id for c in (worker.claim(), worker.claim(), worker.claim()) if c] == [
        retried.id,
        dead.id,
        held.id,
    ]
    elapse(0.5)
    assert worker.sweep() == 2
    back = worker.get(retried.id)
    assert (back.status, back.retry_count, back.claimed_by) == (Status.PENDING, 1, None)
    assert back.last_error == "lease expired"
    assert worker.get(dead.id).status is Status.DEAD
    assert worker.get(held.id).status is Status.PROCESSING
    assert worker.sweep() == 0


@pytest.mark.spec("EXP-003")
def test_prune_reports_counts_per_kind_and_removes_nothing_young(hub: Hub) -> None:
    sent = hub.send("@tester", "work", {})
    finish(hub, "replied")
    hub.publish("news", "fresh")
    hub.register()
    counts = hub.prune()
    assert set(counts) >= PRUNED
    assert {kind: counts[kind] for kind in PRUNED} == dict.fromkeys(PRUNED, 0)
    assert hub.get(sent.id).status is Status.COMPLETED
    assert hub.get_reply(sent.id) is not None


@pytest.mark.spec("EXP-003")
@pytest.mark.capability("manual_clock")
@pytest.mark.parametrize("how", ["completed", "replied"])
def test_prune_deletes_finished_messages_and_their_replies_after_a_day(
    agents: Agents, elapse: Elapse, how: str
) -> None:
    agents("@boss").send("@worker", "ask", {})
    worker = agents("@worker")
    done = finish(worker, how)
    elapse(DAY + 1)
    counts = worker.prune()
    assert (counts["messages"], counts["replies"]) == (1, 1 if how == "replied" else 0)
    with refused("not_found"):
        worker.get(done.id)
    with refused("not_found"):
        worker.get_reply(done.id)


@pytest.mark.spec("EXP-003")
@pytest.mark.capability("manual_clock")
def test_finished_messages_stay_readable_until_a_day_has_passed(
    agents: Agents, elapse: Elapse
) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    expired = boss.send("@worker", "ask", {}, expires_in=1)
    elapse(1)
    boss.sweep()
    boss.send("@worker", "ask", {})
    replied = finish(worker, "replied")
    elapse(DAY - 1)
    worker.sweep()
    assert worker.prune()["messages"] == 0
    assert worker.get(replied.id).status is Status.COMPLETED
    assert worker.get_reply(replied.id) is not None
    assert worker.get(expired.id).status is Status.EXPIRED


@pytest.mark.spec("EXP-003")
@pytest.mark.capability("manual_clock")
def test_prune_deletes_expired_messages_a_day_after_they_expired(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    sent = boss.send("@worker", "ask", {}, expires_in=5)
    elapse(5)
    boss.sweep()
    elapse(DAY + 1)
    assert boss.prune()["messages"] == 1
    with refused("not_found"):
        boss.get(sent.id)


@pytest.mark.spec("EXP-003", "DLQ-004")
@pytest.mark.capability("manual_clock")
def test_sweep_and_prune_never_remove_unfinished_work_or_dead_letters(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    for _ in range(2):
        boss.send("@worker", "work", {}, timeout_seconds=20 * DAY)
    pending = boss.send("@idle", "work", {})
    worker = agents("@worker")
    dead = finish(worker, "dead")
    processing = finish(worker, "leased")
    elapse(10 * DAY)
    boss.sweep()
    boss.prune()
    assert boss.get(pending.id).status is Status.PENDING
    assert boss.get(processing.id).status is Status.PROCESSING
    assert boss.get(dead.id) == dead
    assert boss.dead_letters() == [dead]


@pytest.mark.spec("EXP-004", "EVT-004")
@pytest.mark.capability("manual_clock")
def test_prune_deletes_events_older_than_a_week(agents: Agents, elapse: Elapse) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("log")
    publisher.publish("log", "old")
    elapse(7 * DAY - 10)
    publisher.publish("log", "recent")
    elapse(11)
    assert publisher.prune()["events"] == 1
    assert [e.payload for e in publisher.tail_events()] == ["recent"]
    assert [e.payload for e in reader.events()] == ["recent"]


@pytest.mark.spec("EXP-004")
def test_prune_deletes_events_once_their_ttl_has_passed(hub: Hub, elapse: Elapse) -> None:
    hub.publish("flash", "brief", ttl=0.5)
    hub.publish("flash", "lasting")
    elapse(0.25)
    assert hub.prune()["events"] == 0
    elapse(0.25)
    assert hub.prune()["events"] == 1
    assert [e.payload for e in hub.tail_events()] == ["lasting"]


@pytest.mark.spec("EXP-004", "REG-002", "REG-004")
@pytest.mark.capability("manual_clock")
def test_prune_forgets_agents_long_inactive_but_never_active_ones(
    agents: Agents, elapse: Elapse
) -> None:
    gone, recent, silent = agents("@gone"), agents("@recent"), agents("@silent")
    gone.register()
    gone.deregister()
    elapse(DAY / 2)
    recent.register()
    recent.deregister()
    silent.register()
    elapse(DAY / 2 + 1)
    assert silent.prune()["agents"] == 1
    assert [a.agent_id for a in silent.agents()] == ["@recent", "@silent"]
    with refused("not_found"):
        gone.heartbeat()


@pytest.mark.spec("EXP-004", "REG-004")
@pytest.mark.capability("manual_clock")
def test_a_departed_agent_is_pruned_a_day_after_its_last_heartbeat_not_its_departure(
    agents: Agents, elapse: Elapse
) -> None:
    late = agents("@late.leaver")
    late.register()
    elapse(DAY / 2)
    late.deregister()  # half a day after its last heartbeat
    elapse(DAY / 2 + 1)
    assert late.prune()["agents"] == 1
    assert late.agents() == []


@pytest.mark.spec("EXP-003")
@pytest.mark.capability("manual_clock")
def test_a_message_finished_exactly_retain_finished_ago_is_kept_and_pruned_just_after(
    agents: Agents, elapse: Elapse
) -> None:
    """ "More than retain_finished ago": not at the boundary itself (an off-by-one there
    shows because the suite's clock adds whole seconds exactly)."""
    agents("@boss").send("@worker", "ask", {})
    worker = agents("@worker")
    done = finish(worker, "completed")
    elapse(DAY)
    assert worker.prune()["messages"] == 0
    assert worker.get(done.id).status is Status.COMPLETED
    elapse(0.25)
    assert worker.prune()["messages"] == 1


@pytest.mark.spec("EXP-002")
def test_sweep_counts_a_message_settled_and_expired_at_once_as_one_change(
    agents: Agents, elapse: Elapse
) -> None:
    sent = agents("@boss").send("@worker", "ask", {}, timeout_seconds=0.5, expires_in=0.5)
    worker = agents("@worker")
    assert worker.claim() is not None
    elapse(0.5)  # the lease lapses as the deadline passes: settled, then expired
    assert worker.sweep() == 1
    back = worker.get(sent.id)
    assert (back.status, back.retry_count) == (Status.EXPIRED, 1)
    assert worker.sweep() == 0
