"""The rules of the ACL recipe (``agentcomm.redis.acl``) and the ``agentcomm redis-acl``
command that prints them.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Callable

import pytest
from redis.exceptions import ResponseError

from agentcomm import ConfigurationError, Hub, InvalidInput, connect
from agentcomm.redis.acl import OPERATOR_USER, agent_acl, agent_user, operator_acl
from agentcomm_conformance.servers import RedisServer
from cli_runner import invoke
from redis_acl_support import PASSWORDS, PREFIX, admin_client, hub_url, open_hub, round_trip

# -- the command line ---------------------------------------------------------------------


def printed_line(*args: str, env: dict[str, str] | None = None) -> str:
    result = invoke(["redis-acl", *args], env=env)
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    return line


@pytest.mark.redis
def test_the_printed_acl_setuser_line_creates_a_user_that_works_as_its_agent(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    server = start(password=PASSWORDS["admin"])
    connect(hub_url(server, password=PASSWORDS["admin"]), create=True).close()
    line = printed_line(
        "@carol", "--prefix", PREFIX, "--password-env", "CAROL_PW", env={"CAROL_PW": "carol-secret"}
    )
    assert "carol-secret" not in line
    with admin_client(server) as admin:
        assert admin.execute_command(*line.split()) == "OK"  # as redis-cli splits it
    round_trip(open_hub(opened, hub_url(server, "agent.carol", "carol-secret"), "@carol"))


@pytest.mark.redis
def test_a_printed_line_without_a_password_is_refused_by_redis_rather_than_guessable(
    start: Callable[..., RedisServer],
) -> None:
    server = start()
    line = printed_line("--operator", "--prefix", PREFIX)
    with admin_client(server) as admin, pytest.raises(ResponseError, match="password"):
        admin.execute_command(*line.split())


def test_the_operator_line_takes_its_prefix_from_the_url() -> None:
    url = f"redis://127.0.0.1:1/0?{urllib.parse.urlencode({'prefix': PREFIX})}"
    line = printed_line("--operator", "--format", "file", env={"AGENTCOMM_URL": url})
    assert line.startswith(f"user {OPERATOR_USER} reset on ")
    assert f"~{PREFIX}*" in line.split()


# -- the rules themselves -----------------------------------------------------------------


def test_an_agents_redis_user_is_named_after_its_id() -> None:
    assert agent_user("@service.auth") == "agent.service.auth"
    assert agent_acl("@service.auth")[0] == "agent.service.auth"


def test_the_password_is_written_only_as_its_sha256() -> None:
    tokens = agent_acl("@alice", PREFIX, "alice-secret")
    assert "#" + hashlib.sha256(b"alice-secret").hexdigest() in tokens
    assert not any("alice-secret" in token for token in tokens)


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: agent_acl("alice"), InvalidInput),
        (lambda: agent_acl("@a*"), InvalidInput),
        (lambda: agent_acl("@alice", "acme*"), ConfigurationError),
        (lambda: agent_acl("@alice", "acme :"), ConfigurationError),
        (lambda: agent_acl("@alice", user="agent alice"), InvalidInput),
        (lambda: agent_acl("@alice", password=""), InvalidInput),
        (lambda: operator_acl("acme[a]:"), ConfigurationError),
    ],
    ids=[
        "no-at",
        "glob-id",
        "glob-prefix",
        "space-prefix",
        "space-user",
        "empty-password",
        "bracket-prefix",
    ],
)
def test_rules_are_refused_for_a_value_that_could_widen_or_break_them(
    make: Callable[[], list[str]], error: type[Exception]
) -> None:
    with pytest.raises(error):
        make()
