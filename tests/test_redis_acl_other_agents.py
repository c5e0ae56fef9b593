"""Agents confined by the ACL recipe and another agent's messages: a claim of another
inbox cannot be finished, maintenance is refused before it changes anything, and records
are shared as the README says.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agentcomm import ConfigurationError, Hub, ManualClock, StaleLease, connect
from agentcomm_conformance.servers import RedisServer
from redis_acl_support import PREFIX, agent_url, as_alice, bury, open_hub, operator_url, refusals
from redis_acl_support import recipe as recipe  # a fixture, imported by name

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
