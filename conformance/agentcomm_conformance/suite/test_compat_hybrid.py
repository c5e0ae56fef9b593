"""The hybrid hub: Redis in real time, a SQLite audit trail of everything (COMPAT-009/010).

Both tests run only against a ``hybrid`` hub, reached through its locator URL
(``hybrid://host:port/db?prefix=P&audit=/path/audit.db``, SPEC COMPAT-009).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub, Status
from agentcomm_conformance.plugin import HubSession


def locator_option(hub_session: HubSession, name: str) -> str:
    parts = urllib.parse.urlsplit(hub_session.locator)
    found = dict(urllib.parse.parse_qsl(parts.query)).get(name)
    if parts.scheme != "hybrid" or not found:
        pytest.skip(f"the locator names no {name!r} option (SPEC COMPAT-009)")
    return found


def redis_keys(hub_session: HubSession) -> set[bytes]:
    redis = pytest.importorskip("redis", reason="redis-py reads the hybrid hub's Redis")
    prefix = urllib.parse.parse_qs(urllib.parse.urlsplit(hub_session.locator).query).get(
        "prefix", [""]
    )[0]
    url = urllib.parse.urlsplit(hub_session.locator)._replace(scheme="redis", query="")
    with redis.Redis.from_url(urllib.parse.urlunsplit(url)) as client:
        return set(client.scan_iter(match=f"{prefix}*", count=1000))


@pytest.mark.spec("COMPAT-009")
def test_a_hybrid_hub_holds_every_accepted_message_in_redis(
    agents: Callable[..., Hub], hub_session: HubSession
) -> None:
    locator_option(hub_session, "audit")
    before = redis_keys(hub_session)
    agents("@backend.nodejs").send("@service.auth", "validate_token", {"token": "abc"})
    assert redis_keys(hub_session) - before, "nothing new in Redis after a send"


@pytest.mark.spec("COMPAT-010")
def test_every_message_reply_event_and_agent_is_audited_before_the_call_returns(
    agents: Callable[..., Hub], hub_session: HubSession
) -> None:
    audit = locator_option(hub_session, "audit")
    asker, worker = agents("@backend.nodejs"), agents("@service.auth")
    worker.register(capabilities=["validate_token"])
    asker.send("@service.auth", "validate_token", {"token": "abc"}, correlation_id="req_audit")
    claim = worker.claim()
    assert claim is not None
    worker.reply(claim.id, claim.token, {"valid": True})
    asker.publish("user_login", {"user_id": "123"})
    with sqlite3.connect(f"file:{urllib.parse.quote(audit)}?mode=ro", uri=True) as db:
        message = one(
            db,
            "SELECT status, from_agent, to_agent, payload FROM agent_messages"
            " WHERE correlation_id = 'req_audit'",
        )
        reply = one(
            db, "SELECT response_payload FROM agent_responses WHERE from_agent = '@service.auth'"
        )
        event = one(
            db, "SELECT publisher, payload FROM agent_events WHERE event_type = 'user_login'"
        )
        agent = one(db, "SELECT status FROM agent_registry WHERE agent_id = '@service.auth'")
    assert message[:3] == (Status.COMPLETED.value, "@backend.nodejs", "@service.auth")
    assert json.loads(message[3]) == {"token": "abc"}
    assert json.loads(reply[0]) == {"valid": True}
    assert (event[0], json.loads(event[1])) == ("@backend.nodejs", {"user_id": "123"})
    assert agent == ("active",)


def one(db: sqlite3.Connection, sql: str) -> tuple[Any, ...]:
    rows = db.execute(sql).fetchall()
    assert len(rows) == 1, f"expected one audit row for: {sql} (found {len(rows)})"
    return tuple(rows[0])
