"""Numbers, lengths and null out of bounds are refused with invalid_input naming them,
before any effect (SPEC LIMIT-004, LIMIT-005); the values tried are in ``limit_cases.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Outgoing
from agentcomm_conformance.expect import depths, names, refused
from agentcomm_conformance.suite.limit_cases import (
    BAD_LIMITS,
    BAD_SECONDS,
    BAD_WAITS,
    CAPABILITY,
    DAYS_30,
    NULL_FOR_A_DEFAULT,
    holding,
)

BATCH = pytest.mark.capability("batch")


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
