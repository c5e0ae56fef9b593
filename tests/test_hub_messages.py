"""Sending, reading back, and request/response (SPEC ENV, MSG, REQ)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import (
    AlreadyFinished,
    ConfigurationError,
    DeadlineExceeded,
    Hub,
    InvalidInput,
    ManualClock,
    NotFound,
    Outgoing,
    Priority,
    ReplyStatus,
    Status,
)

MIB = 1024 * 1024

TRICKY_PAYLOADS = {
    "quotes": "it's \"quoted\" and 'single'",
    "sql": "'; DROP TABLE agent_messages; --",
    "pipes": "a|b||c|",
    "newlines": "one\ntwo\r\nthree\n",
    "tabs": "\tindented\tcolumns\t",
    "backslashes": "C:\\path\\n not a newline \\u0000",
    "nul": "before\u0000after",
    "emoji": "ship it 🚀 👩‍💻 🇫🇷",
    "rtl": "שלום עולם مرحبا بالعالم",
    "shell": "$(rm -rf /) `id` ${HOME} && echo",
    "at_the_limit": "x" * (MIB - 2),  # compact JSON adds two quotes: exactly 1 MiB
    "nested": {"a": [1, -2.5, 1e-300, 2**70, True, False, None, {"b": {"c": ["", {}, []]}}]},
    "keys_in_order": {"z": 1, "a": 2, "m": {"y": 3, "b": 4}},
    "null": None,
    "false": False,
    "zero": 0,
}


def canonical(value: Any) -> str:
    """The JSON text of a value: tells True from 1 and keeps key order."""
    return json.dumps(value, ensure_ascii=False)


def test_send_returns_a_pending_message_stamped_with_the_sender(hubs: Callable[..., Hub],
                                                                clock: ManualClock) -> None:
    sent = hubs("@alice").send("@bob", "greet", {"hi": 1})
    assert sent.status is Status.PENDING
    assert (sent.from_agent, sent.to_agent, sent.type, sent.payload) == (
        "@alice", "@bob", "greet", {"hi": 1})
    assert sent.retry_count == 0
    assert sent.claimed_by is sent.last_error is sent.reply_id is None
    assert sent.created_at == sent.available_at == clock.now()


def test_send_applies_the_hub_defaults(hub: Hub) -> None:
    sent = hub.send("@bob", "greet", {})
    assert (sent.priority, sent.timeout_seconds, sent.max_retries) == (Priority.NORMAL, 300, 3)
    assert sent.expires_at is None
    assert sent.correlation_id is None


def test_get_returns_the_message_as_sent(hub: Hub) -> None:
    sent = hub.send("@bob", "greet", {"n": 1}, priority="high", timeout_seconds=12,
                    max_retries=7, correlation_id="corr-1", expires_in=60)
    assert hub.get(sent.id) == sent


def test_get_returns_the_same_created_at_as_send_at_any_clock_time(hub: Hub,
                                                                   clock: ManualClock) -> None:
    clock.advance(0.0004)
    sent = hub.send("@bob", "greet", {})
    assert hub.get(sent.id).created_at == sent.created_at


def test_get_of_an_unknown_id_raises_not_found_naming_it(hub: Hub) -> None:
    with pytest.raises(NotFound, match="424242"):
        hub.get("424242")


def test_every_message_gets_its_own_id(hub: Hub) -> None:
    ids = [hub.send("@bob", "n", i).id for i in range(20)]
    assert len(set(ids)) == 20
    assert all(isinstance(i, str) and 1 <= len(i) <= 100 for i in ids)


def test_send_many_queues_every_message_in_list_order(hubs: Callable[..., Hub]) -> None:
    sent = hubs("@alice").send_many([Outgoing("@bob", "n", i) for i in range(5)])
    assert [m.payload for m in sent] == [0, 1, 2, 3, 4]
    claimed = hubs("@bob").claim_many(limit=10)
    assert [c.message.payload for c in claimed] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("bad", [
    Outgoing("not a target", "n", 1),
    Outgoing("@bob", "bad type!", 1),
    Outgoing("@bob", "n", float("nan")),
    Outgoing("@bob", "n", 1, priority="urgent"),
    Outgoing("@bob", "n", 1, timeout_seconds=0),
    Outgoing("@bob", "n", 1, max_retries=-1),
    Outgoing("@bob", "n", "x" * MIB),
], ids=["target", "type", "nan", "priority", "timeout", "max_retries", "size"])
def test_send_many_with_one_invalid_item_sends_nothing(hubs: Callable[..., Hub],
                                                       bad: Outgoing) -> None:
    alice = hubs("@alice")
    with pytest.raises(InvalidInput):
        alice.send_many([Outgoing("@bob", "n", 1), bad, Outgoing("@bob", "n", 3)])
    assert alice.stats().counters.get("sent", 0) == 0
    assert hubs("@bob").claim() is None


@pytest.mark.parametrize("payload", TRICKY_PAYLOADS.values(), ids=TRICKY_PAYLOADS.keys())
def test_payloads_round_trip_exactly(hubs: Callable[..., Hub], payload: Any) -> None:
    sent = hubs("@alice").send("@bob", "data", payload)
    bob = hubs("@bob")
    claim = bob.claim()
    assert claim is not None
    reply = bob.reply(claim.id, claim.token, payload)
    got: list[Any] = [sent, bob.get(sent.id), claim.message, reply, bob.get_reply(sent.id)]
    assert [canonical(g.payload) for g in got] == [canonical(payload)] * 5


def test_a_payload_over_the_limit_is_refused_naming_its_size(hub: Hub) -> None:
    exact = r"payload is 2097154 bytes \(2\.00 MiB\), limit 1048576 bytes"
    with pytest.raises(InvalidInput, match=exact):
        hub.send("@bob", "data", "x" * (2 * MIB))
    with pytest.raises(InvalidInput, match="limit"):
        hub.send("@bob", "data", "x" * (MIB - 1))  # one byte over
    assert hub.stats().counters.get("sent", 0) == 0


def test_the_size_limit_counts_utf8_bytes_not_characters(hub: Hub) -> None:
    with pytest.raises(InvalidInput, match="limit"):
        hub.send("@bob", "data", "é" * (MIB // 2))  # half a MiB of characters, 1 MiB + 2 bytes


def test_a_payload_one_byte_over_the_limit_is_reported_with_its_exact_size(hub: Hub) -> None:
    with pytest.raises(InvalidInput) as caught:
        hub.send("@bob", "data", "x" * (MIB - 1))
    assert str(MIB + 1) in str(caught.value)


@pytest.mark.parametrize("payload", [
    float("nan"), float("inf"), -float("inf"), {"x": [1, float("nan")]},
    "lone \ud800 surrogate", {"k\udfff": 1}, {1, 2}, object(), b"bytes",
], ids=["nan", "inf", "-inf", "nested-nan", "surrogate", "surrogate-key", "set", "object",
        "bytes"])
def test_values_that_are_not_json_are_refused(hub: Hub, payload: Any) -> None:
    with pytest.raises(InvalidInput, match="payload"):
        hub.send("@bob", "data", payload)


def test_a_payload_nested_too_deeply_is_refused_as_invalid_input(hub: Hub) -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput):
        hub.send("@bob", "data", deep)


def test_a_handle_without_identity_cannot_send(hubs: Callable[..., Hub]) -> None:
    with pytest.raises(ConfigurationError, match="agent"):
        hubs(None).send("@bob", "greet", {})


def test_a_message_to_an_unregistered_agent_waits_in_its_inbox(hubs: Callable[..., Hub],
                                                               clock: ManualClock) -> None:
    sent = hubs("@alice").send("@newcomer", "welcome", {"n": 1})
    clock.advance(3600)
    newcomer = hubs("@newcomer")
    assert newcomer.agents() == []
    claim = newcomer.claim()
    assert claim is not None and claim.id == sent.id


# -- request and response --------------------------------------------------------------------
def answered(worker: Hub, answer: Any, **options: Any) -> Any:
    """Claim the worker's next message and reply to it; returns the claim."""
    claim = worker.claim()
    assert claim is not None
    worker.reply(claim.id, claim.token, answer, **options)
    return claim


def test_a_reply_written_before_the_requester_waits_is_returned(hubs: Callable[..., Hub]) -> None:
    alice, bob = hubs("@alice"), hubs("@bob")
    request = alice.send("@bob", "add", {"a": 1, "b": 2}, correlation_id="sum-1")
    answered(bob, {"sum": 3})
    reply = alice.wait_reply(request.id, timeout=0)
    assert (reply.payload, reply.request_id, reply.status, reply.ok) == (
        {"sum": 3}, request.id, ReplyStatus.SUCCESS, True)
    assert (reply.from_agent, reply.to_agent, reply.correlation_id) == ("@bob", "@alice", "sum-1")


def test_reply_completes_the_request_and_links_the_reply(hubs: Callable[..., Hub]) -> None:
    request = hubs("@alice").send("@bob", "add", {})
    bob = hubs("@bob")
    answered(bob, "done")
    finished = bob.get(request.id)
    assert finished.status is Status.COMPLETED
    assert finished.reply_id == bob.wait_reply(request.id, timeout=0).id


def test_get_reply_is_none_until_a_reply_arrives(hubs: Callable[..., Hub]) -> None:
    alice = hubs("@alice")
    request = alice.send("@bob", "add", {})
    assert alice.get_reply(request.id) is None
    answered(hubs("@bob"), 1)
    assert alice.get_reply(request.id) is not None


def test_wait_reply_without_a_reply_raises_deadline_exceeded_naming_the_request(
        hub: Hub) -> None:
    request = hub.send("@bob", "add", {})
    with pytest.raises(DeadlineExceeded, match=repr(request.id)):
        hub.wait_reply(request.id, timeout=0)


def test_wait_reply_for_an_unknown_request_raises_not_found(hub: Hub) -> None:
    with pytest.raises(NotFound):
        hub.wait_reply("424242", timeout=0)


def test_a_late_reply_to_an_earlier_request_never_satisfies_a_later_one(
        hubs: Callable[..., Hub]) -> None:
    alice, bob = hubs("@alice"), hubs("@bob")
    first = alice.send("@bob", "ask", "first", correlation_id="req_001")
    second = alice.send("@bob", "ask", "second", correlation_id="req_001")
    first_claim, second_claim = bob.claim_many(limit=2)
    bob.reply(first_claim.id, first_claim.token, "answer to first")
    with pytest.raises(DeadlineExceeded):
        alice.wait_reply(second.id, timeout=0)
    bob.reply(second_claim.id, second_claim.token, "answer to second")
    assert alice.wait_reply(first.id, timeout=0).payload == "answer to first"
    assert alice.wait_reply(second.id, timeout=0).payload == "answer to second"


def test_a_second_reply_is_refused_and_the_first_stands(hubs: Callable[..., Hub]) -> None:
    request = hubs("@alice").send("@bob", "ask", {})
    bob = hubs("@bob")
    claim = answered(bob, "first")
    with pytest.raises(AlreadyFinished):
        bob.reply(claim.id, claim.token, "second")
    assert bob.wait_reply(request.id, timeout=0).payload == "first"
    assert bob.stats().counters["completed"] == 1


def test_an_error_reply_carries_its_status(hubs: Callable[..., Hub]) -> None:
    request = hubs("@alice").send("@bob", "ask", {})
    answered(hubs("@bob"), {"error": "no such user"}, status="error")
    reply = hubs("@alice").wait_reply(request.id, timeout=0)
    assert (reply.status, reply.ok) == (ReplyStatus.ERROR, False)


class AnsweringClock:
    """The requester's clock: its first wait lets the worker answer, as another process would."""

    def __init__(self, clock: ManualClock, answer: Callable[[], None]) -> None:
        self.clock, self.answer, self.waits = clock, answer, 0

    def now(self) -> float:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.clock.sleep(seconds)
        self.waits += 1
        if self.waits == 1:
            self.answer()


def test_request_returns_the_reply_of_the_agent_it_asked(hubs: Callable[..., Hub],
                                                         clock: ManualClock) -> None:
    worker, seen = hubs("@service.auth"), []
    start = clock.now()

    def answer() -> None:
        seen.append(answered(worker, {"valid": True}).message)

    asker = hubs("@backend.nodejs", clock=AnsweringClock(clock, answer))
    reply = asker.request("@service.auth", "validate_token", {"token": "abc"}, timeout=5)
    assert (reply.payload, reply.from_agent, reply.request_id) == (
        {"valid": True}, "@service.auth", seen[0].id)
    assert re.fullmatch(r"req_[0-9a-f]{32}", seen[0].correlation_id)
    assert seen[0].expires_at == start + 5
    assert reply.correlation_id == seen[0].correlation_id


def test_a_request_without_a_reply_times_out_then_expires_undelivered(
        hubs: Callable[..., Hub], clock: ManualClock) -> None:
    asker, worker = hubs("@backend.nodejs"), hubs("@service.auth")
    start = clock.now()
    with pytest.raises(DeadlineExceeded, match=r"request '([^']+)'") as caught:
        asker.request("@service.auth", "validate_token", {}, timeout=1)
    assert clock.now() >= start + 1
    request_id = re.search(r"request '([^']+)'", str(caught.value)).group(1)  # type: ignore[union-attr]
    asker.sweep()
    assert asker.get(request_id).status is Status.EXPIRED
    assert worker.claim() is None
