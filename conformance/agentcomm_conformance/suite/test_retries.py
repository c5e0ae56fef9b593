"""Retries with exponential backoff (SPEC section RETRY).

The suite's hubs have the default options: retry delays are ``backoff_base`` 1 s doubled
per retry, at most ``backoff_max`` 300 s, and ``default_max_retries`` is 3.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import Hub, Message, Status
from agentcomm_conformance.expect import claimed
from agentcomm_conformance.expect import now_by_message as hub_now

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]

LEASE = 0.5  # seconds; short, so hubs on real time lapse it quickly
manual_clock = pytest.mark.capability("manual_clock")


def lapse(worker: Hub, elapse: Elapse) -> Message:
    """Claim the worker's next message, let its lease lapse, sweep; its new state."""
    claim = claimed(worker)
    elapse(LEASE)
    assert worker.sweep() == 1
    return worker.get(claim.id)


# -- RETRY-001: retried while the budget lasts, then dead ----------------------------------------
@pytest.mark.spec("RETRY-001")
def test_a_lapsed_lease_returns_the_message_to_pending_with_one_more_retry(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    message = lapse(agents("@worker"), elapse)
    assert (message.status, message.retry_count, message.last_error, message.claimed_by) == (
        Status.PENDING,
        1,
        "lease expired",
        None,
    )


@pytest.mark.spec("RETRY-001")
@pytest.mark.parametrize("max_retries", [0, 1, pytest.param(3, marks=manual_clock)])
def test_after_max_retries_lapses_the_next_lapse_dead_letters_the_message(
    agents: Agents, elapse: Elapse, max_retries: int
) -> None:
    sent = agents("@boss").send(
        "@worker", "work", {"n": 1}, timeout_seconds=LEASE, max_retries=max_retries
    )
    worker = agents("@worker")
    for retry in range(1, max_retries + 1):
        assert lapse(worker, elapse).retry_count == retry
        elapse(2 ** (retry - 1))  # the backoff
    dead = lapse(worker, elapse)
    assert (dead.status, dead.last_error, dead.retry_count, dead.claimed_by) == (
        Status.DEAD,
        "lease expired",
        max_retries,
        "@worker",
    )
    assert worker.claim() is None
    assert [m.id for m in worker.dead_letters()] == [sent.id]


@pytest.mark.spec("RETRY-001")
def test_fail_with_retry_returns_the_message_to_pending_with_its_reason(agents: Agents) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    failed = worker.fail(claim.id, claim.token, "upstream timed out")
    assert (failed.status, failed.retry_count, failed.last_error, failed.claimed_by) == (
        Status.PENDING,
        1,
        "upstream timed out",
        None,
    )
    assert worker.get(claim.id) == failed


@pytest.mark.spec("RETRY-001")
@pytest.mark.parametrize(
    "max_retries",
    [
        0,
        1,
        pytest.param(3, marks=manual_clock),
        pytest.param(None, marks=manual_clock, id="default-3"),
    ],
)
def test_max_retries_n_allows_n_plus_one_deliveries(
    agents: Agents, elapse: Elapse, max_retries: int | None
) -> None:
    sent = agents("@boss").send("@worker", "work", {}, max_retries=max_retries)
    assert sent.max_retries == (3 if max_retries is None else max_retries)
    worker = agents("@worker")
    deliveries = 0
    while True:
        claim = claimed(worker)
        deliveries += 1
        failed = worker.fail(claim.id, claim.token, f"failure {deliveries}")
        if failed.status is not Status.PENDING:
            break
        elapse(2 ** (deliveries - 1))  # the backoff
    assert deliveries == sent.max_retries + 1
    assert (failed.status, failed.last_error, failed.retry_count) == (
        Status.DEAD,
        f"failure {deliveries}",
        sent.max_retries,
    )
    assert worker.claim() is None


# -- RETRY-002: exponential backoff -------------------------------------------------------------
@pytest.mark.spec("RETRY-002")
def test_a_failed_message_becomes_claimable_one_backoff_base_after_the_failure(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("@worker", "work", {})
    worker = agents("@worker")
    claim = claimed(worker)
    before = hub_now(worker)
    failed = worker.fail(claim.id, claim.token, "try again")
    assert before + 1 <= failed.available_at <= hub_now(worker) + 1
    elapse(0.5)
    assert worker.claim() is None
    elapse(0.5)
    assert claimed(worker).id == claim.id


@pytest.mark.spec("RETRY-002")
@manual_clock
def test_retries_back_off_exponentially_up_to_backoff_max(agents: Agents, elapse: Elapse) -> None:
    agents("@boss").send("@worker", "work", {}, max_retries=12)
    worker = agents("@worker")
    for expected in (1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300):
        claim = claimed(worker)
        failed_at = hub_now(worker)
        failed = worker.fail(claim.id, claim.token, "again")
        assert failed.available_at - failed_at == pytest.approx(expected)
        elapse(expected - 0.5)
        assert worker.claim() is None
        elapse(0.5)
    assert claimed(worker).message.retry_count == 11


@pytest.mark.spec("RETRY-002", "CLAIM-005")
@manual_clock
@pytest.mark.parametrize("settler", ["claim", "sweep"])
def test_the_backoff_counts_from_when_the_lapse_is_settled(
    agents: Agents, elapse: Elapse, settler: str
) -> None:
    agents("@boss").send("@worker", "work", {}, timeout_seconds=LEASE)
    worker = agents("@worker")
    claim = claimed(worker)
    elapse(LEASE + 5)
    settled_at = hub_now(worker)
    if settler == "claim":
        assert worker.claim() is None  # settles the lapse now, 5 s after it happened
    else:
        assert worker.sweep() == 1
    assert worker.get(claim.id).available_at == pytest.approx(settled_at + 1)
    elapse(0.5)
    assert worker.claim() is None
    elapse(0.5)
    assert claimed(worker).id == claim.id


# -- RETRY-003: fail without retry ---------------------------------------------------------------
@pytest.mark.spec("RETRY-003")
def test_fail_without_retry_dead_letters_at_once_whatever_retries_remain(
    agents: Agents, elapse: Elapse
) -> None:
    agents("@boss").send("@worker", "work", {}, max_retries=5)
    worker = agents("@worker")
    claim = claimed(worker)
    dead = worker.fail(claim.id, claim.token, "poison", retry=False)
    assert (dead.status, dead.last_error, dead.retry_count, dead.claimed_by) == (
        Status.DEAD,
        "poison",
        0,
        "@worker",
    )
    assert worker.get(claim.id) == dead
    elapse(1)
    assert worker.claim() is None
    assert worker.replay(claim.id).status is Status.PENDING
    assert claimed(worker).id == claim.id  # handed out again only once replayed
