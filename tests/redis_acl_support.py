"""Redis hubs behind ACL users, for the tests of who may do what on them: the users'
URLs, raw clients, the server's ACL log, and the ``recipe`` server of
``agentcomm.redis.acl``.

Server tests run a private ``redis-server`` in their temporary directory; without the
binary they skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable

import pytest
import redis

from agentcomm import Hub, Status, connect
from agentcomm.redis.acl import OPERATOR_USER, acl_file_line, agent_acl, agent_user, operator_acl
from agentcomm_conformance.servers import RedisServer

PREFIX = "acme/{prod}:"  # every kind of character a prefix may hold
PASSWORDS = {
    "@alice": "alice-secret",
    "@bob": "bob-secret",
    "operator": "operator-secret",
    "admin": "admin-secret",
    "carol": "c@rol/pw:1%",
}  # carol's is URL-unfriendly


def hub_url(server: RedisServer, user: str | None = None, password: str | None = None) -> str:
    query = urllib.parse.urlencode({"prefix": PREFIX})
    return f"{server.url_for(user, password)}?{query}"


def agent_url(server: RedisServer, agent: str) -> str:
    """The hub as the agent's confined Redis user."""
    return hub_url(server, agent_user(agent), PASSWORDS[agent])


def operator_url(server: RedisServer) -> str:
    return hub_url(server, OPERATOR_USER, PASSWORDS["operator"])


def open_hub(opened: list[Hub], url: str, agent: str | None, *, create: bool = False) -> Hub:
    opened.append(connect(url, agent=agent, create=create))
    return opened[-1]


def admin_client(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url, decode_responses=True)


def as_alice(server: RedisServer) -> redis.Redis:
    """A raw redis-py client logged in with alice's confined credentials."""
    return redis.Redis.from_url(server.url_for(agent_user("@alice"), PASSWORDS["@alice"]))


def refusals(server: RedisServer) -> list[str]:
    """What the server's ACL log recorded as refused, as ``user: command or key``.

    Left out: ``CLIENT SETINFO``, which redis-py sends on connecting and whose refusal it
    ignores; the recipe cannot allow it, since Redis before 7.2 rejects its name in a rule.
    """
    with admin_client(server) as admin:
        entries = admin.execute_command("ACL", "LOG")
    return [f"{e['username']}: {e['object']}" for e in entries if e["object"] != "client|setinfo"]


def round_trip(hub: Hub) -> None:
    """Send to the own inbox, claim, complete: the message ends completed."""
    sent = hub.send(hub.agent_id or "", "ping", {"n": 1})
    claim = hub.claim()
    assert claim is not None and claim.id == sent.id
    hub.complete(claim.id, claim.token)
    assert hub.get(sent.id).status is Status.COMPLETED


@pytest.fixture
def recipe(start: Callable[..., RedisServer]) -> RedisServer:
    """A server whose ACL file holds alice's, bob's and the operator's users; the hub
    created by the operator."""
    lines = [
        acl_file_line(agent_acl(agent, PREFIX, PASSWORDS[agent])) for agent in ("@alice", "@bob")
    ]
    lines.append(acl_file_line(operator_acl(PREFIX, PASSWORDS["operator"])))
    server = start(password=PASSWORDS["admin"], acl_lines=lines)
    connect(operator_url(server), create=True).close()
    return server


def bury(hub: Hub) -> None:
    """Claim the next message of the own inbox and fail it for good."""
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, "malformed", retry=False)
