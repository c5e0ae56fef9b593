"""Bad input is refused with invalid_input naming it, before any effect (SPEC section LIMIT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Outgoing
from agentcomm_conformance.expect import names, refused

Agents = Callable[..., Hub]
MIB = 1024 * 1024
DAYS_30 = 30 * 86_400
BATCH = pytest.mark.capability("batch")

# Error messages are judged by SPEC LIMIT-005's rule only (``names``): the parameter's name
# or the spec's term for it, or the value's text (JSON's spelling for what is not a string).
BAD_AGENT_IDS: list[Any] = [
    "alice",
    "@",
    "@a..b",
    "@a:b",
    "@.a",
    "@a.",
    "@-a",
    "@a b",
    "@tâche",
    "@" + "a" * 100,
    "@a'; DROP TABLE agent_messages; --",
    "@a\n",
    "",
    42,
]
BAD_TARGETS: list[Any] = [
    "@",
    "@a..b",
    "@a:b",
    "@a b",
    "ANY AVAILABLE",
    "q:x",
    ".q",
    "q.",
    "q/x",
    "_q",
    "q" * 101,
    "it's",
    "",
    42,
]
BAD_TYPES: list[Any] = ["", ".x", "-x", "a b", "a:b", "it's", "a/b", 7]
GOOD_AGENT_IDS = ["@service.auth", "@worker.batch.001", "@A-b_c.9z", "@" + "a" * 99]
GOOD_QUEUES = ["ANY_AVAILABLE", "tasks.high-priority", "9", "q" * 100]
GOOD_TYPES = ["validate_token", "_private", "process.data-v2", "9lives", "t" * 50]
GOOD_CORRELATION_IDS = ["req_001", "a.b@c/d+e=f-g_h", "c" * 100]
BAD_CORRELATION_IDS = ["", "has space", "a:b", "it's", 'say "x"', "c" * 101]
BAD_PRIORITIES: list[Any] = [5, "urgent", -1, "-1", True, 1.5, None, "3", "", "1.0", "²"]
BAD_SECONDS: list[Any] = [
    0,
    -1,
    float("nan"),
    float("inf"),
    -float("inf"),
    "x",
    "10",
    True,
    DAYS_30 + 1,
    pytest.param(10**400, id="10**400"),
]
BAD_WAITS: list[Any] = [-1, -0.5, float("nan"), float("inf"), "x", True, DAYS_30 + 1]
BAD_LIMITS: list[Any] = [0, -1, 10_001, True, 1.5, "5", None]


def depths(hub: Hub) -> dict[str, dict[str, int]]:
    """``stats().depths`` without zero counts (an absent key means 0)."""
    found = {t: {k: n for k, n in d.items() if n} for t, d in hub.stats().depths.items()}
    return {target: counts for target, counts in found.items() if counts}


def holding(hub: Hub) -> Claim:
    """A message sent to the inbox of ``hub`` (as ``@tester``) and claimed by it."""
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    return claim


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


MESSAGE_TYPE = ("type", "message type")
EVENT_TYPE = ("event_type", "event type")
CAPABILITY = ("capabilities", "capability")
TYPED_CALLS: dict[str, tuple[Callable[[Hub, Any], Any], tuple[str, ...]]] = {
    # a call taking a type, and what names its parameter
    "send": (lambda h, k: h.send("@bob", k, {}), MESSAGE_TYPE),
    "publish": (lambda h, k: h.publish(k, {}), EVENT_TYPE),
    "subscribe": (lambda h, k: h.subscribe(k), EVENT_TYPE),
    "unsubscribe": (lambda h, k: h.unsubscribe(k), EVENT_TYPE),
    "register": (lambda h, k: h.register(capabilities=[k]), CAPABILITY),
}


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


@pytest.mark.spec("LIMIT-004", "LIMIT-005")
@pytest.mark.parametrize("seconds", BAD_SECONDS)
@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("timeout_seconds", lambda h, s, c: h.send("@bob", "w", {}, timeout_seconds=s)),
        ("expires_in", lambda h, s, c: h.send("@bob", "w", {}, expires_in=s)),
        ("timeout", lambda h, s, c: h.request("@bob", "w", {}, timeout=s)),
        ("ttl", lambda h, s, c: h.publish("e", {}, ttl=s)),
        ("ttl", lambda h, s, c: h.register(ttl=s)),
        ("seconds", lambda h, s, c: h.extend(c.id, c.token, s)),
    ],
    ids=[
        "timeout_seconds",
        "expires_in",
        "request-timeout",
        "publish-ttl",
        "register-ttl",
        "extend",
    ],
)
def test_a_bad_duration_raises_invalid_input_naming_the_parameter_and_changes_nothing(
    hub: Hub, name: str, call: Callable[[Hub, Any, Claim], Any], seconds: Any
) -> None:
    claim = holding(hub)
    before = depths(hub)
    with refused("invalid_input") as r:
        call(hub, seconds, claim)
    names(r.message, name, value=seconds)
    assert depths(hub) == before and hub.tail_events() == [] and hub.agents() == []
    assert hub.get(claim.id) == claim.message


@pytest.mark.spec("LIMIT-004")
@pytest.mark.parametrize("wait", BAD_WAITS)
@pytest.mark.parametrize(
    "call",
    [
        lambda h, w, m: h.claim(wait=w),
        pytest.param(lambda h, w, m: h.claim_many(wait=w), marks=BATCH, id="claim_many"),
        lambda h, w, m: h.events(wait=w),
        lambda h, w, m: h.wait_reply(m, timeout=w),
    ],
    ids=["claim", "claim_many", "events", "wait_reply"],
)
def test_a_bad_wait_raises_invalid_input(
    hub: Hub, call: Callable[[Hub, Any, str], Any], wait: Any
) -> None:
    sent = hub.send("@bob", "w", {})
    with refused("invalid_input") as r:
        call(hub, wait, sent.id)
    names(r.message, "wait", "timeout", value=wait)


@pytest.mark.spec("LIMIT-004")
def test_numbers_at_the_limits_are_accepted(hub: Hub) -> None:
    sent = hub.send(
        "@tester", "w", {}, timeout_seconds=DAYS_30, expires_in=DAYS_30, max_retries=100
    )
    assert (sent.timeout_seconds, sent.max_retries) == (DAYS_30, 100)
    assert hub.send("@bob", "w", {}, max_retries=0, timeout_seconds=0.001).max_retries == 0
    claim = hub.claim(wait=0)
    assert claim is not None and hub.extend(claim.id, claim.token, DAYS_30).id == claim.id
    assert hub.publish("e", {}, ttl=DAYS_30).event_type == "e"
    info = hub.register(process_id=2**31, max_concurrent=2**31, ttl=DAYS_30)
    assert (info.process_id, info.max_concurrent) == (2**31, 2**31)
    assert hub.heartbeat(load=2**31).current_load == 2**31
    assert hub.register(process_id=0, max_concurrent=0).max_concurrent == 0
    assert hub.fail(claim.id, claim.token, "r" * 4096).last_error == "r" * 4096
    assert [e.event_type for e in hub.tail_events(limit=10_000)] == ["e"]
    assert hub.tail_events(limit=1) == hub.tail_events(limit=10_000)
    assert hub.events(limit=10_000, wait=0) == hub.events(limit=1) == []
    assert [m.id for m in hub.dead_letters(limit=10_000)] == []


@pytest.mark.spec("LIMIT-004")
@pytest.mark.parametrize("retries", [-1, 101, 1.5, True, "3"])
def test_a_bad_max_retries_raises_invalid_input(hub: Hub, retries: Any) -> None:
    with refused("invalid_input") as r:
        hub.send("@bob", "work", {}, max_retries=retries)
    names(r.message, "max_retries", value=retries)


@pytest.mark.spec("LIMIT-004")
@pytest.mark.parametrize("size", BAD_LIMITS)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda h, n: h.claim_many(limit=n), marks=BATCH, id="claim_many"),
        lambda h, n: h.dead_letters(limit=n),
        lambda h, n: h.events(limit=n),
        lambda h, n: h.tail_events(limit=n),
    ],
    ids=["claim_many", "dead_letters", "events", "tail_events"],
)
def test_a_bad_limit_raises_invalid_input(
    hub: Hub, call: Callable[[Hub, Any], Any], size: Any
) -> None:
    with refused("invalid_input"):
        call(hub, size)


@pytest.mark.spec("LIMIT-004")
@BATCH
def test_empty_and_oversized_batches_are_refused(hub: Hub) -> None:
    for call in (
        lambda: hub.send_many([]),
        lambda: hub.complete_many([]),
        lambda: hub.send_many([Outgoing("@bob", "w", i) for i in range(10_001)]),
    ):
        with refused("invalid_input"):
            call()
    assert depths(hub) == {}


@pytest.mark.spec("LIMIT-004", "LEASE-003")
@pytest.mark.parametrize("token", ["", None, 5, "t" * 101])
@pytest.mark.parametrize(
    "call",
    [
        lambda h, m, t: h.complete(m, t),
        lambda h, m, t: h.extend(m, t),
        lambda h, m, t: h.fail(m, t, "why"),
        lambda h, m, t: h.release(m, t),
        lambda h, m, t: h.reply(m, t, {}),
    ],
    ids=["complete", "extend", "fail", "release", "reply"],
)
def test_a_bad_token_raises_invalid_input(
    hub: Hub, call: Callable[[Hub, str, Any], Any], token: Any
) -> None:
    claim = holding(hub)
    with refused("invalid_input") as r:
        call(hub, claim.id, token)
    names(r.message, "token", value=token)
    assert hub.get(claim.id) == claim.message
    with refused("stale_lease"):  # 100 characters is a well-formed token, just not this one
        hub.complete(claim.id, "t" * 100)


@pytest.mark.spec("LIMIT-004")
@pytest.mark.parametrize("message_id", ["", None, 5, "1" * 101])
@pytest.mark.parametrize(
    "call",
    [
        lambda h, m: h.get(m),
        lambda h, m: h.get_reply(m),
        lambda h, m: h.replay(m),
        lambda h, m: h.wait_reply(m, timeout=0),
        lambda h, m: h.complete(m, "token"),
    ],
    ids=["get", "get_reply", "replay", "wait_reply", "complete"],
)
def test_a_bad_message_id_raises_invalid_input(
    hub: Hub, call: Callable[[Hub, Any], Any], message_id: Any
) -> None:
    with refused("invalid_input"):
        call(hub, message_id)


@pytest.mark.spec("LIMIT-004", "LIMIT-005")
@pytest.mark.parametrize(
    ("name", "value", "bad"),
    [
        ("process_id", -1, -1),
        ("process_id", 2**31 + 1, 2**31 + 1),
        ("max_concurrent", 1.5, 1.5),
        ("max_concurrent", True, True),
        ("max_concurrent", -1, -1),
        ("capabilities", ["ok", "not ok"], "not ok"),
    ],
)
def test_bad_registry_values_raise_invalid_input_and_register_nothing(
    hub: Hub, name: str, value: Any, bad: Any
) -> None:
    with refused("invalid_input") as r:
        hub.register(**{name: value})
    names(r.message, name, *(CAPABILITY if name == "capabilities" else ()), value=bad)
    assert hub.agents() == []


@pytest.mark.spec("LIMIT-004", "LIMIT-005", "REQ-003")
@pytest.mark.parametrize(
    ("call", "name", "value"),
    [
        (lambda h, m, t: h.fail(m, t, "r" * 4097), "reason", "r" * 4097),
        (lambda h, m, t: h.fail(m, t, None), "reason", None),
        (lambda h, m, t: h.fail(m, t, "bad \ud800"), "reason", None),
        (lambda h, m, t: h.fail(m, t, "x", retry=None), "retry", None),
        (lambda h, m, t: h.reply(m, t, {}, status="ok"), "status", "ok"),
        (lambda h, m, t: h.heartbeat(load=-1), "load", -1),
        (lambda h, m, t: h.heartbeat(load=True), "load", True),
    ],
    ids=[
        "long-reason",
        "no-reason",
        "surrogate-reason",
        "null-retry",
        "reply-status",
        "load",
        "bool-load",
    ],
)
def test_bad_values_from_a_lease_holder_change_nothing(
    hub: Hub, call: Callable[[Hub, str, str], Any], name: str, value: Any
) -> None:
    info = hub.register()
    claim = holding(hub)
    with refused("invalid_input") as r:
        call(hub, claim.id, claim.token)
    names(r.message, name, value=value)
    assert hub.get(claim.id) == claim.message and hub.get_reply(claim.id) is None
    assert hub.agents()[0].current_load == info.current_load
    hub.complete(claim.id, claim.token)  # the handle and the lease are still good


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


# -- null: "left out" exactly where the default is none (SPEC, "Null and the defaults") --------
@pytest.mark.spec("LIMIT-004", "ENV-003")
def test_null_stands_for_an_argument_left_out_where_its_default_is_none(hub: Hub) -> None:
    sent = hub.send(
        "@tester",
        "w",
        None,
        timeout_seconds=None,
        max_retries=None,
        correlation_id=None,
        expires_in=None,
    )
    assert (
        sent.payload,
        sent.timeout_seconds,
        sent.max_retries,
        sent.correlation_id,
        sent.expires_at,
    ) == (None, 300, 3, None, None)
    claim = hub.claim(None)
    assert claim is not None and claim.id == sent.id
    assert hub.extend(claim.id, claim.token, None).lease_expires_at == pytest.approx(
        claim.lease_expires_at, abs=1
    )
    event = hub.publish("e", None, ttl=None)
    assert event.expires_at is None and hub.tail_events(after=None) == [event]
    info = hub.register(process_id=None, ttl=None)
    assert (info.process_id, info.heartbeat_ttl) == (None, 60)
    assert hub.heartbeat(load=None).current_load == 0
    assert hub.purge_dead(None) == 0


NULL: Any = None  # given explicitly, where the contract's type says it may not be
NULL_FOR_A_DEFAULT: dict[str, tuple[Callable[[Hub, Claim], Any], str]] = {
    "priority": (lambda h, c: h.send("@bob", "w", {}, priority=NULL), "priority"),
    "request-timeout": (lambda h, c: h.request("@bob", "w", {}, timeout=NULL), "timeout"),
    "wait_reply-timeout": (lambda h, c: h.wait_reply(c.id, timeout=NULL), "timeout"),
    "claim-wait": (lambda h, c: h.claim("jobs", wait=NULL), "wait"),
    "events-limit": (lambda h, c: h.events(limit=NULL), "limit"),
    "dead_letters-limit": (lambda h, c: h.dead_letters(limit=NULL), "limit"),
    "tail_events-limit": (lambda h, c: h.tail_events(limit=NULL), "limit"),
    "reply-status": (lambda h, c: h.reply(c.id, c.token, {}, status=NULL), "status"),
    "fail-retry": (lambda h, c: h.fail(c.id, c.token, "why", retry=NULL), "retry"),
    "register-capabilities": (lambda h, c: h.register(capabilities=NULL), "capabilities"),
    "register-max_concurrent": (lambda h, c: h.register(max_concurrent=NULL), "max_concurrent"),
    "agents-alive_only": (lambda h, c: h.agents(alive_only=NULL), "alive_only"),
}


@pytest.mark.spec("LIMIT-004", "LIMIT-005")
@pytest.mark.parametrize("case", NULL_FOR_A_DEFAULT)
def test_null_for_an_argument_with_a_default_is_refused_and_changes_nothing(
    hub: Hub, case: str
) -> None:
    call, name = NULL_FOR_A_DEFAULT[case]
    claim = holding(hub)
    with refused("invalid_input") as r:
        call(hub, claim)
    names(r.message, name, value=None)
    assert hub.get(claim.id) == claim.message and hub.agents() == []
    assert depths(hub) == {"@tester": {"processing": 1}}
