"""The values the limit tests (``test_limits.py``, ``test_limits_numeric.py``) try, and the
two helpers both use.  A data module: its name does not start with ``test_``, so pytest
does not collect it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub

MIB = 1024 * 1024
DAYS_30 = 30 * 86_400

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


def holding(hub: Hub) -> Claim:
    """A message sent to the inbox of ``hub`` (as ``@tester``) and claimed by it."""
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    return claim


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
