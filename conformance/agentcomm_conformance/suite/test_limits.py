"""Bad input is refused with invalid_input naming it, before any effect (SPEC section LIMIT).

Identifiers, types and payloads (LIMIT-001/002/003) and how bad input is named
(LIMIT-005); numbers, lengths and null are in ``test_limits_numeric.py``, the values both
try in ``limit_cases.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Outgoing
from agentcomm_conformance.expect import depths, names, refused
from agentcomm_conformance.suite.limit_cases import (
    BAD_AGENT_IDS,
    BAD_CORRELATION_IDS,
    BAD_PRIORITIES,
    BAD_TARGETS,
    BAD_TYPES,
    CAPABILITY,
    EVENT_TYPE,
    GOOD_AGENT_IDS,
    GOOD_CORRELATION_IDS,
    GOOD_QUEUES,
    GOOD_TYPES,
    MESSAGE_TYPE,
    MIB,
    TYPED_CALLS,
    holding,
)

Agents = Callable[..., Hub]
BATCH = pytest.mark.capability("batch")


@pytest.mark.spec("LIMIT-001", "LIMIT-005", "ENV-001")
@pytest.mark.parametrize("agent", BAD_AGENT_IDS)
def test_opening_a_handle_as_a_bad_agent_id_raises_invalid_input_naming_it(
    agents: Agents, agent: Any
) -> None:
    with refused("invalid_input") as r:
        agents(agent)
    names(r.message, "agent", "agent id", value=agent)


@pytest.mark.spec("LIMIT-001")
@pytest.mark.parametrize("target", GOOD_AGENT_IDS + GOOD_QUEUES)
def test_well_formed_agent_ids_and_queue_names_are_accepted(agents: Agents, target: str) -> None:
    handle = agents(target if target.startswith("@") else "@tester")
    sent = handle.send(target, "w", {})
    claim = handle.claim(target)
    assert (sent.to_agent, claim.id if claim else None) == (target, sent.id)


@pytest.mark.spec("LIMIT-001", "LIMIT-005")
@pytest.mark.parametrize("target", BAD_TARGETS)
def test_sending_to_a_bad_target_raises_invalid_input_and_sends_nothing(
    hub: Hub, target: Any
) -> None:
    with refused("invalid_input") as r:
        hub.send(target, "work", {})
    names(r.message, "to", "target", value=target)
    assert depths(hub) == {}
    assert hub.send("@tester", "work", {}).status == "pending"  # the handle stays usable


@pytest.mark.spec("LIMIT-001", "LIMIT-005")
@pytest.mark.parametrize("source", BAD_TARGETS)
def test_claiming_from_a_bad_source_raises_invalid_input(hub: Hub, source: Any) -> None:
    with refused("invalid_input") as r:
        hub.claim(source)
    names(r.message, "source", "target", value=source)


@pytest.mark.spec("LIMIT-001", "LIMIT-005")
@pytest.mark.parametrize("kind", BAD_TYPES)
@pytest.mark.parametrize("call", TYPED_CALLS)
def test_a_bad_message_event_or_capability_type_raises_invalid_input(
    hub: Hub, call: str, kind: Any
) -> None:
    typed, terms = TYPED_CALLS[call]
    with refused("invalid_input") as r:
        typed(hub, kind)
    names(r.message, *terms, value=kind)
    assert hub.agents() == [] and hub.tail_events() == [] and hub.subscriptions() == []


@pytest.mark.spec("LIMIT-001")
@pytest.mark.parametrize("kind", GOOD_TYPES)
def test_well_formed_types_are_accepted_everywhere(hub: Hub, kind: str) -> None:
    assert hub.send("@bob", kind, {}).type == kind
    assert hub.publish(kind, {}).event_type == kind
    hub.subscribe(kind)
    assert tuple(hub.register(capabilities=[kind]).capabilities) == (kind,)


@pytest.mark.spec("LIMIT-001")
def test_a_message_type_has_at_most_50_characters_and_an_event_type_100(hub: Hub) -> None:
    hub.publish("e" * 100, {})
    hub.subscribe("e" * 100)
    for call, value, terms in (
        (lambda: hub.send("@bob", "t" * 51, {}), "t" * 51, MESSAGE_TYPE),
        (lambda: hub.register(capabilities=["c" * 51]), "c" * 51, CAPABILITY),
        (lambda: hub.subscribe("e" * 101), "e" * 101, EVENT_TYPE),
        (lambda: hub.publish("e" * 101, {}), "e" * 101, EVENT_TYPE),
    ):
        with refused("invalid_input") as r:
            call()
        names(r.message, *terms, value=value)


@pytest.mark.spec("LIMIT-001")
def test_well_formed_correlation_ids_are_kept(hub: Hub) -> None:
    for cid in GOOD_CORRELATION_IDS:
        assert hub.send("@bob", "w", {}, correlation_id=cid).correlation_id == cid


@pytest.mark.spec("LIMIT-001")
@pytest.mark.parametrize("correlation_id", BAD_CORRELATION_IDS)
def test_a_bad_correlation_id_raises_invalid_input(hub: Hub, correlation_id: str) -> None:
    with refused("invalid_input") as r:
        hub.send("@bob", "w", {}, correlation_id=correlation_id)
    names(r.message, "correlation_id", "correlation id", value=correlation_id)


@pytest.mark.spec("LIMIT-005", "PRIO-002")
@pytest.mark.parametrize("priority", BAD_PRIORITIES)
def test_a_bad_priority_raises_invalid_input_naming_it(hub: Hub, priority: Any) -> None:
    with refused("invalid_input") as r:
        hub.send("@bob", "work", {}, priority=priority)
    names(r.message, "priority", value=priority)


@pytest.mark.spec("LIMIT-002")
@pytest.mark.parametrize(
    "payload",
    [
        "x" * (MIB - 2),  # the two quotes make it exactly 1 MiB
        "é" * ((MIB - 2) // 2),  # 1 MiB: two UTF-8 bytes each, not six as the escape \u00e9
        [0] * ((MIB - 1) // 2),  # [0,0,...] is 1 MiB - 1: 1.5 MiB with a space after each comma
        {f"k{i:06}": 0 for i in range((MIB - 1) // 12)},  # {"k000000":0,...}: no spaces either
    ],
    ids=["ascii", "utf8", "compact-array", "compact-object"],
)
def test_a_payload_of_up_to_the_limit_in_compact_utf8_json_is_accepted(
    hub: Hub, payload: Any
) -> None:
    assert hub.send("@tester", "data", payload).payload == payload
    claim = hub.claim()
    assert claim is not None
    hub.reply(claim.id, claim.token, payload)
    assert hub.publish("data", payload).payload == payload


@pytest.mark.spec("LIMIT-002", "LIMIT-005")
@pytest.mark.parametrize(
    ("payload", "size"),
    [
        ("x" * (MIB - 1), MIB + 1),
        ("é" * (MIB // 2), MIB + 2),
        ("x" * (2 * MIB), 2 * MIB + 2),
    ],
    ids=["one-byte-over", "utf8-over", "twice"],
)
def test_a_larger_payload_raises_invalid_input_stating_its_size_and_the_limit(
    hub: Hub, payload: str, size: int
) -> None:
    claim = holding(hub)
    for call in (
        lambda: hub.send("@bob", "data", payload),
        lambda: hub.reply(claim.id, claim.token, payload),
        lambda: hub.publish("data", payload),
    ):
        with refused("invalid_input") as r:
            call()
        assert str(size) in r.message and str(MIB) in r.message
    assert hub.get(claim.id) == claim.message
    assert hub.get_reply(claim.id) is None and hub.tail_events() == []
    assert depths(hub) == {"@tester": {"processing": 1}}


@pytest.mark.spec("LIMIT-003")
@pytest.mark.parametrize(
    "payload",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        {"x": [1, float("nan")]},
        "lone \ud800 surrogate",
        {"k\udfff": 1},
    ],
    ids=["nan", "inf", "-inf", "nested-nan", "surrogate", "surrogate-key"],
)
def test_values_that_are_not_json_are_refused_everywhere(hub: Hub, payload: Any) -> None:
    claim = holding(hub)
    for call in (
        lambda: hub.send("@bob", "data", payload),
        lambda: hub.reply(claim.id, claim.token, payload),
        lambda: hub.publish("data", payload),
    ):
        with refused("invalid_input"):
            call()
    assert hub.get(claim.id) == claim.message and hub.tail_events() == []


@pytest.mark.spec("LIMIT-003", "MSG-003")
def test_an_object_with_keys_that_are_not_strings_is_refused(hub: Hub) -> None:
    with refused("invalid_input"):
        hub.send("@bob", "data", {1: "one"})


@pytest.mark.spec("LIMIT-005")
def test_a_long_bad_value_is_named_by_its_beginning_and_length(hub: Hub) -> None:
    target = "queue-" + "q" * 4994 + " x"
    with refused("invalid_input") as r:
        hub.send(target, "w", {})
    names(r.message, "to", "target", value=target)  # and never the whole 5002 characters


@pytest.mark.spec("LIMIT-005", "MSG-004")
@BATCH
def test_a_batch_with_one_bad_item_queues_none_and_the_handle_stays_usable(hub: Hub) -> None:
    good = Outgoing("jobs", "w", {"n": 1})
    with refused("invalid_input") as r:
        hub.send_many([good, Outgoing("jobs", "w", {}, max_retries=-1), good])
    names(r.message, "max_retries", value=-1)
    assert hub.claim("jobs") is None
    assert [m.payload for m in hub.send_many([good])] == [{"n": 1}]
