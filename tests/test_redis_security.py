"""Who may do what on a Redis hub: ACL users in the URL, TLS, and the ACL recipe of
``agentcomm.redis.acl`` (``agentcomm redis-acl``) that confines each agent to its keys.

Server tests run a private ``redis-server`` in their temporary directory; without the
binary they skip, except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import urllib.parse
from collections.abc import Callable

import pytest
import redis
from click.testing import CliRunner
from redis.exceptions import NoPermissionError, ResponseError

from agentcomm import (
    DEFAULT_QUEUE,
    BackendUnavailable,
    Claim,
    ConfigurationError,
    DeadlineExceeded,
    Hub,
    InvalidInput,
    ManualClock,
    StaleLease,
    Status,
    connect,
)
from agentcomm.agent import AgentConfig, AgentRunner, StopFlag
from agentcomm.cli import cli
from agentcomm.redis.acl import (
    OPERATOR_USER,
    acl_file_line,
    agent_acl,
    agent_user,
    operator_acl,
)
from agentcomm.urls import redact
from agentcomm_conformance.servers import RedisServer, require_openssl
from support import until

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


# -- credentials and TLS ------------------------------------------------------------------


@pytest.mark.redis
def test_a_url_naming_an_acl_user_and_its_password_sends_claims_and_completes(
    start: Callable[..., RedisServer], opened: list[Hub]
) -> None:
    carol = PASSWORDS["carol"]  # url_for percent-encodes it
    server = start(password=PASSWORDS["admin"], acl_lines=[f"user carol on >{carol} ~* &* +@all"])
    round_trip(open_hub(opened, hub_url(server, "carol", carol), "@carol", create=True))


@pytest.fixture
def tls_server(start: Callable[..., RedisServer]) -> RedisServer:
    require_openssl()
    return start(tls=True)


@pytest.mark.redis
def test_a_rediss_url_trusting_the_servers_ca_sends_claims_and_completes(
    tls_server: RedisServer, opened: list[Hub]
) -> None:
    assert tls_server.ca_file is not None
    ca = urllib.parse.quote(str(tls_server.ca_file))
    round_trip(open_hub(opened, f"{tls_server.url}?ssl_ca_certs={ca}", "@carol", create=True))


@pytest.mark.redis
def test_a_plain_redis_url_to_a_tls_port_is_backend_unavailable_naming_the_url(
    tls_server: RedisServer,
) -> None:
    url = tls_server.url.replace("rediss://", "redis://", 1) + "?reconnect_attempts=1"
    with pytest.raises(BackendUnavailable) as refused:
        connect(url, create=True)
    assert redact(url) in str(refused.value)


# -- the ACL recipe -----------------------------------------------------------------------


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


@pytest.mark.redis
def test_agents_confined_by_the_recipe_still_send_claim_reply_and_wait(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    request = alice.send("@bob", "validate_token", {"token": "abc123"}, correlation_id="c1")
    task = alice.send("reports", "summarize", {"day": 1})
    with pytest.raises(DeadlineExceeded):  # a blocking wait on her own reply list
        alice.wait_reply(request.id, timeout=0.2)
    claim = bob.claim(wait=1.0)
    assert claim is not None and claim.id == request.id
    bob.extend(claim.id, claim.token)
    bob.release(claim.id, claim.token)
    claim = bob.claim(wait=1.0)
    assert claim is not None
    bob.reply(claim.id, claim.token, {"valid": True})
    assert alice.wait_reply(request.id, timeout=5.0).payload == {"valid": True}
    queued = bob.claim("reports", wait=1.0)
    assert queued is not None and queued.id == task.id
    assert bob.fail(queued.id, queued.token, "try later").status is Status.PENDING  # retried
    assert bob.claim(wait=0.1) is None  # a blocking wait on his own inbox
    assert refusals(recipe) == []


@pytest.mark.redis
def test_a_confined_agent_waiting_on_its_inbox_is_woken_by_a_send_from_another(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    # Alice may not claim bob's inbox on his behalf (serve_waiters): she wakes him instead.
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    admin = admin_client(recipe)
    got: list[Claim | None] = []
    waiter = threading.Thread(target=lambda: got.append(bob.claim(wait=10.0)))
    waiter.start()
    until(lambda: admin.llen(f"{PREFIX}waiters:@bob") > 0)
    sent = alice.send("@bob", "ping", {})
    waiter.join(timeout=10)
    assert [c.id for c in got if c is not None] == [sent.id]
    assert refusals(recipe) == []


@pytest.mark.redis
def test_agents_confined_by_the_recipe_send_to_inboxes_and_queues_at_every_priority(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    for target in ("@bob", DEFAULT_QUEUE):
        sent = [alice.send(target, "work", {}, priority=p).id for p in ("low", "normal", "high")]
        source = None if target == "@bob" else target
        claimed = [claim.id for claim in bob.claim_many(source, limit=3)]
        assert claimed == sent[::-1]  # strictly highest priority first
    assert refusals(recipe) == []


@pytest.mark.redis
def test_agents_confined_by_the_recipe_still_register_heartbeat_and_share_events(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    for hub in (alice, bob):
        hub.register(capabilities=["validate_token"])
        hub.heartbeat(load=1)
        hub.subscribe("deploy")
    alice.publish("deploy", {"by": "alice"})
    bob.publish("deploy", {"by": "bob"})
    for hub in (alice, bob):
        assert [e.payload["by"] for e in hub.events(wait=1.0)] == ["alice", "bob"]
        assert hub.events(wait=0.1) == []  # a blocking wait on the streams
    assert [e.publisher for e in alice.tail_events()] == ["@alice", "@bob"]
    assert [a.agent_id for a in alice.agents(alive_only=True)] == ["@alice", "@bob"]
    assert alice.stats().agents_alive == 2
    bob.unsubscribe("deploy")
    bob.deregister()
    assert [a.agent_id for a in alice.agents(alive_only=True)] == ["@alice"]
    assert refusals(recipe) == []


def bury(hub: Hub) -> None:
    """Claim the next message of the own inbox and fail it for good."""
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, "malformed", retry=False)


@pytest.mark.redis
def test_the_operator_user_sweeps_purges_reports_and_handles_dead_letters(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    operator = open_hub(opened, operator_url(recipe), None)
    sent = alice.send("@bob", "validate_token", {})
    bury(bob)
    assert [m.id for m in operator.dead_letters()] == [sent.id]
    assert operator.replay(sent.id).status is Status.PENDING  # back in bob's inbox
    bury(bob)
    assert operator.purge_dead([sent.id]) == 1
    assert operator.dead_letters() == []
    held = alice.send("@bob", "validate_token", {}, timeout_seconds=0.1)
    assert bob.claim() is not None
    until(operator.sweep)  # settles bob's lapsed lease
    assert operator.get(held.id).last_error == "lease expired"
    assert operator.prune() == {"messages": 0, "replies": 0, "events": 0, "agents": 0}
    assert operator.stats().counters["dead"] == 2
    assert refusals(recipe) == []


BOBS_PRIVATE_KEYS = [
    ("RPOP", "agent:@bob:inbox"),
    ("DEL", "agent:@bob:inbox"),
    ("LTRIM", "agent:@bob:urgent", "0", "0"),
    ("SET", "agent:@bob:heartbeat", "{}"),
    ("HSET", "agent:@bob:registry", "status", "active"),
    ("HSET", "agent:@bob:subscriptions", "deploy", "0"),
    ("LRANGE", "response:@bob:1", "0", "-1"),
    ("ZREM", "processing:@bob", "1"),
]


@pytest.mark.redis
@pytest.mark.parametrize("command", BOBS_PRIVATE_KEYS, ids=" ".join)
def test_alices_credentials_cannot_touch_bobs_private_keys(
    recipe: RedisServer, command: tuple[str, ...]
) -> None:
    name, key, *rest = command
    with as_alice(recipe) as raw, pytest.raises(NoPermissionError):
        raw.execute_command(name, PREFIX + key, *rest)


@pytest.mark.redis
@pytest.mark.parametrize(
    "command",
    [
        ("KEYS", "*"),
        ("FLUSHDB",),
        ("CONFIG", "GET", "*"),
        ("SCRIPT", "FLUSH"),
        ("EVAL", "return 1", "0"),
    ],
    ids=" ".join,
)
def test_alices_credentials_run_no_admin_or_dangerous_command(
    recipe: RedisServer, command: tuple[str, ...]
) -> None:
    with as_alice(recipe) as raw, pytest.raises(NoPermissionError):
        raw.execute_command(*command)


@pytest.mark.redis
def test_a_handle_opened_as_bob_with_alices_credentials_is_refused_and_changes_nothing(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    for n in range(2):
        alice.send("@bob", "validate_token", {"n": n})
    impostor = open_hub(opened, agent_url(recipe, "@alice"), "@bob")
    with pytest.raises(ConfigurationError):
        impostor.register()
    with pytest.raises(ConfigurationError):
        impostor.claim()
    with admin_client(recipe) as admin:
        assert admin.llen(f"{PREFIX}agent:@bob:inbox") == 2
        assert admin.exists(f"{PREFIX}agent:@bob:registry") == 0


@pytest.mark.redis
def test_a_message_sent_through_a_handle_opened_as_alice_is_from_alice(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    sent = alice.send("@bob", "validate_token", {})
    assert bob.get(sent.id).from_agent == "@alice"


# -- another agent's messages ------------------------------------------------------------

FINISHING: dict[str, Callable[[Hub, str, str], object]] = {
    "complete": lambda h, m, t: h.complete(m, t),
    "reply": lambda h, m, t: h.reply(m, t, {"forged": True}),
    "fail": lambda h, m, t: h.fail(m, t, "taken over", retry=False),
    "release": lambda h, m, t: h.release(m, t),
    "extend": lambda h, m, t: h.extend(m, t, 3600),
}


@pytest.mark.redis
@pytest.mark.parametrize("finish", FINISHING.values(), ids=FINISHING)
def test_a_confined_agent_cannot_finish_a_claim_of_another_agents_inbox_nor_change_it(
    recipe: RedisServer, opened: list[Hub], finish: Callable[[Hub, str, str], object]
) -> None:
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    sent = alice.send("@bob", "validate_token", {"token": "abc123"}, correlation_id="c1")
    claim = bob.claim()
    assert claim is not None
    with as_alice(recipe) as raw:  # the record is readable, but holds only a digest
        stored = raw.hget(f"{PREFIX}message:{sent.id}", "lease_token")
    assert stored is not None and stored.decode() != claim.token
    with pytest.raises(StaleLease):
        finish(alice, sent.id, stored.decode())
    before = bob.get(sent.id)
    with pytest.raises(ConfigurationError) as refused:  # even with bob's own token
        finish(alice, sent.id, claim.token)
    assert refused.value.definite is True
    assert bob.get(sent.id) == before
    assert bob.get_reply(sent.id) is None
    bob.reply(claim.id, claim.token, {"valid": True})  # bob's work is not lost
    assert alice.wait_reply(sent.id, timeout=1).payload == {"valid": True}
    assert refusals(recipe) == []  # refused by the hub's own check, not half-way by Redis


FUTURE = 3 * 86_400.0  # alice's clock: past every lease and retention of the scene


@pytest.fixture
def scene(recipe: RedisServer, opened: list[Hub]) -> dict[str, str]:
    """Bob holds leases in three queues and in his inbox, completed a task and buried a
    message; the ids by name."""
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    ids = {}
    for queue in ("jobs", "mail", "reports"):
        ids[queue] = alice.send(queue, "work", {}).id
        assert bob.claim(queue) is not None
    ids["inbox"] = alice.send("@bob", "work", {}).id
    assert bob.claim() is not None
    ids["done"] = alice.send("archive", "work", {}).id
    done = bob.claim("archive")
    assert done is not None
    bob.complete(done.id, done.token)
    ids["dead"] = alice.send("@bob", "poison", {}).id
    bury(bob)
    return ids


MAINTENANCE: dict[str, Callable[[Hub, dict[str, str]], object]] = {
    "sweep": lambda h, ids: h.sweep(),
    "prune": lambda h, ids: h.prune(),
    "replay": lambda h, ids: h.replay(ids["dead"]),
    "purge_dead": lambda h, ids: h.purge_dead(),
    "purge_dead_ids": lambda h, ids: h.purge_dead([ids["dead"]]),
    "dead_letters": lambda h, ids: h.dead_letters(),
}


@pytest.mark.redis
@pytest.mark.parametrize("chore", MAINTENANCE.values(), ids=MAINTENANCE)
def test_a_confined_agent_is_refused_maintenance_before_it_changes_anything(
    recipe: RedisServer,
    opened: list[Hub],
    scene: dict[str, str],
    chore: Callable[[Hub, dict[str, str]], object],
) -> None:
    operator = open_hub(opened, operator_url(recipe), None)
    before = ([operator.get(i) for i in scene.values()], operator.dead_letters(), operator.stats())
    later = ManualClock(time.time() + FUTURE)  # every lease lapsed, every task prunable
    alice = connect(agent_url(recipe, "@alice"), agent="@alice", clock=later)
    opened.append(alice)
    with pytest.raises(ConfigurationError) as refused:
        chore(alice, scene)
    assert refused.value.definite is True
    assert "ACL recipe" in str(refused.value)
    after = ([operator.get(i) for i in scene.values()], operator.dead_letters(), operator.stats())
    assert after == before


@pytest.mark.redis
def test_records_are_shared_and_reply_lists_only_wake_as_the_readme_says(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    """README, "Confining each agent with Redis ACLs": message and reply records are
    readable by every agent; any agent may set a reply list's expiry, which changes no
    answer.  Should the hub ever confine these, that section must change with this test."""
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    request = bob.send("jobs", "lookup", {"secret": 42}, correlation_id="c2")
    claim = bob.claim("jobs")
    assert claim is not None
    bob.reply(claim.id, claim.token, {"answer": 43})
    assert alice.get(request.id).payload == {"secret": 42}
    reply = alice.get_reply(request.id)
    assert reply is not None and reply.payload == {"answer": 43}
    with as_alice(recipe) as raw:
        raw.pexpire(f"{PREFIX}response:@bob:{request.id}", 1)
    assert bob.wait_reply(request.id, timeout=1).payload == {"answer": 43}


# -- the command line ---------------------------------------------------------------------


def printed_line(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, ["redis-acl", *args], env=env)
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


@pytest.mark.redis
def test_an_agent_run_with_confined_credentials_leaves_sweeping_to_the_operator(
    recipe: RedisServer, opened: list[Hub]
) -> None:
    bob = open_hub(opened, agent_url(recipe, "@bob"), "@bob")
    bob.send("@alice", "ping", {})
    bob.send("@bob", "note", {})  # a target alice's credentials may not sweep
    alice = open_hub(opened, agent_url(recipe, "@alice"), "@alice")
    log = io.StringIO()
    config = AgentConfig(sweep_every=0.01, idle_exit=0.5)
    summary = AgentRunner(alice, config, StopFlag(), log=log).run()
    notes = [json.loads(line)["log"] for line in log.getvalue().splitlines()]
    assert notes.count("sweep_not_allowed") == 1
    assert summary.failed == 1  # the ping was answered (an unknown type: an error reply)
    assert bob.stats().depths["@alice"] == {"completed": 1}
