"""The reference's error classes, and no sqlite3 exception escaping a closed hub (SPEC ERR-001).

Error codes, definite flags and identity checks every hub shares are in the conformance
suite (conformance/agentcomm_conformance/suite/test_errors.py)."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import pytest

import agentcomm
from agentcomm import (
    AgentCommError,
    AlreadyFinished,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    CorruptStore,
    DeadlineExceeded,
    Hub,
    InvalidInput,
    NotFound,
    Outgoing,
    StaleLease,
)

# class: (code, definite, parent)
TREE: dict[type[AgentCommError], tuple[str, bool, type[Exception]]] = {
    ConfigurationError: ("configuration", True, AgentCommError),
    InvalidInput: ("invalid_input", True, AgentCommError),
    NotFound: ("not_found", True, AgentCommError),
    Conflict: ("conflict", True, AgentCommError),
    StaleLease: ("stale_lease", True, Conflict),
    AlreadyFinished: ("already_finished", True, Conflict),
    DeadlineExceeded: ("deadline_exceeded", False, AgentCommError),
    BackendUnavailable: ("backend_unavailable", False, AgentCommError),
    CorruptStore: ("corrupt_store", True, BackendUnavailable),
}

Call = Callable[[Hub, str, str], Any]

# Every public operation of a hub, as a call on (hub, message id, token).
OPERATIONS: dict[str, Call] = {
    "send": lambda h, m, t: h.send("@bob", "w", {}),
    "send_many": lambda h, m, t: h.send_many([Outgoing("@bob", "w", {})]),
    "request": lambda h, m, t: h.request("@bob", "w", {}, timeout=1),
    "wait_reply": lambda h, m, t: h.wait_reply(m, timeout=0),
    "get_reply": lambda h, m, t: h.get_reply(m),
    "get": lambda h, m, t: h.get(m),
    "claim": lambda h, m, t: h.claim(),
    "claim_many": lambda h, m, t: h.claim_many("jobs"),
    "extend": lambda h, m, t: h.extend(m, t),
    "complete": lambda h, m, t: h.complete(m, t),
    "complete_many": lambda h, m, t: h.complete_many([(m, t)]),
    "reply": lambda h, m, t: h.reply(m, t, {}),
    "fail": lambda h, m, t: h.fail(m, t, "why"),
    "release": lambda h, m, t: h.release(m, t),
    "dead_letters": lambda h, m, t: h.dead_letters(),
    "replay": lambda h, m, t: h.replay(m),
    "purge_dead": lambda h, m, t: h.purge_dead(),
    "publish": lambda h, m, t: h.publish("e", {}),
    "subscribe": lambda h, m, t: h.subscribe("e"),
    "unsubscribe": lambda h, m, t: h.unsubscribe("e"),
    "subscriptions": lambda h, m, t: h.subscriptions(),
    "events": lambda h, m, t: h.events(),
    "tail_events": lambda h, m, t: h.tail_events(),
    "register": lambda h, m, t: h.register(),
    "heartbeat": lambda h, m, t: h.heartbeat(),
    "deregister": lambda h, m, t: h.deregister(),
    "agents": lambda h, m, t: h.agents(),
    "sweep": lambda h, m, t: h.sweep(),
    "prune": lambda h, m, t: h.prune(),
    "stats": lambda h, m, t: h.stats(),
}


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_every_error_is_an_agentcomm_error_with_its_code_and_definite_flag(
    cls: type[AgentCommError],
) -> None:
    code, definite, parent = TREE[cls]
    assert issubclass(cls, parent)
    assert issubclass(cls, AgentCommError)
    error = cls("something went wrong")
    assert (error.code, error.definite, str(error)) == (code, definite, "something went wrong")


def test_every_error_class_of_the_package_is_in_the_tree() -> None:
    exported = {getattr(agentcomm, n) for n in agentcomm.__all__}
    errors = {e for e in exported if isinstance(e, type) and issubclass(e, BaseException)}
    assert errors == {AgentCommError, *TREE}
    assert len({c.code for c in TREE}) == len(TREE)


def test_invalid_input_is_a_value_error_and_not_found_a_lookup_error() -> None:
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(NotFound, LookupError)


def test_no_error_shadows_a_builtin_name() -> None:
    assert not {c.__name__ for c in TREE} & set(dir(builtins))


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_definite_can_be_set_per_error(cls: type[AgentCommError]) -> None:
    assert cls("x", definite=False).definite is False
    assert cls("x", definite=True).definite is True
    assert cls.definite is TREE[cls][1]


def closed_hub(hubs: Callable[..., Hub]) -> tuple[Hub, str, str]:
    """A hub handle closed while it held a lease; returns it, the message id and the token."""
    hub = hubs("@bob")
    hub.register()
    hub.send("@bob", "w", {})
    claim = hub.claim()
    assert claim is not None
    hub.close()
    return hub, claim.id, claim.token


@pytest.mark.parametrize("call", [pytest.param(c, id=n) for n, c in OPERATIONS.items()])
def test_every_call_on_a_closed_hub_raises_backend_unavailable(
    hubs: Callable[..., Hub], call: Call
) -> None:
    hub, message_id, token = closed_hub(hubs)
    with pytest.raises(BackendUnavailable) as caught:
        call(hub, message_id, token)
    assert caught.value.__cause__ is not None


def test_closing_a_hub_twice_is_harmless(hubs: Callable[..., Hub]) -> None:
    hub, _, _ = closed_hub(hubs)
    hub.close()


def test_a_hub_used_as_a_context_manager_is_closed_on_exit(hubs: Callable[..., Hub]) -> None:
    with hubs("@bob") as hub:
        hub.send("@bob", "w", {})
    with pytest.raises(BackendUnavailable):
        hub.stats()


def test_a_request_whose_wait_failed_says_it_may_have_taken_effect(
    hubs: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait alone changed nothing (a definite failure), but the request was sent."""
    asker = hubs("@alice")

    def broken_wait(request_id: str, *, timeout: float) -> None:
        raise BackendUnavailable("the read failed", definite=True)

    monkeypatch.setattr(asker, "wait_reply", broken_wait)
    with pytest.raises(BackendUnavailable) as failed:
        asker.request("@bob", "ask", {}, timeout=1)
    assert failed.value.definite is False
    (sent,) = hubs("@bob").claim_many(limit=2)
    assert sent.message.type == "ask"
