"""Direct messages: durable sends, targets, payloads that come back exactly, and
``send_many`` (SPEC section MSG)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Outgoing
from agentcomm_conformance.expect import claimed, refused
from agentcomm_conformance.plugin import HubSession

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]

MIB = 1024 * 1024

TRICKY_PAYLOADS = {
    "quotes": "it's \"quoted\" and 'single'",
    "sql": "'); DROP TABLE agent_messages; --",
    "pipes": "a|b||c|",
    "newlines": "one\ntwo\r\nthree\n",
    "tabs": "\tindented\tcolumns\t",
    "backslashes": "C:\\path\\n not a newline \\u0000",
    "nul": "before\u0000after",
    "emoji": "ship it 🚀 👩‍💻 🇫🇷 𝄞",
    "rtl": "שלום עולם مرحبا بالعالم",
    "shell": "$(rm -rf /) `id` ${HOME} && echo",
    "largest": "x" * (MIB - 2),  # compact JSON adds two quotes: exactly max_payload_bytes
    "nested": {"a": [1, -2.5, 1e-300, 2**53 - 1, True, False, None, {"b": {"c": ["", {}, []]}}]},
    "null": None,
    "false": False,
    "zero": 0,
    "empty_object": {},
}


def canonical(value: Any) -> str:
    """The JSON text of a value, keys sorted: tells ``True`` from ``1``."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# -- MSG-001: durable sends -----------------------------------------------------------------
@pytest.mark.spec("MSG-001")
def test_a_sent_message_is_seen_by_other_handles_and_outlives_all_of_them(
    agents: Agents, hub_session: HubSession
) -> None:
    alice, bob, monitor = agents("@alice"), agents("@bob"), agents()
    sent = alice.send("@bob", "greet", {"n": 1})
    assert bob.get(sent.id) == monitor.get(sent.id) == sent
    for handle in list(hub_session.handles):
        handle.close()
    reopened = agents("@bob")
    assert reopened.get(sent.id) == sent
    assert claimed(reopened).id == sent.id


BAD_SENDS: dict[str, Callable[[Hub], object]] = {
    "target": lambda h: h.send("not a target", "n", 1),
    "type": lambda h: h.send("@bob", "bad type!", 1),
    "payload": lambda h: h.send("@bob", "n", float("nan")),
    "size": lambda h: h.send("@bob", "n", "x" * MIB),
    "priority": lambda h: h.send("@bob", "n", 1, priority="urgent"),
}


@pytest.mark.spec("MSG-001")
@pytest.mark.parametrize("send", BAD_SENDS.values(), ids=BAD_SENDS.keys())
def test_a_send_refused_definitely_leaves_no_message_behind(
    agents: Agents, send: Callable[[Hub], object]
) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    with refused("invalid_input") as refusal:
        send(alice)
    assert refusal.definite is True
    assert bob.claim() is None
    sent = alice.send("@bob", "n", 2)  # the handle still works
    assert claimed(bob).id == sent.id


# -- MSG-002: targets -----------------------------------------------------------------------
@pytest.mark.spec("MSG-002")
def test_a_message_is_handed_out_only_from_the_target_it_was_sent_to(agents: Agents) -> None:
    alice, bob, carol = agents("@alice"), agents("@bob"), agents("@carol")
    to_bob, to_jobs = alice.send("@bob", "n", 1), alice.send("jobs", "n", 2)
    assert carol.claim() is None
    assert carol.claim("other.jobs") is None
    assert claimed(carol, "jobs").id == to_jobs.id
    assert bob.claim("jobs") is None
    assert claimed(bob).id == to_bob.id


@pytest.mark.spec("MSG-002")
def test_a_queued_message_keeps_its_target_for_its_whole_life(agents: Agents) -> None:
    alice, one, two = agents("@alice"), agents("@worker.1"), agents("@worker.2")
    sent = alice.send("jobs", "task", 1)
    first = claimed(one, "jobs")
    seen = [first.message, alice.get(sent.id), one.release(first.id, first.token)]
    second = claimed(two, "jobs")
    seen += [second.message, two.fail(second.id, second.token, "no", retry=False)]
    alice.replay(sent.id)
    third = claimed(one, "jobs")
    one.complete(third.id, third.token)
    seen += [third.message, alice.get(sent.id)]
    assert [m.to_agent for m in seen] == ["jobs"] * 7
    assert (first.message.claimed_by, second.message.claimed_by) == ("@worker.1", "@worker.2")


def deregistered(agent: Hub, elapse: Elapse) -> None:
    agent.register()
    agent.deregister()


def not_alive(agent: Hub, elapse: Elapse) -> None:
    agent.register(ttl=0.2)
    elapse(0.3)


ABSENT: dict[str, Callable[[Hub, Elapse], object]] = {
    "unregistered": lambda agent, elapse: None,
    "deregistered": deregistered,
    "not_alive": not_alive,
}


@pytest.mark.spec("MSG-002")
@pytest.mark.parametrize("absent", ABSENT.values(), ids=ABSENT.keys())
def test_a_message_to_an_absent_agent_waits_in_its_inbox(
    agents: Agents, elapse: Elapse, absent: Callable[[Hub, Elapse], object]
) -> None:
    newcomer = agents("@newcomer")
    absent(newcomer, elapse)
    sent = agents("@alice").send("@newcomer", "welcome", {"n": 1})
    elapse(0.5)
    assert claimed(newcomer).id == sent.id


# -- MSG-003: payloads round-trip -------------------------------------------------------------
@pytest.mark.spec("MSG-003")
@pytest.mark.parametrize("payload", TRICKY_PAYLOADS.values(), ids=TRICKY_PAYLOADS.keys())
def test_payloads_come_back_exactly_from_every_way_of_reading_them(
    agents: Agents, payload: Any
) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    bob.subscribe("data")
    sent = alice.send("@bob", "data", payload)
    claim = claimed(bob)
    reply = bob.reply(claim.id, claim.token, payload)
    event = alice.publish("data", payload)
    alice.send("jobs", "data", payload)
    task = claimed(bob, "jobs")
    bob.fail(task.id, task.token, "poison", retry=False)
    got: list[Any] = [
        sent,
        bob.get(sent.id),
        claim.message,
        reply,
        alice.get_reply(sent.id),
        event,
        *bob.events(),
        *alice.tail_events(),
        *alice.dead_letters(),
    ]
    assert [canonical(g.payload) for g in got] == [canonical(payload)] * 9


# -- MSG-004: send_many -----------------------------------------------------------------------
@pytest.mark.spec("MSG-004")
@pytest.mark.capability("batch")
def test_send_many_queues_every_message_in_list_order(agents: Agents) -> None:
    sent = agents("@alice").send_many([Outgoing("@bob", "n", i) for i in range(5)])
    assert [m.payload for m in sent] == [0, 1, 2, 3, 4]
    bob = agents("@bob")
    assert [bob.get(m.id) for m in sent] == sent
    assert [claimed(bob).message.payload for _ in sent] == [0, 1, 2, 3, 4]


@pytest.mark.spec("MSG-004")
@pytest.mark.capability("batch")
def test_a_large_send_many_is_queued_whole_in_list_order(agents: Agents) -> None:
    """2,500 messages: more than a backend may write in one statement or script call."""
    sent = agents("@alice").send_many([Outgoing("jobs", "n", i) for i in range(2500)])
    assert [m.payload for m in sent] == list(range(2500))
    assert len({m.id for m in sent}) == 2500
    bob = agents("@bob")
    assert [c.message.payload for c in bob.claim_many("jobs", limit=2500)] == list(range(2500))


@pytest.mark.spec("MSG-004")
@pytest.mark.capability("batch")
@pytest.mark.parametrize(
    "bad",
    [
        Outgoing("not a target", "n", 1),
        Outgoing("@bob", "bad type!", 1),
        Outgoing("@bob", "n", float("nan")),
        Outgoing("@bob", "n", 1, priority="urgent"),
        Outgoing("@bob", "n", 1, timeout_seconds=0),
        Outgoing("@bob", "n", 1, max_retries=-1),
        Outgoing("@bob", "n", "x" * MIB),
    ],
    ids=["target", "type", "nan", "priority", "timeout", "max_retries", "size"],
)
def test_send_many_with_one_invalid_item_sends_nothing(agents: Agents, bad: Outgoing) -> None:
    alice = agents("@alice")
    with refused("invalid_input"):
        alice.send_many([Outgoing("@bob", "n", 1), bad, Outgoing("@bob", "n", 3)])
    assert agents("@bob").claim() is None
