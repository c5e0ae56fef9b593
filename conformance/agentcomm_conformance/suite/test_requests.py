"""Request and response (SPEC section REQ).

The suite drives a black box from one thread, so nobody can answer while ``request``
blocks: these tests answer before ``wait_reply`` is called, or let ``request`` time out.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Message, ReplyStatus, Status
from agentcomm_conformance.expect import claimed, refused
from agentcomm_conformance.expect import now_by_event as hub_now

Agents = Callable[..., Hub]

MS = 0.001  # times the design keeps as DATETIME text may be kept to the millisecond


def answered(worker: Hub, answer: Any, **options: Any) -> Claim:
    """Claim the worker's next message and reply to it; returns the claim."""
    claim = claimed(worker)
    worker.reply(claim.id, claim.token, answer, **options)
    return claim


def named_request(hub: Hub, text: str, to: str) -> Message:
    """The request sent to ``to`` whose id ``text`` names.  Ids are opaque, so each word of
    the text is tried as one."""
    for word in re.findall(r"[^\s'\"`,;()\[\]{}<>]+", text):
        for candidate in dict.fromkeys([word, word.rstrip(".:")]):
            try:
                message = hub.get(candidate)
            except Exception as exc:  # judged by its code
                if getattr(exc, "code", None) in {"not_found", "invalid_input"}:
                    continue
                raise
            if message.to_agent == to:
                return message
    raise AssertionError(f"{text!r} names no request sent to {to}")


# -- REQ-001 and REQ-006: request ---------------------------------------------------------------
@pytest.mark.spec("REQ-001", "REQ-006")
def test_request_sends_a_correlated_message_and_times_out_naming_it(agents: Agents) -> None:
    asker = agents("@backend.nodejs")
    before = hub_now(asker)
    with refused("deadline_exceeded") as timed_out:
        asker.request("@service.auth", "validate_token", {"token": "abc"}, timeout=0.3)
    after = hub_now(asker)
    sent = named_request(asker, timed_out.message, "@service.auth")
    assert (sent.from_agent, sent.type, sent.payload) == (
        "@backend.nodejs",
        "validate_token",
        {"token": "abc"},
    )
    assert re.fullmatch(r"req_[0-9a-f]{32}", sent.correlation_id or "")
    assert sent.expires_at == pytest.approx(sent.available_at + 0.3, abs=MS)
    assert after - before >= 0.3 - MS  # it waited its whole timeout


@pytest.mark.spec("REQ-001")
def test_request_keeps_a_given_correlation_id_and_draws_a_new_one_otherwise(agents: Agents) -> None:
    asker = agents("@alice")
    found = []
    for given in ("login-42", None, None):
        with refused("deadline_exceeded") as timed_out:
            asker.request("@bob", "ask", {}, timeout=0.1, correlation_id=given)
        found.append(named_request(asker, timed_out.message, "@bob").correlation_id)
    assert found[0] == "login-42"
    assert found[1] != found[2]


@pytest.mark.spec("REQ-006")
def test_a_request_that_timed_out_is_never_handed_out(agents: Agents) -> None:
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    with refused("deadline_exceeded") as timed_out:
        asker.request("@service.auth", "validate_token", {}, timeout=0.2)
    request = named_request(asker, timed_out.message, "@service.auth")
    assert worker.claim() is None
    asker.sweep()
    assert asker.get(request.id).status == Status.EXPIRED


@pytest.mark.spec("REQ-006")
def test_wait_reply_without_a_reply_waits_its_timeout_then_raises_naming_the_request(
    agents: Agents,
) -> None:
    alice = agents("@alice")
    request = alice.send("@bob", "add", {})
    for timeout in (0, 0.3):
        before = hub_now(alice)
        with refused("deadline_exceeded") as timed_out:
            alice.wait_reply(request.id, timeout=timeout)
        assert hub_now(alice) - before >= timeout - MS
        assert request.id in timed_out.message


@pytest.mark.spec("REQ-006")
def test_a_reply_written_after_the_requester_gave_up_is_stored_and_returned(agents: Agents) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    request = alice.send("@bob", "add", {"a": 1}, expires_in=0.5)
    claim = claimed(bob)
    with refused("deadline_exceeded"):
        alice.wait_reply(request.id, timeout=0.6)  # past the request's deadline
    late = bob.reply(claim.id, claim.token, {"sum": 1})
    assert alice.get_reply(request.id) == late
    assert alice.get_reply(request.id) == late


# -- REQ-002: bound to the message id -----------------------------------------------------------
@pytest.mark.spec("REQ-002")
def test_a_reply_to_an_earlier_request_never_satisfies_a_later_one_with_its_correlation_id(
    agents: Agents,
) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    first = alice.send("@bob", "ask", "first", correlation_id="req_001")
    second = alice.send("@bob", "ask", "second", correlation_id="req_001")
    first_claim, second_claim = claimed(bob), claimed(bob)
    by_id = {first_claim.id: first_claim, second_claim.id: second_claim}
    bob.reply(first.id, by_id[first.id].token, "answer to first")
    assert alice.get_reply(second.id) is None
    with refused("deadline_exceeded"):
        alice.wait_reply(second.id, timeout=0)
    bob.reply(second.id, by_id[second.id].token, "answer to second")
    assert alice.wait_reply(first.id, timeout=0).payload == "answer to first"
    assert alice.wait_reply(second.id, timeout=0).payload == "answer to second"


@pytest.mark.spec("REQ-002")
def test_a_reply_satisfies_only_its_own_request_whoever_sent_the_others(agents: Agents) -> None:
    alice, carol, bob = agents("@alice"), agents("@carol"), agents("@bob")
    mine = alice.send("@bob", "ask", 1, correlation_id="shared")
    theirs = carol.send("@bob", "ask", 2, correlation_id="shared")
    later = alice.send("@bob", "ask", 3, correlation_id="shared")
    claims = {c.id: c for c in (claimed(bob), claimed(bob), claimed(bob))}
    bob.reply(theirs.id, claims[theirs.id].token, "for carol")
    assert alice.get_reply(mine.id) is None and alice.get_reply(later.id) is None
    assert carol.get_reply(theirs.id).payload == "for carol"  # type: ignore[union-attr]


# -- REQ-003: reply completes -------------------------------------------------------------------
@pytest.mark.spec("REQ-003")
def test_reply_stores_a_bound_reply_and_completes_the_message(agents: Agents) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    request = alice.send("@bob", "add", {"a": 1, "b": 2}, correlation_id="sum-1")
    claim = claimed(bob)
    reply = bob.reply(claim.id, claim.token, {"sum": 3})
    assert (reply.request_id, reply.from_agent, reply.to_agent, reply.correlation_id) == (
        request.id,
        "@bob",
        "@alice",
        "sum-1",
    )
    assert (reply.payload, reply.status) == ({"sum": 3}, ReplyStatus.SUCCESS)
    finished = alice.get(request.id)
    assert (finished.status, finished.reply_id) == (Status.COMPLETED, reply.id)
    assert alice.get_reply(request.id) == reply


@pytest.mark.spec("REQ-003")
def test_an_error_reply_carries_its_status(agents: Agents) -> None:
    request = agents("@alice").send("@bob", "ask", {})
    answered(agents("@bob"), {"error": "no such user"}, status="error")
    reply = agents("@alice").wait_reply(request.id, timeout=0)
    assert reply.status == ReplyStatus.ERROR


@pytest.mark.spec("REQ-003")
@pytest.mark.parametrize("status", ["failed", "succeeded", "ok", ""])
def test_a_reply_status_other_than_success_or_error_is_refused_and_stores_nothing(
    agents: Agents, status: str
) -> None:
    request = agents("@alice").send("@bob", "ask", {})
    bob = agents("@bob")
    claim = claimed(bob)
    with refused("invalid_input"):
        bob.reply(claim.id, claim.token, "answer", status=status)
    assert bob.get_reply(request.id) is None
    assert bob.get(request.id).status == Status.PROCESSING
    assert bob.reply(claim.id, claim.token, "answer").status == ReplyStatus.SUCCESS


@pytest.mark.spec("REQ-003")
def test_any_claimed_message_may_be_answered_even_a_queued_task(agents: Agents) -> None:
    task = agents("@alice").send("jobs", "resize", {"w": 10})
    worker = agents("@worker.7")
    claim = claimed(worker, "jobs")
    reply = worker.reply(claim.id, claim.token, "done")
    assert (reply.request_id, reply.to_agent, reply.correlation_id) == (task.id, "@alice", None)
    assert worker.get(task.id).status == Status.COMPLETED


# -- REQ-004: one reply -------------------------------------------------------------------------
@pytest.mark.spec("REQ-004")
def test_a_second_reply_is_refused_and_the_first_stands(agents: Agents) -> None:
    request = agents("@alice").send("@bob", "ask", {})
    bob = agents("@bob")
    claim = answered(bob, "first")
    first = bob.get_reply(request.id)
    with refused("already_finished"):
        bob.reply(claim.id, claim.token, "second")
    assert bob.get_reply(request.id) == first
    assert bob.get(request.id).reply_id == first.id  # type: ignore[union-attr]


@pytest.mark.spec("REQ-004")
def test_a_reply_to_a_completed_message_is_refused_and_stores_nothing(agents: Agents) -> None:
    request = agents("@alice").send("@bob", "ask", {})
    bob = agents("@bob")
    claim = claimed(bob)
    bob.complete(claim.id, claim.token)
    with refused("already_finished"):
        bob.reply(claim.id, claim.token, "too late")
    assert bob.get_reply(request.id) is None
    assert bob.get(request.id).reply_id is None


# -- REQ-005: a reply that came first -----------------------------------------------------------
@pytest.mark.spec("REQ-005")
def test_a_reply_stored_before_the_requester_looks_is_returned_at_once(agents: Agents) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    request = alice.send("@bob", "add", {"a": 1, "b": 2})
    assert alice.get_reply(request.id) is None
    answered(bob, {"sum": 3})
    before = hub_now(alice)
    replies = [
        alice.get_reply(request.id),
        alice.wait_reply(request.id, timeout=0),
        alice.wait_reply(request.id),
    ]
    assert hub_now(alice) - before < 1  # none of them waited
    assert [r.payload for r in replies if r is not None] == [{"sum": 3}] * 3


@pytest.mark.spec("REQ-005")
@pytest.mark.parametrize(
    "call",
    [
        lambda h: h.get_reply("424242"),
        lambda h: h.wait_reply("424242", timeout=0),
        lambda h: h.get_reply("no-such-request"),
    ],
    ids=["get_reply", "wait_reply", "get_reply-word"],
)
def test_waiting_on_an_unknown_request_raises_not_found(
    hub: Hub, call: Callable[[Hub], object]
) -> None:
    hub.send("@bob", "ask", {})
    with refused("not_found"):
        call(hub)
