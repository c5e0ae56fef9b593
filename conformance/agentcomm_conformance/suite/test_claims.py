"""Task queues and the competitive claim (SPEC section CLAIM)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from agentcomm import DEFAULT_QUEUE, Hub, Status
from agentcomm_conformance.expect import claimed, refused
from agentcomm_conformance.expect import now_by_message as hub_now
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.targets import Target
from agentcomm_conformance.targets.holder import Holder

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]
Race = Callable[[str, list[str]], dict[str, list[str]]]


@pytest.mark.spec("CLAIM-002")
def test_agents_in_separate_processes_never_claim_the_same_task(hub: Hub, race: Race) -> None:
    sent = [hub.send("jobs", "task", {"n": i}) for i in range(300)]
    done = race("jobs", [f"@worker.{i}" for i in range(4)])
    taken = [task_id for ids in done.values() for task_id in ids]
    assert sorted(taken) == sorted(m.id for m in sent)  # each exactly once, none missing
    assert sum(1 for ids in done.values() if ids) >= 2, f"the racers did not compete: {done}"


# -- CLAIM-001: one target ----------------------------------------------------------------
@pytest.mark.spec("CLAIM-001")
def test_claim_without_a_source_takes_only_from_the_agents_own_inbox(agents: Agents) -> None:
    boss = agents("@boss")
    boss.send(DEFAULT_QUEUE, "work", "queue")
    boss.send("@bob", "work", "for bob")
    mine = boss.send("@alice", "work", "for alice")
    alice = agents("@alice")
    assert claimed(alice).id == mine.id
    assert alice.claim() is None


@pytest.mark.spec("CLAIM-001")
def test_claim_from_a_queue_takes_only_from_that_queue(agents: Agents) -> None:
    boss = agents("@boss")
    boss.send("reports", "work", "report")
    boss.send("@worker", "work", "inbox")
    task = boss.send(DEFAULT_QUEUE, "work", "task")
    worker = agents("@worker")
    assert claimed(worker, DEFAULT_QUEUE).id == task.id
    assert worker.claim(DEFAULT_QUEUE) is None


@pytest.mark.spec("CLAIM-001")
def test_claiming_from_another_agents_inbox_is_refused_and_leases_nothing(agents: Agents) -> None:
    sent = agents("@boss").send("@bob", "work", {})
    with refused("invalid_input"):
        agents("@alice").claim("@bob")
    bob = agents("@bob")
    assert bob.get(sent.id).status is Status.PENDING
    assert claimed(bob, "@bob").id == sent.id  # naming the own inbox is allowed


@pytest.mark.spec("CLAIM-001")
def test_claim_returns_none_when_nothing_is_claimable(hub: Hub) -> None:
    assert hub.claim() is None
    assert hub.claim(DEFAULT_QUEUE) is None


@pytest.mark.spec("CLAIM-001")
def test_a_message_is_claimable_until_its_deadline(agents: Agents, elapse: Elapse) -> None:
    sent = agents("@boss").send("@worker", "work", {}, expires_in=1)
    elapse(0.5)
    assert claimed(agents("@worker")).id == sent.id


@pytest.mark.spec("CLAIM-001")
def test_a_message_at_or_past_its_deadline_is_never_claimable(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    boss.send("@worker", "work", "overdue", expires_in=0.5, priority="high")
    lasting = boss.send("@worker", "work", "lasting", priority="low")
    elapse(0.5)
    worker = agents("@worker")
    assert claimed(worker).id == lasting.id
    assert worker.claim() is None


# -- CLAIM-002: atomic and exclusive ------------------------------------------------------
@pytest.mark.spec("CLAIM-002")
def test_a_message_under_a_live_lease_is_not_handed_out_again(agents: Agents) -> None:
    sent = agents("@boss").send("jobs", "work", {})
    holder = agents("@worker.1")
    assert claimed(holder, "jobs").id == sent.id
    assert agents("@worker.2").claim("jobs") is None
    assert holder.claim("jobs") is None  # not even to its holder


@pytest.mark.spec("CLAIM-002")
def test_competing_claims_never_hand_out_the_same_message_twice(agents: Agents) -> None:
    boss = agents("@boss")
    sent = {boss.send("jobs", "work", i).id for i in range(7)}
    one, two = agents("@worker.1"), agents("@worker.2")
    got = [claimed((one, two)[i % 2], "jobs").id for i in range(7)]
    assert len(got) == len(set(got)) == 7
    assert set(got) == sent
    assert one.claim("jobs") is None and two.claim("jobs") is None


# -- CLAIM-003: what a claim grants -------------------------------------------------------
@pytest.mark.spec("CLAIM-003")
@pytest.mark.parametrize("timeout", [30, None], ids=["given", "default-300"])
def test_a_claim_grants_a_lease_of_the_messages_timeout(
    agents: Agents, timeout: float | None
) -> None:
    sent = agents("@boss").send(DEFAULT_QUEUE, "work", {}, timeout_seconds=timeout)
    worker = agents("@worker")
    before = hub_now(worker)
    claim = claimed(worker, DEFAULT_QUEUE)
    after = hub_now(worker)
    lease = 300 if timeout is None else timeout
    assert before + lease <= claim.lease_expires_at <= after + lease
    assert claim.id == sent.id and claim.token
    for message in (claim.message, worker.get(sent.id)):
        assert message.status is Status.PROCESSING
        assert (message.claimed_by, message.to_agent) == ("@worker", DEFAULT_QUEUE)


# -- CLAIM-004: one fresh token per call --------------------------------------------------
@pytest.mark.spec("CLAIM-004")
def test_each_claim_call_draws_a_fresh_token_of_at_least_128_bits(agents: Agents) -> None:
    boss = agents("@boss")
    for i in range(20):
        boss.send("jobs", "work", i)
    worker = agents("@worker")
    tokens = [claimed(worker, "jobs").token for _ in range(20)]
    assert len(set(tokens)) == 20
    # 128 bits cannot be carried by fewer than 16 bytes, however the token is written.
    assert all(isinstance(t, str) and len(t) <= 100 and len(t.encode()) >= 16 for t in tokens)


@pytest.mark.spec("CLAIM-004")
def test_a_token_is_accepted_only_for_the_message_its_claim_leased(agents: Agents) -> None:
    boss = agents("@boss")
    for i in range(2):
        boss.send("@worker", "work", i)
    worker = agents("@worker")
    first, second = claimed(worker), claimed(worker)
    with refused("stale_lease"):
        worker.complete(second.id, first.token)
    assert worker.get(second.id) == second.message
    worker.complete(second.id, second.token)
    worker.complete(first.id, first.token)


# -- CLAIM-005: lapsed leases are settled by the claim itself ------------------------------
@pytest.mark.spec("CLAIM-005")
def test_a_claim_settles_lapsed_leases_so_work_returns_without_a_sweep(
    agents: Agents, elapse: Elapse
) -> None:
    boss = agents("@boss")
    sent = [boss.send("jobs", "work", i, timeout_seconds=0.5) for i in range(2)]
    slow, other = agents("@worker.slow"), agents("@worker.other")
    for _ in sent:
        claimed(slow, "jobs")
    elapse(0.5)
    assert other.claim("jobs") is None  # settles both lapses; each backs off 1 s (RETRY-002)
    for message in sent:
        settled = other.get(message.id)
        assert (settled.status, settled.retry_count, settled.last_error) == (
            Status.PENDING,
            1,
            "lease expired",
        )
    elapse(1)
    again = [claimed(other, "jobs") for _ in sent]
    assert [c.id for c in again] == [m.id for m in sent]
    assert all(c.message.retry_count == 1 for c in again)


# -- CLAIM-006: bounded waits -------------------------------------------------------------
@pytest.mark.spec("CLAIM-006")
def test_claim_with_wait_returns_none_once_the_wait_has_passed(hub: Hub) -> None:
    before = hub_now(hub)
    assert hub.claim("jobs", wait=0.3) is None
    assert hub_now(hub) >= before + 0.3


@pytest.mark.spec("CLAIM-006")
def test_claim_with_wait_returns_a_waiting_message_at_once(agents: Agents) -> None:
    sent = agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    before = hub_now(worker)
    claim = worker.claim(wait=10)
    assert claim is not None and claim.id == sent.id
    assert hub_now(worker) < before + 1


@pytest.mark.spec("CLAIM-006")
def test_claim_with_wait_returns_a_message_as_soon_as_it_becomes_claimable(agents: Agents) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    first = claimed(worker)
    failed = worker.fail(first.id, first.token, "try again")  # claimable 1 s from now
    claim = worker.claim(wait=5)
    assert claim is not None and claim.id == first.id
    claimed_at = claim.lease_expires_at - claim.message.timeout_seconds
    assert failed.available_at - 1e-6 <= claimed_at < failed.available_at + 1  # not after 5 s


AT_ONCE = 2.0
"""Real seconds within which a call that must not wait returns: a bound for a call that
looks once, generous for a loaded machine, far below any wait a hub might make up."""
NO_WAIT: dict[str, tuple[Callable[[Hub, str], object], object, str]] = {
    "claim": (lambda h, m: h.claim(), None, "CLAIM-006"),
    "claim-queue": (lambda h, m: h.claim("jobs", wait=0), None, "CLAIM-006"),
    "events": (lambda h, m: h.events(), [], "EVT-003"),
    "wait_reply": (lambda h, m: _no_reply(h, m), None, "REQ-005"),
}


def _no_reply(hub: Hub, request_id: str) -> None:
    with refused("deadline_exceeded"):
        hub.wait_reply(request_id, timeout=0)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(name, marks=pytest.mark.spec(statement))
        for name, (_, _, statement) in NO_WAIT.items()
    ],
)
def test_a_call_without_a_wait_looks_once_and_returns_at_once(agents: Agents, call: str) -> None:
    """Without a wait (the default, or 0) nothing is waited for: not in real time, not on
    the hub's clock (a hub, or a driver, that makes up a default wait fails here)."""
    looks, empty, _ = NO_WAIT[call]
    worker = agents("@worker")
    worker.subscribe("news")
    sent = agents("@boss").send("@someone", "ask", {})
    before, started = hub_now(worker), time.monotonic()
    assert looks(worker, sent.id) == empty
    took = time.monotonic() - started
    assert took < AT_ONCE, f"it returned after {took:.2f} s of real time"
    moved = hub_now(worker) - before
    assert moved < 1, f"the hub's clock moved {moved:.2f} s meanwhile"


# -- CLAIM-007: waiters wake fast and idle cheaply -----------------------------------------
ROUNDS = 7
IDLE = 1.0


@pytest.mark.spec("CLAIM-007")
def test_a_waiting_claim_wakes_within_10_ms_of_a_send_and_idles_below_5_percent_cpu(
    hub: Hub, hub_session: HubSession, conformance_target: Target
) -> None:
    latencies: list[float] = []
    waiter = Holder.start(conformance_target, hub_session.locator, "@waiter", "jobs", ROUNDS)
    with waiter:
        for round_ in range(ROUNDS):
            waiter.waiting()
            time.sleep(IDLE if round_ == 0 else 0.05)  # the window the waiter spends idle
            sent = hub.send("jobs", "work", round_)
            sent_at = time.time()
            got = waiter.claimed()
            assert got["id"] == sent.id
            latencies.append(got["returned_at"] - sent_at)
            if round_ == 0:
                idle_share = got["cpu"] / got["wall"]
    print(f"wake-up latencies {latencies}, idle CPU share {idle_share:.2%}")
    assert statistics.median(latencies) < 0.010, f"wake-up latencies {latencies}"
    assert idle_share < 0.05, f"a waiting claim used {idle_share:.1%} of a CPU core"


# -- CLAIM-008: claim_many -----------------------------------------------------------------
@pytest.mark.spec("CLAIM-008", "ORD-001")
@pytest.mark.capability("batch")
def test_claim_many_leases_several_in_claim_order(agents: Agents) -> None:
    boss = agents("@boss")
    for payload, level in [
        ("n1", "normal"),
        ("l1", "low"),
        ("h1", "high"),
        ("n2", "normal"),
        ("h2", "high"),
    ]:
        boss.send("jobs", "work", payload, priority=level)
    worker = agents("@worker")
    claims = worker.claim_many("jobs", limit=4)
    assert [c.message.payload for c in claims] == ["h1", "h2", "n1", "n2"]
    assert all(worker.get(c.id).status is Status.PROCESSING for c in claims)
    assert [c.message.payload for c in worker.claim_many("jobs", limit=4)] == ["l1"]


@pytest.mark.spec("CLAIM-008", "CLAIM-004")
@pytest.mark.capability("batch")
def test_claim_many_leases_all_under_one_token_and_each_call_draws_a_new_one(
    agents: Agents,
) -> None:
    boss = agents("@boss")
    for i in range(4):
        boss.send("jobs", "work", i)
    worker = agents("@worker")
    first, second = worker.claim_many("jobs", limit=2), worker.claim_many("jobs", limit=2)
    assert len(first) == len(second) == 2
    assert first[0].token == first[1].token and second[0].token == second[1].token
    assert first[0].token != second[0].token
    worker.complete(first[1].id, first[0].token)  # the call's token serves each of its claims


@pytest.mark.spec("CLAIM-008")
@pytest.mark.capability("batch")
def test_claim_many_returns_an_empty_list_when_nothing_is_claimable(agents: Agents) -> None:
    worker = agents("@worker")
    assert worker.claim_many(DEFAULT_QUEUE, limit=5) == []
    assert worker.claim_many(limit=5, wait=0.1) == []
