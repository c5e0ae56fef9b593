"""Leases, timeouts and stale tokens (SPEC section LEASE)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Status
from agentcomm_conformance.expect import claimed, depths, refused
from agentcomm_conformance.expect import now_by_message as hub_now
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.targets import Target
from agentcomm_conformance.targets.holder import Holder

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]
Action = Callable[[Hub, str, str], Any]

LEASE = 0.5  # seconds; short, so hubs on real time lapse it quickly
WRONG = "not-the-token-" + "x" * 32  # well-formed, but no claim's token

FINISHING: dict[str, Action] = {
    "complete": lambda h, m, t: h.complete(m, t),
    "reply": lambda h, m, t: h.reply(m, t, "late"),
    "fail": lambda h, m, t: h.fail(m, t, "late"),
    "release": lambda h, m, t: h.release(m, t),
    "extend": lambda h, m, t: h.extend(m, t),
}
each_action = pytest.mark.parametrize("action", FINISHING.values(), ids=FINISHING.keys())


def unchanged(worker: Hub, claim: Claim, counters: dict[str, int]) -> None:
    """Nothing of ``claim`` changed: not the message, its reply, nor the counters."""
    assert worker.get(claim.id) == claim.message
    assert worker.get_reply(claim.id) is None
    assert dict(worker.stats().counters) == counters


# -- LEASE-001: the holder finishes, once ---------------------------------------------------
@pytest.mark.spec("LEASE-001", "REQ-004")
@pytest.mark.parametrize(
    ("action", "status", "again"),
    [
        ("complete", Status.COMPLETED, "already_finished"),
        ("reply", Status.COMPLETED, "already_finished"),
        ("fail", Status.PENDING, "stale_lease"),
        ("release", Status.PENDING, "stale_lease"),
    ],
)
def test_the_lease_holder_finishes_its_message_exactly_once(
    agents: Agents, action: str, status: Status, again: str
) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    FINISHING[action](worker, claim.id, claim.token)
    after = worker.get(claim.id)
    assert after.status is status
    with refused(again):
        FINISHING[action](worker, claim.id, claim.token)
    assert worker.get(claim.id) == after
    reply = worker.get_reply(claim.id)
    assert (reply is not None) == (action == "reply")
    assert after.reply_id == (reply.id if reply else None)


# -- LEASE-002: stale workers are fenced off -----------------------------------------------
@pytest.mark.spec("LEASE-002", "LEASE-003")
@each_action
def test_a_wrong_token_is_refused_as_stale_and_changes_nothing(
    agents: Agents, action: Action
) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    counters = dict(worker.stats().counters)
    with refused("stale_lease"):
        action(worker, claim.id, WRONG)
    unchanged(worker, claim, counters)
    worker.complete(claim.id, claim.token)  # the real holder's lease is intact


@pytest.mark.spec("LEASE-002", "LEASE-003")
@each_action
def test_a_lapsed_lease_is_stale_even_before_anyone_reclaims_it(
    agents: Agents, elapse: Elapse, action: Action
) -> None:
    agents("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    worker = agents("@worker")
    claim = claimed(worker)
    counters = dict(worker.stats().counters)
    elapse(LEASE)
    with refused("stale_lease"):
        action(worker, claim.id, claim.token)
    unchanged(worker, claim, counters)


@pytest.mark.spec("LEASE-002", "LEASE-003")
@each_action
def test_a_worker_whose_message_was_reclaimed_is_fenced_off(
    agents: Agents, elapse: Elapse, action: Action
) -> None:
    agents("@boss").send("jobs", "work", {}, timeout_seconds=LEASE)
    slow, fast = agents("@worker.slow"), agents("@worker.fast")
    stale = claimed(slow, "jobs")
    elapse(LEASE)
    assert fast.claim("jobs") is None  # settles the lapsed lease; a backoff of 1 s begins
    elapse(1)
    fresh = claimed(fast, "jobs")
    with refused("stale_lease"):
        action(slow, stale.id, stale.token)
    assert fast.get(fresh.id) == fresh.message
    fast.complete(fresh.id, fresh.token)
    with refused("stale_lease"):  # not AlreadyFinished: it was not this token that finished it
        action(slow, stale.id, stale.token)


# -- LEASE-003: refusals in a fixed order ----------------------------------------------------
@pytest.mark.spec("LEASE-003")
@each_action
def test_an_unknown_message_id_raises_not_found(hub: Hub, action: Action) -> None:
    hub.send("@tester", "work", {})
    with refused("not_found"):
        action(hub, "424242", WRONG)


@pytest.mark.spec("LEASE-003")
@each_action
def test_the_holder_that_completed_a_message_gets_already_finished(
    agents: Agents, elapse: Elapse, action: Action
) -> None:
    agents("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    worker = agents("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    done = worker.get(claim.id)
    with refused("already_finished"):
        action(worker, claim.id, claim.token)
    elapse(LEASE)  # a finished message outranks a passed deadline
    with refused("already_finished"):
        action(worker, claim.id, claim.token)
    assert worker.get(claim.id) == done


@pytest.mark.spec("LEASE-003", "RETRY-003")
def test_the_holder_that_dead_lettered_a_message_gets_already_finished(agents: Agents) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    dead = worker.fail(claim.id, claim.token, "poison", retry=False)
    with refused("already_finished"):
        worker.complete(claim.id, claim.token)
    assert worker.get(claim.id) == dead


@pytest.mark.spec("LEASE-003")
@each_action
def test_a_wrong_token_on_a_finished_message_is_stale_not_already_finished(
    agents: Agents, action: Action
) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    with refused("stale_lease"):
        action(worker, claim.id, WRONG)


# -- LEASE-004: extend -----------------------------------------------------------------------
@pytest.mark.spec("LEASE-004")
def test_extend_renews_the_lease_from_now_keeping_the_token(agents: Agents, elapse: Elapse) -> None:
    agents("@boss").send("@worker", "work", {}, timeout_seconds=30)
    worker = agents("@worker")
    claim = claimed(worker)
    elapse(0.2)
    for seconds, lease in [(None, 30.0), (100, 100.0)]:
        before = hub_now(worker)
        renewed = worker.extend(claim.id, claim.token, seconds)
        assert before + lease <= renewed.lease_expires_at <= hub_now(worker) + lease
        assert (renewed.id, renewed.token) == (claim.id, claim.token)
    worker.complete(claim.id, claim.token)
    assert worker.get(claim.id).status is Status.COMPLETED


@pytest.mark.spec("LEASE-004")
def test_an_extended_lease_is_not_reclaimed_before_its_new_deadline(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("jobs", "work", {}, timeout_seconds=LEASE)
    worker, other = agents("@worker"), agents("@worker.other")
    claim = claimed(worker, "jobs")
    elapse(LEASE / 2)
    worker.extend(claim.id, claim.token, 2 * LEASE)
    elapse(LEASE)  # past the first deadline, before the new one
    assert other.claim("jobs") is None
    assert other.get(claim.id).status is Status.PROCESSING
    worker.complete(claim.id, claim.token)


# -- LEASE-005: release ----------------------------------------------------------------------
@pytest.mark.spec("LEASE-005", "ORD-001")
def test_release_returns_the_message_at_once_without_a_retry(agents: Agents) -> None:
    boss = agents("@boss")
    first = boss.send("jobs", "work", 1)
    boss.send("jobs", "work", 2)
    one, two = agents("@worker.1"), agents("@worker.2")
    claim = claimed(one, "jobs")
    before = hub_now(one)
    released = one.release(claim.id, claim.token)
    assert released.status is Status.PENDING
    assert (released.retry_count, released.claimed_by, released.last_error) == (0, None, None)
    assert before <= released.available_at <= hub_now(one)
    assert one.get(claim.id) == released
    assert claimed(two, "jobs").id == first.id  # at once, and in its old place in line
    with refused("stale_lease"):
        one.complete(claim.id, claim.token)


@pytest.mark.spec("LEASE-005")
def test_release_keeps_the_retry_count_and_last_error(agents: Agents, elapse: Elapse) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "flaky upstream")
    elapse(1)
    claim = claimed(worker)
    released = worker.release(claim.id, claim.token)
    assert (released.status, released.retry_count, released.last_error, released.claimed_by) == (
        Status.PENDING,
        1,
        "flaky upstream",
        None,
    )


# -- LEASE-006: the lease alone decides -------------------------------------------------------
@pytest.mark.spec("LEASE-006")
@pytest.mark.parametrize("registry", ["never registered", "deregistered", "heartbeat stale"])
def test_a_live_lease_is_never_reclaimed_whatever_the_registry_says(
    agents: Agents, elapse: Elapse, registry: str
) -> None:
    agents("@boss").send("jobs", "work", {}, timeout_seconds=30)
    holder, other = agents("@worker.holder"), agents("@worker.other")
    if registry != "never registered":
        holder.register(ttl=0.2)
    claim = claimed(holder, "jobs")
    if registry == "deregistered":
        holder.deregister()
    elapse(0.3)
    assert [a.agent_id for a in other.agents(alive_only=True)] == []
    assert other.claim("jobs") is None
    assert other.sweep() == 0
    assert other.get(claim.id) == claim.message
    holder.complete(claim.id, claim.token)


@pytest.mark.spec("LEASE-006")
def test_a_lapsed_lease_is_reclaimed_even_while_its_holder_heartbeats(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("jobs", "work", {}, timeout_seconds=LEASE)
    holder, other = agents("@worker.holder"), agents("@worker.other")
    holder.register()
    claim = claimed(holder, "jobs")
    elapse(LEASE)
    holder.heartbeat(load=1)
    assert [a.agent_id for a in other.agents(alive_only=True)] == ["@worker.holder"]
    assert other.claim("jobs") is None  # settled: retried after a backoff of 1 s
    elapse(1)
    again = claimed(other, "jobs")
    assert (again.id, again.message.retry_count) == (claim.id, 1)
    with refused("stale_lease"):
        holder.complete(claim.id, claim.token)


@pytest.mark.spec("LEASE-006")
def test_registry_changes_never_change_a_message(agents: Agents) -> None:
    boss = agents("@boss")
    waiting = boss.send("@worker", "work", "waiting")
    boss.send("@worker", "work", "held")
    worker = agents("@worker")
    worker.register(ttl=30)
    held = claimed(worker)
    before = [worker.get(waiting.id), worker.get(held.id)]
    worker.heartbeat(load=3)
    worker.register(capabilities=["work"], ttl=5)
    worker.deregister()
    assert [worker.get(waiting.id), worker.get(held.id)] == before


# -- LEASE-007: a killed worker loses nothing -------------------------------------------------
@pytest.mark.spec("LEASE-007", "RETRY-001")
@pytest.mark.parametrize(("max_retries", "status"), [(1, Status.PENDING), (0, Status.DEAD)])
def test_an_abandoned_claim_comes_back_after_its_lease(
    agents: Agents, elapse: Elapse, max_retries: int, status: Status
) -> None:
    """The in-process stand-in for a killed worker: it claims, then its handle goes away."""
    boss = agents("@boss")
    sent = boss.send("jobs", "work", {}, timeout_seconds=LEASE, max_retries=max_retries)
    gone = agents("@worker.gone")
    claimed(gone, "jobs")
    gone.close()
    assert boss.get(sent.id).status is Status.PROCESSING
    elapse(LEASE)
    boss.sweep()
    after = boss.get(sent.id)
    assert (after.status, after.last_error, after.retry_count) == (
        status,
        "lease expired",
        max_retries,
    )
    if status is Status.DEAD:
        assert [m.id for m in boss.dead_letters()] == [sent.id]


@pytest.mark.spec("LEASE-007")
def test_a_task_held_by_a_process_killed_with_sigkill_comes_back_after_its_lease(
    agents: Agents, elapse: Elapse, hub_session: HubSession, conformance_target: Target
) -> None:
    boss = agents("@boss")
    sent = boss.send("jobs", "work", {"n": 7}, timeout_seconds=1)
    victim = Holder.start(conformance_target, hub_session.locator, "@worker.victim", "jobs")
    with victim:
        victim.waiting()
        held = victim.claimed()
        assert held["id"] == sent.id
        victim.kill()  # SIGKILL
    assert boss.get(sent.id).status is Status.PROCESSING  # the dead still holds it
    elapse(max(0.0, held["lease_expires_at"] - hub_now(boss)) + 0.001)  # victim: real time
    survivor = agents("@worker.survivor")
    assert survivor.claim("jobs") is None  # settled: retried after a backoff of 1 s
    elapse(1)
    claim = claimed(survivor, "jobs")
    assert (claim.id, claim.message.retry_count, claim.message.last_error) == (
        sent.id,
        1,
        "lease expired",
    )
    survivor.complete(claim.id, claim.token)


# -- LEASE-008: complete_many ---------------------------------------------------------------
@pytest.mark.spec("LEASE-008")
@pytest.mark.capability("batch")
@pytest.mark.parametrize("bad", ["stale_lease", "already_finished", "not_found"])
def test_complete_many_completes_all_or_none(agents: Agents, bad: str) -> None:
    boss = agents("@boss")
    for i in range(4):
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    a, b, c, done = worker.claim_many(limit=4)
    worker.complete(done.id, done.token)
    wrong = {
        "stale_lease": (b.id, WRONG),
        "already_finished": (done.id, done.token),
        "not_found": ("424242", b.token),
    }[bad]
    with refused(bad):
        worker.complete_many([(a.id, a.token), wrong, (c.id, c.token)])
    assert [worker.get(x.id).status for x in (a, b, c)] == [Status.PROCESSING] * 3
    worker.complete_many([(a.id, a.token), (b.id, b.token), (c.id, c.token)])
    assert [worker.get(x.id).status for x in (a, b, c)] == [Status.COMPLETED] * 3


@pytest.mark.spec("LEASE-008")
@pytest.mark.capability("batch")
def test_complete_many_of_several_claims_completes_all_or_none(agents: Agents) -> None:
    """Pairs from two claims hold two tokens: one wrong pair among them refuses them all."""
    boss = agents("@boss")
    for i in range(4):
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    first, second = worker.claim_many(limit=2), worker.claim_many(limit=2)
    mixed = [(c.id, c.token) for c in (first[0], second[0], first[1], second[1])]
    with refused("stale_lease"):
        worker.complete_many([*mixed[:3], (mixed[3][0], mixed[0][1])])
    assert {worker.get(i).status for i, _ in mixed} == {Status.PROCESSING}
    worker.complete_many(mixed)
    assert {worker.get(i).status for i, _ in mixed} == {Status.COMPLETED}


@pytest.mark.spec("LEASE-008", "PRIO-003")
@pytest.mark.capability("batch")
def test_complete_many_of_several_targets_counts_each_under_its_own(agents: Agents) -> None:
    """One batch finishing the work of a queue and of an inbox leaves no lease behind, and
    stats counts each completion under the target it was sent to."""
    boss = agents("@boss")
    for i in range(3):
        boss.send("jobs", "work", i)
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    claims = worker.claim_many("jobs", limit=3) + worker.claim_many(limit=2)
    worker.complete_many([(c.id, c.token) for c in claims])
    assert depths(worker) == {
        "jobs": {"completed": 3},
        "@worker": {"completed": 2, "pending": 1, "pending_normal": 1},
    }
    assert worker.stats().counters["completed"] == 5
