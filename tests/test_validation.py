"""Bad input is refused with InvalidInput naming the value, before any effect (SPEC LIMIT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, InvalidInput, NotFound, Priority

# (bad value, a fragment the error message must contain)
BAD_AGENT_IDS = [
    ("alice", "'alice'"),
    ("@", "'@'"),
    ("@a..b", "'@a..b'"),
    ("@a:b", "'@a:b'"),
    ("@.a", "'@.a'"),
    ("@a b", "'@a b'"),
    ("@" + "a" * 100, "101 characters"),
    ("@a'; DROP TABLE agent_messages; --", "DROP TABLE"),
    ("@a\n", r"'@a\n'"),
    ("", "''"),
    (42, "42"),
    (b"@a", "b'@a'"),
]
BAD_TARGETS = [*BAD_AGENT_IDS[1:], ("ANY AVAILABLE", "'ANY AVAILABLE'"), ("q:x", "'q:x'"),
               (".q", "'.q'"), ("q.", "'q.'"), ("q" * 101, "101 characters"), (None, "None")]
BAD_TYPES = [("", "''"), (".x", "'.x'"), ("-x", "'-x'"), ("a b", "'a b'"), ("a:b", "'a:b'"),
             ("it's", "it's"), (None, "None"), (7, "7")]
BAD_PRIORITIES: list[Any] = [5, "urgent", -1, "-1", True, 1.5, None, "3", "", "1.0",
                             "²"]
BAD_SECONDS: list[Any] = [0, -1, float("nan"), float("inf"), -float("inf"), "x", "10", True,
                          30 * 86_400 + 1, pytest.param(10**400, id="10**400")]
BAD_WAITS: list[Any] = [-1, -0.5, float("nan"), float("inf"), "x", True, 30 * 86_400 + 1]
BAD_MAX_RETRIES: list[Any] = [-1, 101, 1.5, True, "3"]
BAD_BATCH_SIZES: list[Any] = [0, -1, 10_001, True, 1.5, "5", None]
BAD_TOKENS: list[Any] = ["", None, 5, "t" * 101]
BAD_MESSAGE_IDS: list[Any] = ["", None, 5, "1" * 101]


@pytest.mark.parametrize(("agent", "named"), BAD_AGENT_IDS)
def test_opening_a_handle_as_a_bad_agent_id_raises_invalid_input(
        hubs: Callable[..., Hub], agent: Any, named: str) -> None:
    with pytest.raises(InvalidInput, match="agent id") as caught:
        hubs(agent)
    assert named in str(caught.value)


@pytest.mark.parametrize(("target", "named"), BAD_TARGETS)
def test_sending_to_a_bad_target_raises_invalid_input_and_sends_nothing(
        hub: Hub, target: Any, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        hub.send(target, "work", {})
    assert named in str(caught.value)
    assert hub.stats().counters.get("sent", 0) == 0


@pytest.mark.parametrize(("source", "named"), [t for t in BAD_TARGETS if t[0] is not None])
def test_claiming_from_a_bad_source_raises_invalid_input(hub: Hub, source: Any,
                                                         named: str) -> None:
    with pytest.raises(InvalidInput, match=r"target|agent id") as caught:
        hub.claim(source)
    assert named in str(caught.value)


@pytest.mark.parametrize(("kind", "named"), BAD_TYPES)
@pytest.mark.parametrize("call", [
    lambda h, k: h.send("@bob", k, {}),
    lambda h, k: h.publish(k, {}),
    lambda h, k: h.subscribe(k),
    lambda h, k: h.register(capabilities=[k]),
], ids=["send", "publish", "subscribe", "register"])
def test_a_bad_message_or_event_type_raises_invalid_input(
        hub: Hub, call: Callable[[Hub, Any], Any], kind: Any, named: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        call(hub, kind)
    assert named in str(caught.value)


def test_a_message_type_has_at_most_50_characters_and_an_event_type_100(hub: Hub) -> None:
    hub.send("@bob", "t" * 50, {})
    hub.register(capabilities=["c" * 50])
    hub.subscribe("e" * 100)
    for call in (lambda: hub.send("@bob", "t" * 51, {}),
                 lambda: hub.register(capabilities=["c" * 51]),
                 lambda: hub.subscribe("e" * 101), lambda: hub.publish("e" * 101, {})):
        with pytest.raises(InvalidInput, match=r"(51|101) characters"):
            call()


@pytest.mark.parametrize("timeout", [0, None])
def test_request_with_a_bad_timeout_names_timeout_and_sends_nothing(hub: Hub,
                                                                    timeout: Any) -> None:
    with pytest.raises(InvalidInput, match=r"^timeout"):
        hub.request("@bob", "w", {}, timeout=timeout)
    assert hub.stats().counters.get("sent", 0) == 0


@pytest.mark.parametrize(("given", "level"), [
    ("high", Priority.HIGH), ("HIGH", Priority.HIGH), (" Low ", Priority.LOW), (2, Priority.HIGH),
    ("0", Priority.LOW), (1, Priority.NORMAL), (Priority.LOW, Priority.LOW),
])
def test_priorities_are_accepted_by_name_or_number(hub: Hub, given: Any,
                                                   level: Priority) -> None:
    sent = hub.send("@bob", "work", {}, priority=given)
    assert sent.priority is level
    assert hub.get(sent.id).priority is level


@pytest.mark.parametrize("priority", BAD_PRIORITIES)
def test_a_bad_priority_raises_invalid_input_naming_it(hub: Hub, priority: Any) -> None:
    with pytest.raises(InvalidInput, match="priority") as caught:
        hub.send("@bob", "work", {}, priority=priority)
    assert str(priority).strip() in str(caught.value)


@pytest.mark.parametrize("seconds", BAD_SECONDS)
@pytest.mark.parametrize(("name", "call"), [
    ("timeout_seconds", lambda h, s: h.send("@bob", "w", {}, timeout_seconds=s)),
    ("expires_in", lambda h, s: h.send("@bob", "w", {}, expires_in=s)),
    ("ttl", lambda h, s: h.publish("e", {}, ttl=s)),
    ("ttl", lambda h, s: h.register(ttl=s)),
    ("seconds", lambda h, s: h.extend("1", "token", s)),
], ids=["timeout_seconds", "expires_in", "publish-ttl", "register-ttl", "extend"])
def test_a_bad_duration_raises_invalid_input_naming_the_parameter(
        hub: Hub, name: str, call: Callable[[Hub, Any], Any], seconds: Any) -> None:
    with pytest.raises(InvalidInput, match=name):
        call(hub, seconds)
    assert hub.stats().counters.get("sent", 0) == 0


@pytest.mark.parametrize("wait", BAD_WAITS)
@pytest.mark.parametrize("call", [
    lambda h, w: h.claim(wait=w),
    lambda h, w: h.events(wait=w),
    lambda h, w: h.wait_reply("1", timeout=w),
], ids=["claim", "events", "wait_reply"])
def test_a_bad_wait_raises_invalid_input(hub: Hub, call: Callable[[Hub, Any], Any],
                                         wait: Any) -> None:
    hub.send("@bob", "w", {})
    with pytest.raises(InvalidInput, match=r"wait|timeout"):
        call(hub, wait)


def test_durations_at_the_limits_are_accepted(hub: Hub) -> None:
    sent = hub.send("@bob", "w", {}, timeout_seconds=30 * 86_400, expires_in=0.001,
                    max_retries=100)
    assert (sent.timeout_seconds, sent.max_retries) == (30 * 86_400, 100)
    assert hub.send("@bob", "w", {}, max_retries=0).max_retries == 0
    assert hub.claim(wait=0) is None


@pytest.mark.parametrize("retries", BAD_MAX_RETRIES)
def test_a_bad_max_retries_raises_invalid_input(hub: Hub, retries: Any) -> None:
    with pytest.raises(InvalidInput, match="max_retries"):
        hub.send("@bob", "work", {}, max_retries=retries)


@pytest.mark.parametrize("size", BAD_BATCH_SIZES)
@pytest.mark.parametrize("call", [
    lambda h, n: h.claim_many(limit=n),
    lambda h, n: h.dead_letters(limit=n),
    lambda h, n: h.events(limit=n),
    lambda h, n: h.tail_events(limit=n),
], ids=["claim_many", "dead_letters", "events", "tail_events"])
def test_a_bad_batch_size_raises_invalid_input(hub: Hub, call: Callable[[Hub, Any], Any],
                                               size: Any) -> None:
    with pytest.raises(InvalidInput, match="batch size"):
        call(hub, size)


def test_empty_batches_are_refused(hub: Hub) -> None:
    with pytest.raises(InvalidInput, match="batch size 0"):
        hub.send_many([])
    with pytest.raises(InvalidInput, match="batch size 0"):
        hub.complete_many([])


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_a_bad_token_raises_invalid_input(hub: Hub, token: Any) -> None:
    sent = hub.send("@tester", "w", {})
    with pytest.raises(InvalidInput, match="token"):
        hub.complete(sent.id, token)


@pytest.mark.parametrize("message_id", BAD_MESSAGE_IDS)
def test_a_bad_message_id_raises_invalid_input(hub: Hub, message_id: Any) -> None:
    with pytest.raises(InvalidInput, match="message id"):
        hub.get(message_id)


@pytest.mark.parametrize("message_id", [
    "abc", "0", "-1", "1.0", " 1", "1 ",
    pytest.param("9" * 30, id="30-nines"),
    "²",
    "\u0661",  # ARABIC-INDIC DIGIT ONE
])
def test_a_well_formed_id_that_names_no_message_raises_not_found(hub: Hub,
                                                                 message_id: str) -> None:
    hub.send("@tester", "w", {})
    with pytest.raises(NotFound):
        hub.get(message_id)


@pytest.mark.parametrize(("kwargs", "named"), [
    ({"process_id": -1}, "process_id"), ({"process_id": 2**31 + 1}, "process_id"),
    ({"max_concurrent": 1.5}, "max_concurrent"), ({"max_concurrent": True}, "max_concurrent"),
    ({"capabilities": ["ok", "not ok"]}, "'not ok'"),
])
def test_bad_registry_values_raise_invalid_input(hub: Hub, kwargs: dict[str, Any],
                                                 named: str) -> None:
    with pytest.raises(InvalidInput, match=named):
        hub.register(**kwargs)
    assert hub.agents() == []


@pytest.mark.parametrize(("call", "named"), [
    (lambda h, m, t: h.fail(m, t, "r" * 4097), "4097"),
    (lambda h, m, t: h.fail(m, t, None), "reason"),
    (lambda h, m, t: h.fail(m, t, "bad \ud800"), "reason"),
    (lambda h, m, t: h.reply(m, t, {}, status="ok"), "'ok'"),
    (lambda h, m, t: h.heartbeat(load=-1), "load"),
], ids=["long-reason", "no-reason", "surrogate-reason", "reply-status", "load"])
def test_bad_values_from_a_lease_holder_change_nothing(
        hub: Hub, call: Callable[[Hub, str, str], Any], named: str) -> None:
    hub.register()
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    with pytest.raises(InvalidInput, match=named):
        call(hub, claim.id, claim.token)
    assert hub.get(claim.id) == claim.message
    hub.complete(claim.id, claim.token)


@pytest.mark.parametrize("correlation_id", ["", "has space", "a:b", "it's", "c" * 101])
def test_a_bad_correlation_id_raises_invalid_input(hub: Hub, correlation_id: str) -> None:
    with pytest.raises(InvalidInput, match="correlation id"):
        hub.send("@bob", "w", {}, correlation_id=correlation_id)


def test_purge_dead_refuses_a_bare_string_of_ids(hub: Hub) -> None:
    for _ in range(2):
        hub.send("@tester", "w", {})
        claim = hub.claim()
        assert claim is not None
        hub.fail(claim.id, claim.token, "x", retry=False)
    with pytest.raises(InvalidInput):
        hub.purge_dead("12")
