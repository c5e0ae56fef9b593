"""Every argument of every operation is checked for its type (SPEC LIMIT-005).

A value of the wrong type, as JSON can carry it (a number for an id, text for a count or
a flag, an object for a list), is refused with ``invalid_input`` naming the parameter (or
the spec's term for it, or quoting the value: LIMIT-005's rule), before any effect: never
another error, and never read as something else (an object's keys taken as the ids to
purge, ``"no"`` taken as true).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Outgoing
from agentcomm_conformance.expect import names, refused

Call = Callable[[Hub, Claim, Any], Any]
BATCH = pytest.mark.capability("batch")
CLAIM_NEXT = pytest.mark.capability("claim_next")

NUMBERS = ["1", [], {"n": 1}, True, None]  # for a number of seconds, a count, a limit
TEXT = [5, 1.5, [], {"s": "x"}, True, None]  # for an id, a name, a type, a token
FLAGS = ["no", "false", 0, 1, [], None]  # for true or false
LISTS = [5, "ab", {"1": 0}, True]  # for a list (of ids, messages, pairs, capabilities)


def cases(
    op: str,
    param: str,
    call: Call,
    bad: list[Any],
    *,
    term: str | None = None,
    marks: tuple[pytest.MarkDecorator, ...] = (),
) -> list[Any]:
    """One test per bad value.  The message may name the parameter as the Operations table
    writes it (``message_ids``, an item as ``items[0]``), in words (``message ids``), by the
    spec's ``term`` for it, or quote the value."""
    whole = param.partition("[")[0]
    named = tuple(dict.fromkeys([param, whole, whole.replace("_", " "), *filter(None, [term])]))
    return [
        pytest.param(call, value, named, marks=marks, id=f"{op}-{param}-{value!r}") for value in bad
    ]


CASES = [
    *cases("send", "to", lambda h, c, x: h.send(x, "w", {}), TEXT, term="target"),
    *cases("send", "type", lambda h, c, x: h.send("@bob", x, {}), TEXT),
    *cases(
        "send",
        "priority",
        lambda h, c, x: h.send("@bob", "w", {}, priority=x),
        [None, [], {"p": 1}, 1.5, True],
    ),
    *cases(
        "send",
        "timeout_seconds",
        lambda h, c, x: h.send("@bob", "w", {}, timeout_seconds=x),
        NUMBERS[:-1],
    ),
    *cases(
        "send",
        "max_retries",
        lambda h, c, x: h.send("@bob", "w", {}, max_retries=x),
        ["1", 1.5, True, []],
    ),
    *cases(
        "send",
        "correlation_id",
        lambda h, c, x: h.send("@bob", "w", {}, correlation_id=x),
        TEXT[:-1],
    ),
    *cases(
        "send", "expires_in", lambda h, c, x: h.send("@bob", "w", {}, expires_in=x), NUMBERS[:-1]
    ),
    *cases("send_many", "messages", lambda h, c, x: h.send_many(x), [*LISTS, None], marks=(BATCH,)),
    *cases(
        "send_many",
        "messages[0]",
        lambda h, c, x: h.send_many([x]),
        [5, "x", None, [1, 2]],
        marks=(BATCH,),
    ),
    *cases(
        "send_many",
        "messages[1]",
        lambda h, c, x: h.send_many([Outgoing("@bob", "w", {}), Outgoing(x, "w", {})]),
        [5, None],
        marks=(BATCH,),
    ),
    *cases(
        "request", "timeout", lambda h, c, x: h.request("@bob", "w", {}, timeout=x), NUMBERS[:-1]
    ),
    *cases("wait_reply", "request_id", lambda h, c, x: h.wait_reply(x, timeout=0), TEXT),
    *cases("wait_reply", "timeout", lambda h, c, x: h.wait_reply(c.id, timeout=x), NUMBERS[:-1]),
    *cases("get_reply", "request_id", lambda h, c, x: h.get_reply(x), TEXT),
    *cases("get", "message_id", lambda h, c, x: h.get(x), TEXT),
    *cases("claim", "source", lambda h, c, x: h.claim(x), TEXT[:-1], term="target"),
    *cases("claim", "wait", lambda h, c, x: h.claim(wait=x), NUMBERS[:-1]),
    *cases(
        "claim_many",
        "limit",
        lambda h, c, x: h.claim_many(limit=x),
        [*NUMBERS, 1.5],
        marks=(BATCH,),
    ),
    *cases("extend", "message_id", lambda h, c, x: h.extend(x, c.token), TEXT),
    *cases("extend", "token", lambda h, c, x: h.extend(c.id, x), TEXT),
    *cases("extend", "seconds", lambda h, c, x: h.extend(c.id, c.token, x), NUMBERS[:-1]),
    *cases("complete", "message_id", lambda h, c, x: h.complete(x, c.token), TEXT),
    *cases("complete", "token", lambda h, c, x: h.complete(c.id, x), TEXT),
    *cases(
        "complete",
        "claim_next",
        lambda h, c, x: h.complete(c.id, c.token, claim_next=x),
        ["yes", 1, []],
        marks=(CLAIM_NEXT,),
    ),
    *cases(
        "complete",
        "wait",
        lambda h, c, x: h.complete(c.id, c.token, wait=x),
        NUMBERS[:-1],
        marks=(CLAIM_NEXT,),
    ),
    *cases(
        "complete_many", "items", lambda h, c, x: h.complete_many(x), [*LISTS, None], marks=(BATCH,)
    ),
    *cases(
        "complete_many",
        "items[0]",
        lambda h, c, x: h.complete_many([x]),
        [5, "ab", [c_id := "1"], [c_id, "t", "x"], {"1": "t"}],
        marks=(BATCH,),
    ),
    *cases(
        "complete_many",
        "claim_next",
        lambda h, c, x: h.complete_many([(c.id, c.token)], claim_next=x),
        ["1", 1.5, True, []],
        marks=(BATCH, CLAIM_NEXT),
    ),
    *cases(
        "reply", "status", lambda h, c, x: h.reply(c.id, c.token, {}, status=x), [5, None, [], "ok"]
    ),
    *cases(
        "reply",
        "claim_next",
        lambda h, c, x: h.reply(c.id, c.token, {}, claim_next=x),
        ["yes", 1],
        marks=(CLAIM_NEXT,),
    ),
    *cases("fail", "reason", lambda h, c, x: h.fail(c.id, c.token, x), TEXT),
    *cases("fail", "retry", lambda h, c, x: h.fail(c.id, c.token, "why", retry=x), FLAGS),
    *cases(
        "release",
        "claim_next",
        lambda h, c, x: h.release(c.id, c.token, claim_next=x),
        ["yes", 1],
        marks=(CLAIM_NEXT,),
    ),
    *cases("dead_letters", "limit", lambda h, c, x: h.dead_letters(limit=x), [*NUMBERS, 1.5]),
    *cases("replay", "message_id", lambda h, c, x: h.replay(x), TEXT),
    *cases("purge_dead", "message_ids", lambda h, c, x: h.purge_dead(x), LISTS),
    *cases("purge_dead", "message_ids[0]", lambda h, c, x: h.purge_dead([x]), TEXT),
    *cases("publish", "event_type", lambda h, c, x: h.publish(x, {}), TEXT),
    *cases("publish", "ttl", lambda h, c, x: h.publish("e", {}, ttl=x), NUMBERS[:-1]),
    *cases("subscribe", "event_type", lambda h, c, x: h.subscribe(x), TEXT),
    *cases("unsubscribe", "event_type", lambda h, c, x: h.unsubscribe(x), TEXT),
    *cases("events", "limit", lambda h, c, x: h.events(limit=x), [*NUMBERS, 1.5]),
    *cases("events", "wait", lambda h, c, x: h.events(wait=x), NUMBERS[:-1]),
    *cases("tail_events", "after", lambda h, c, x: h.tail_events(after=x), TEXT[:-1]),
    *cases("tail_events", "limit", lambda h, c, x: h.tail_events(limit=x), NUMBERS),
    *cases("register", "capabilities", lambda h, c, x: h.register(capabilities=x), LISTS),
    *cases(
        "register",
        "capabilities[0]",
        lambda h, c, x: h.register(capabilities=[x]),
        TEXT,
        term="capability",
    ),
    *cases(
        "register", "process_id", lambda h, c, x: h.register(process_id=x), ["1", 1.5, True, []]
    ),
    *cases(
        "register", "max_concurrent", lambda h, c, x: h.register(max_concurrent=x), [*NUMBERS, 1.5]
    ),
    *cases("register", "ttl", lambda h, c, x: h.register(ttl=x), NUMBERS[:-1]),
    *cases("heartbeat", "load", lambda h, c, x: h.heartbeat(load=x), ["1", 1.5, True, []]),
    *cases("agents", "alive_only", lambda h, c, x: h.agents(alive_only=x), FLAGS),
]


def state(hub: Hub) -> Any:
    """What a refused call must leave as it was."""
    return (hub.stats(), hub.agents(), hub.tail_events(), hub.subscriptions())


@pytest.fixture
def held(agents: Callable[..., Hub]) -> tuple[Hub, Claim]:
    """The tester's handle, registered, holding a claim on a message from its inbox."""
    hub = agents("@tester")
    hub.register()
    hub.send("@tester", "w", {"n": 1})
    claim = hub.claim()
    assert claim is not None
    return hub, claim


@pytest.mark.spec("LIMIT-005")
@pytest.mark.parametrize(("call", "bad", "named"), CASES)
def test_an_argument_of_the_wrong_type_is_refused_naming_it_and_changes_nothing(
    held: tuple[Hub, Claim], call: Call, bad: Any, named: tuple[str, ...]
) -> None:
    hub, claim = held
    before = state(hub)
    with refused("invalid_input") as r:
        call(hub, claim, bad)
    names(r.message, *named, value=bad)
    assert state(hub) == before
    assert hub.get(claim.id).status.value == "processing"
