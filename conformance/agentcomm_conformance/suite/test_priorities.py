"""Priorities, claim order, depths and counters (SPEC sections PRIO and ORD-001)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Outgoing, Priority, Status
from agentcomm_conformance.expect import claimed, depths

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]

COUNTERS = ("sent", "completed", "failed", "retried", "dead", "expired", "published")


def counters(hub: Hub) -> dict[str, int]:
    found = hub.stats().counters
    return {name: found.get(name, 0) for name in COUNTERS}


# -- PRIO-001: three levels, strictly highest first -----------------------------------------
@pytest.mark.spec("PRIO-001")
def test_claim_serves_high_then_normal_then_low(agents: Agents) -> None:
    boss = agents("@boss")
    for level in ("low", "normal", "high"):
        boss.send("jobs", "work", level, priority=level)
    worker = agents("@worker")
    assert [claimed(worker, "jobs").message.payload for _ in range(3)] == ["high", "normal", "low"]


@pytest.mark.spec("PRIO-001")
def test_the_levels_are_low_0_normal_1_high_2_and_normal_is_the_default(hub: Hub) -> None:
    assert [hub.send("jobs", "w", {}, priority=p).priority for p in (0, 1, 2)] == [
        Priority.LOW,
        Priority.NORMAL,
        Priority.HIGH,
    ]
    default = hub.send("jobs", "w", {}).priority
    assert default == Priority.NORMAL and int(default) == 1


@pytest.mark.spec("PRIO-001")
def test_a_later_high_message_overtakes_older_normal_ones(agents: Agents) -> None:
    boss = agents("@boss")
    for i in range(5):
        boss.send("jobs", "work", i)
    urgent = boss.send("jobs", "work", "urgent", priority=Priority.HIGH)
    assert claimed(agents("@worker"), "jobs").id == urgent.id


@pytest.mark.spec("PRIO-001")
def test_a_higher_message_that_is_not_claimable_does_not_hold_back_lower_ones(
    agents: Agents,
) -> None:
    boss = agents("@boss")
    boss.send("@worker", "work", "high", priority="high")
    normal = boss.send("@worker", "work", "normal")
    worker = agents("@worker")
    high = claimed(worker)
    worker.fail(high.id, high.token, "backing off")  # pending, claimable only in 1 s
    assert claimed(worker).id == normal.id


@pytest.mark.spec("PRIO-001")
@pytest.mark.parametrize("elsewhere", ["other", "@someone"], ids=["queue", "inbox"])
def test_priorities_of_different_targets_never_interact(agents: Agents, elsewhere: str) -> None:
    boss = agents("@boss")
    boss.send(elsewhere, "work", "high elsewhere", priority="high")
    low = boss.send("jobs", "work", "low here", priority="low")
    assert claimed(agents("@worker"), "jobs").id == low.id


# -- PRIO-002: by name or number ------------------------------------------------------------
@pytest.mark.spec("PRIO-002")
@pytest.mark.parametrize(
    ("given", "level"),
    [
        ("high", Priority.HIGH),
        ("HIGH", Priority.HIGH),
        (" Low ", Priority.LOW),
        ("Normal", Priority.NORMAL),
        (2, Priority.HIGH),
        (0, Priority.LOW),
        ("0", Priority.LOW),
        ("1", Priority.NORMAL),
        (Priority.LOW, Priority.LOW),
    ],
)
def test_a_priority_is_accepted_by_name_in_any_case_or_by_number(
    hub: Hub, given: Any, level: Priority
) -> None:
    sent = hub.send("@tester", "work", {}, priority=given)
    assert sent.priority == level
    assert hub.get(sent.id).priority == level


# -- PRIO-003: starvation is intended and visible --------------------------------------------
@pytest.mark.spec("PRIO-003")
def test_stats_counts_messages_per_target_status_and_pending_level(agents: Agents) -> None:
    boss = agents("@boss")
    for level in ("low", "high", "high", "normal"):
        boss.send("jobs", "work", level, priority=level)
    for i in range(2):
        boss.send("@worker", "work", i)
    boss.send("@away", "work", "waiting", expires_in=60)
    worker = agents("@worker")
    assert worker.claim("jobs") is not None
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison", retry=False)
    assert depths(worker) == {
        "jobs": {
            "pending": 3,
            "pending_high": 1,
            "pending_normal": 1,
            "pending_low": 1,
            "processing": 1,
        },
        "@worker": {"completed": 1, "dead": 1},
        "@away": {"pending": 1, "pending_normal": 1},
    }


@pytest.mark.spec("PRIO-003", "PRIO-001")
def test_low_work_starved_by_a_stream_of_high_work_stays_visible(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    starved = boss.send("jobs", "work", "low", priority="low")
    for i in range(5):
        boss.send("jobs", "work", i, priority="high")
        claim = claimed(worker, "jobs")
        assert claim.message.priority == Priority.HIGH
        worker.complete(claim.id, claim.token)
        assert depths(worker)["jobs"].get("pending_low") == 1
    assert worker.get(starved.id).status is Status.PENDING


@pytest.mark.spec("PRIO-003")
def test_stats_counts_expired_messages(agents: Agents, elapse: Elapse) -> None:
    agents("@boss").send("@worker", "work", {}, expires_in=0.5)
    elapse(0.5)
    assert agents().sweep() == 1
    assert depths(agents()) == {"@worker": {"expired": 1}}


# -- PRIO-004: lifetime counters ---------------------------------------------------------------
@pytest.mark.spec("PRIO-004")
def test_counters_count_what_happened(agents: Agents, elapse: Elapse) -> None:
    boss = agents("@boss")
    for i in range(4):
        boss.send("@worker", "work", i, timeout_seconds=0.5)
    boss.send("@worker", "work", "overdue", expires_in=0.5, priority="low")
    boss.publish("news", {})
    worker = agents("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "retry")
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison", retry=False)
    claimed(worker)
    elapse(0.5)
    assert worker.sweep() == 2  # one lapse retried, one message expired
    assert counters(worker) == {
        "sent": 5,
        "completed": 1,
        "failed": 3,
        "retried": 2,
        "dead": 1,
        "expired": 1,
        "published": 1,
    }


@pytest.mark.spec("PRIO-004")
@pytest.mark.capability("manual_clock")
def test_counters_never_decrease_when_records_are_purged_or_pruned(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    for i in range(2):
        boss.send("@worker", "work", i)
    boss.publish("news", {})
    worker = agents("@worker")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    claim = claimed(worker)
    worker.fail(claim.id, claim.token, "poison", retry=False)
    before = counters(worker)
    assert worker.purge_dead() == 1
    elapse(30 * 86_400)
    worker.prune()
    assert counters(worker) == before


# -- ORD-001: priority, then send order ------------------------------------------------------
@pytest.mark.spec("ORD-001")
@pytest.mark.parametrize("level", list(Priority), ids=lambda p: p.name.lower())
def test_claims_serve_the_first_sent_first_within_a_priority(
    agents: Agents, level: Priority
) -> None:
    boss = agents("@boss")
    sent = [boss.send("jobs", "work", i, priority=level).id for i in range(5)]
    worker = agents("@worker")
    assert [claimed(worker, "jobs").id for _ in range(5)] == sent


@pytest.mark.spec("ORD-001", "MSG-004")
@pytest.mark.capability("batch")
def test_messages_of_one_send_many_are_claimed_in_list_order(agents: Agents) -> None:
    boss = agents("@boss")
    sent = boss.send_many(
        [
            Outgoing("jobs", "work", i, priority=p)
            for i, p in enumerate(["low", "normal", "normal", "low", "normal"])
        ]
    )
    worker = agents("@worker")
    order = [claimed(worker, "jobs").id for _ in sent]
    assert order == [sent[i].id for i in (1, 2, 4, 0, 3)]


@pytest.mark.spec("ORD-001", "MSG-004")
@pytest.mark.capability("batch")
def test_one_send_many_reaches_every_target_and_level_it_names(agents: Agents) -> None:
    """A batch spread over targets and priorities: each message waits in its own line, a
    line given a single message of the batch as surely as one given several."""
    boss, worker = agents("@boss"), agents("@worker")
    plan = [("jobs", "high"), ("@worker", "normal"), ("jobs", "low"), ("jobs", "high")]
    plan += [("other", "normal"), ("@worker", "low")]
    sent = boss.send_many([Outgoing(to, "work", i, priority=p) for i, (to, p) in enumerate(plan)])

    def drained(source: str | None) -> list[str]:
        ids = []
        while (claim := worker.claim(source)) is not None:
            ids.append(claim.id)
        return ids

    assert drained("jobs") == [sent[i].id for i in (0, 3, 2)]
    assert drained(None) == [sent[i].id for i in (1, 5)]
    assert drained("other") == [sent[4].id]


@pytest.mark.spec("ORD-001", "RETRY-001")
def test_a_retried_message_keeps_its_place_in_line(agents: Agents, elapse: Elapse) -> None:
    boss = agents("@boss")
    first = boss.send("jobs", "work", "first")
    worker = agents("@worker")
    claim = claimed(worker, "jobs")
    worker.fail(claim.id, claim.token, "try again")
    later = [boss.send("jobs", "work", i).id for i in range(2)]
    elapse(1)
    assert [claimed(worker, "jobs").id for _ in range(3)] == [first.id, *later]


# -- PRIO-003 and PRIO-004 after every kind of state change ------------------------------------
@pytest.mark.spec("PRIO-003")
def test_depths_follow_release_fail_sweep_replay_and_purge(agents: Agents, elapse: Elapse) -> None:
    """A hub that keeps depth counters must move them on every change, not only on send,
    claim and complete."""
    boss, worker = agents("@boss"), agents("@worker")
    released, retried, killed, lapsed, buried = (
        boss.send(
            "jobs", "work", name, timeout_seconds=0.5, max_retries=0 if name == "buried" else 3
        )
        for name in ("released", "retried", "killed", "lapsed", "buried")
    )
    boss.send("jobs", "work", "expiring", priority="low", expires_in=0.5)
    assert depths(worker) == {"jobs": {"pending": 6, "pending_normal": 5, "pending_low": 1}}
    claims = {c.message.payload: c for c in (claimed(worker, "jobs") for _ in range(5))}

    def sweep_once_the_leases_lapsed() -> int:  # one lapse retried, one buried, one expired
        elapse(0.5)
        return worker.sweep()

    steps: list[tuple[Callable[[], object], dict[str, int]]] = [
        (
            lambda: worker.release(released.id, claims["released"].token),
            {"pending": 2, "pending_normal": 1, "pending_low": 1, "processing": 4},
        ),
        (
            lambda: worker.fail(retried.id, claims["retried"].token, "again"),
            {"pending": 3, "pending_normal": 2, "pending_low": 1, "processing": 3},
        ),
        (
            lambda: worker.fail(killed.id, claims["killed"].token, "poison", retry=False),
            {"pending": 3, "pending_normal": 2, "pending_low": 1, "processing": 2, "dead": 1},
        ),
        (
            sweep_once_the_leases_lapsed,
            {"pending": 3, "pending_normal": 3, "dead": 2, "expired": 1},
        ),
        (
            lambda: worker.replay(killed.id),
            {"pending": 4, "pending_normal": 4, "dead": 1, "expired": 1},
        ),
        (lambda: worker.purge_dead([buried.id]), {"pending": 4, "pending_normal": 4, "expired": 1}),
    ]
    for step, expected in steps:
        step()
        assert depths(worker) == {"jobs": expected}
    assert worker.get(lapsed.id).retry_count == 1  # the lapse was retried, as counted above


@pytest.mark.spec("PRIO-003", "EXP-003")
@pytest.mark.capability("manual_clock")
def test_pruned_messages_leave_the_depths(agents: Agents, elapse: Elapse) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    boss.send("@worker", "work", "done")
    boss.send("@worker", "work", "late", expires_in=1, priority="low")
    claim = claimed(worker)
    worker.complete(claim.id, claim.token)
    elapse(1)
    worker.sweep()
    assert depths(worker) == {"@worker": {"completed": 1, "expired": 1}}
    elapse(86_401)
    assert worker.prune()["messages"] == 2
    assert depths(worker) == {}


@pytest.mark.spec("PRIO-004")
def test_extend_release_replay_and_purge_count_nothing(agents: Agents) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    for name in ("kept", "poison"):
        boss.send("@worker", "work", name)
    kept, poison = claimed(worker), claimed(worker)
    before = counters(worker)
    worker.extend(kept.id, kept.token, 60)
    worker.release(kept.id, kept.token)
    assert counters(worker) == before
    worker.fail(poison.id, poison.token, "poison", retry=False)
    dead = {**before, "failed": before["failed"] + 1, "dead": before["dead"] + 1}
    assert counters(worker) == dead
    worker.replay(poison.id)
    assert counters(worker) == dead
    again = next(c for c in (claimed(worker), claimed(worker)) if c.id == poison.id)
    worker.fail(again.id, again.token, "poison", retry=False)
    worker.purge_dead()
    assert counters(worker) == {**dead, "failed": dead["failed"] + 1, "dead": dead["dead"] + 1}
