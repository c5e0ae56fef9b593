"""Dead letters: inspect, replay, purge (SPEC section DLQ)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import Hub, Message, Status
from agentcomm_conformance.expect import claimed, refused
from agentcomm_conformance.expect import now_by_message as hub_now

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]


def kill(worker: Hub, reason: str) -> Message:
    """Claim the worker's next message and dead-letter it at once."""
    claim = claimed(worker)
    return worker.fail(claim.id, claim.token, reason, retry=False)


# -- DLQ-001: inspect -----------------------------------------------------------------------
def die_in_another_order_than_sent(agents: Agents, pause: Callable[[], None]) -> list[Message]:
    """Three messages, dead-lettered in the order 3rd, 1st, 2nd; returns them as sent."""
    boss = agents("@boss")
    sent = [boss.send("@worker", "work", {"n": i}) for i in range(3)]
    boss.send("@worker", "work", "still pending")
    worker = agents("@worker")
    claims = [claimed(worker) for _ in sent]
    for i in (2, 0, 1):
        pause()
        worker.fail(claims[i].id, claims[i].token, f"reason {i}", retry=False)
    return sent


@pytest.mark.spec("DLQ-001")
def test_dead_letters_lists_only_dead_messages_in_the_order_they_died(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    boss.send("@other", "work", "expired", expires_in=0.01)
    done = boss.send("@other", "work", "completed")
    sent = die_in_another_order_than_sent(agents, lambda: elapse(0.01))
    other = agents("@other")
    assert other.sweep() == 1  # the first one expires
    claim = other.claim()
    assert claim is not None and claim.id == done.id
    other.complete(claim.id, claim.token)
    dead = agents().dead_letters()
    assert [(m.id, m.last_error) for m in dead] == [(sent[i].id, f"reason {i}") for i in (2, 0, 1)]
    by_id = {m.id: m for m in sent}
    for message in dead:
        assert message.status is Status.DEAD
        assert (
            message.payload,
            message.from_agent,
            message.to_agent,
            message.type,
            message.retry_count,
            message.claimed_by,
        ) == (by_id[message.id].payload, "@boss", "@worker", "work", 0, "@worker")
    assert [m.id for m in agents().dead_letters(limit=2)] == [sent[2].id, sent[0].id]


@pytest.mark.spec("DLQ-001")
def test_dead_letters_keep_the_order_they_died_in_within_one_clock_tick(agents: Agents) -> None:
    sent = die_in_another_order_than_sent(agents, lambda: None)
    assert [m.id for m in agents().dead_letters()] == [sent[i].id for i in (2, 0, 1)]


@pytest.mark.spec("DLQ-001", "DLQ-002", "DLQ-003")
def test_dead_letters_fills_its_limit_after_earlier_ones_were_replayed_or_purged(
    agents: Agents,
) -> None:
    """A hub that keeps replayed or purged ids in its list of dead letters returns fewer
    than ``limit`` here, though enough are dead."""
    boss = agents("@boss")
    for i in range(5):
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    dead = [kill(worker, f"reason {i}") for i in range(5)]
    worker.replay(dead[0].id)
    assert worker.purge_dead([dead[1].id]) == 1
    assert [m.id for m in worker.dead_letters(limit=2)] == [dead[2].id, dead[3].id]
    assert [m.id for m in worker.dead_letters()] == [m.id for m in dead[2:]]


@pytest.mark.spec("DLQ-001")
def test_dead_letters_is_empty_without_dead_messages(agents: Agents) -> None:
    boss = agents("@boss")
    boss.send("@worker", "work", {})
    boss.send("@worker", "work", {})
    worker = agents("@worker")
    done = claimed(worker)
    worker.complete(done.id, done.token)
    claimed(worker)
    assert worker.dead_letters() == []


# -- DLQ-002: replay -------------------------------------------------------------------------
@pytest.mark.spec("DLQ-002")
def test_replay_returns_a_dead_letter_to_pending_with_a_fresh_budget(
    agents: Agents, elapse: Elapse
) -> None:
    sent = agents("@boss").send("@worker", "work", {}, max_retries=1, expires_in=600)
    worker = agents("@worker")
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "retry me")
    elapse(1)
    dead = kill(worker, "broken")
    assert dead.retry_count == 1
    before = hub_now(worker)
    replayed = worker.replay(dead.id)
    assert replayed.id == sent.id
    assert (replayed.status, replayed.retry_count, replayed.claimed_by, replayed.expires_at) == (
        Status.PENDING,
        0,
        None,
        None,
    )
    assert replayed.last_error == "broken"  # why it died, until a later failure
    assert before <= replayed.available_at <= hub_now(worker)
    assert worker.get(sent.id) == replayed
    assert worker.dead_letters() == []
    claim = claimed(worker)  # available at once
    assert worker.fail(claim.id, claim.token, "again").status is Status.PENDING


@pytest.mark.spec("DLQ-002", "ORD-001")
def test_a_replayed_message_keeps_its_place_in_claim_order(agents: Agents) -> None:
    boss = agents("@boss")
    first = boss.send("@worker", "work", "first")
    worker = agents("@worker")
    kill(worker, "broken")
    second = boss.send("@worker", "work", "second")
    worker.replay(first.id)
    assert [claimed(worker).id for _ in range(2)] == [first.id, second.id]


@pytest.mark.spec("DLQ-002")
@pytest.mark.parametrize("state", ["pending", "processing", "completed", "expired"])
def test_replaying_a_message_that_is_not_dead_raises_conflict_and_changes_nothing(
    agents: Agents, elapse: Elapse, state: str
) -> None:
    sent = agents("@boss").send("@worker", "work", {}, expires_in=0.5)
    worker = agents("@worker")
    if state in {"processing", "completed"}:
        claim = claimed(worker)
        if state == "completed":
            worker.complete(claim.id, claim.token)
    if state == "expired":
        elapse(0.5)
        worker.sweep()
    before = worker.get(sent.id)
    assert before.status.value == state
    with refused("conflict"):
        worker.replay(sent.id)
    assert worker.get(sent.id) == before


@pytest.mark.spec("DLQ-002")
def test_replaying_an_unknown_id_raises_not_found(hub: Hub) -> None:
    hub.send("@tester", "work", {})
    with refused("not_found"):
        hub.replay("424242")


# -- DLQ-003: purge --------------------------------------------------------------------------
@pytest.mark.spec("DLQ-003")
def test_purge_dead_deletes_only_the_named_dead_letters(agents: Agents) -> None:
    boss = agents("@boss")
    for i in range(3):
        boss.send("@worker", "work", i)
    pending = boss.send("@other", "work", "pending")
    worker = agents("@worker")
    dead = [kill(worker, "x") for _ in range(3)]
    assert worker.purge_dead([dead[0].id, "no-such-message", dead[2].id, pending.id, "424242"]) == 2
    assert [m.id for m in worker.dead_letters()] == [dead[1].id]
    assert worker.get(pending.id).status is Status.PENDING
    for gone in (dead[0], dead[2]):
        with refused("not_found"):
            worker.get(gone.id)


@pytest.mark.spec("DLQ-003")
def test_purge_dead_without_ids_deletes_every_dead_letter(agents: Agents) -> None:
    boss = agents("@boss")
    for i in range(3):
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    dead = [kill(worker, "x") for _ in range(2)]
    assert worker.purge_dead() == 2
    assert worker.dead_letters() == []
    assert worker.purge_dead() == 0
    assert worker.claim() is not None  # the pending one is left
    for gone in dead:
        with refused("not_found"):
            worker.get(gone.id)
        with refused("not_found"):
            worker.replay(gone.id)


# -- DLQ-004: never removed automatically ---------------------------------------------------
@pytest.mark.spec("DLQ-004")
@pytest.mark.capability("manual_clock")
def test_a_dead_letter_past_its_deadline_and_every_retention_survives_sweep_and_prune(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("@worker", "work", {}, expires_in=60)
    worker = agents("@worker")
    dead = kill(worker, "poison")
    elapse(30 * 86_400)  # past expires_in, retain_finished and retain_events
    worker.sweep()
    worker.prune()
    assert worker.dead_letters() == [dead]
    assert worker.get(dead.id) == dead
