"""The ACL recipe of ``agentcomm.redis.acl``: agents it confines to their keys still do all
their work, an operator user does the upkeep, and nothing else is allowed.
"""

from __future__ import annotations

import io
import json
import threading

import pytest
from redis.exceptions import NoPermissionError

from agentcomm import DEFAULT_QUEUE, Claim, ConfigurationError, DeadlineExceeded, Hub, Status
from agentcomm.agent import AgentConfig, AgentRunner, StopFlag
from agentcomm_conformance.servers import RedisServer
from redis_acl_support import (
    PREFIX,
    admin_client,
    agent_url,
    as_alice,
    bury,
    open_hub,
    operator_url,
    refusals,
)
from redis_acl_support import recipe as recipe  # a fixture, imported by name
from support import until


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
