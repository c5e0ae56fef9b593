"""The envelope and identity of every record: who may act, the stamped sender, one
envelope, ids and times (SPEC section ENV)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Claim, Hub, Outgoing, Priority, Status
from agentcomm.wire import RESULT_KINDS
from agentcomm_conformance.driver.process import Transcript
from agentcomm_conformance.expect import claimed, refused
from agentcomm_conformance.expect import now_by_event as hub_now
from agentcomm_conformance.json_form import problems
from agentcomm_conformance.targets import Target
from agentcomm_conformance.targets.driver import DriverTarget

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]

MS = 0.001  # created_at and the design's other DATETIME columns may be kept to the millisecond


# -- ENV-001: identity ----------------------------------------------------------------------
NEEDS_IDENTITY = {
    "send": lambda a, c: a.send("@bob", "greet", {}),
    "request": lambda a, c: a.request("@bob", "greet", {}, timeout=0.2),
    "claim": lambda a, c: a.claim("jobs"),
    "reply": lambda a, c: a.reply(c.id, c.token, "x"),
    "publish": lambda a, c: a.publish("news", 1),
    "subscribe": lambda a, c: a.subscribe("news"),
    "unsubscribe": lambda a, c: a.unsubscribe("news"),
    "subscriptions": lambda a, c: a.subscriptions(),
    "events": lambda a, c: a.events(),
    "register": lambda a, c: a.register(),
    "heartbeat": lambda a, c: a.heartbeat(),
    "deregister": lambda a, c: a.deregister(),
}
BATCH = pytest.mark.capability("batch")


@pytest.mark.spec("ENV-001")
@pytest.mark.parametrize(
    "call",
    [
        *(pytest.param(call, id=name) for name, call in NEEDS_IDENTITY.items()),
        pytest.param(
            lambda a, c: a.send_many([Outgoing("@bob", "greet", {})]), id="send_many", marks=BATCH
        ),
        pytest.param(lambda a, c: a.claim_many("jobs"), id="claim_many", marks=BATCH),
    ],
)
def test_a_handle_without_identity_cannot_act_as_an_agent_and_changes_nothing(
    agents: Agents, call: Callable[[Hub, Claim], object]
) -> None:
    sender, worker, monitor = agents("@alice"), agents("@worker"), agents()
    sender.send("jobs", "task", "held")
    held = claimed(worker, "jobs")
    waiting = sender.send("jobs", "task", "waiting")

    def state() -> tuple[object, ...]:
        return (
            monitor.get(held.id),
            monitor.get(waiting.id),
            monitor.get_reply(held.id),
            monitor.stats(),
            monitor.tail_events(),
            monitor.agents(),
        )

    before = state()
    with refused("configuration"):
        call(agents(), held)
    assert state() == before


@pytest.mark.spec("ENV-001")
def test_a_handle_without_identity_can_inspect_finish_and_maintain(agents: Agents) -> None:
    alice, worker, anon = agents("@alice"), agents("@worker"), agents()
    asked = alice.send("@worker", "ask", 1)
    answer = claimed(worker)
    worker.reply(answer.id, answer.token, "answered")
    assert anon.get(asked.id).status == Status.COMPLETED
    assert [
        anon.get_reply(asked.id).payload,  # type: ignore[union-attr]
        anon.wait_reply(asked.id, timeout=0).payload,
    ] == ["answered"] * 2
    tasks = [alice.send("jobs", "task", n) for n in range(3)]
    first, second, third = (claimed(worker, "jobs") for _ in tasks)
    assert anon.extend(first.id, first.token, 60).id == first.id
    anon.complete(first.id, first.token)
    assert anon.get(first.id).status == Status.COMPLETED
    assert anon.release(second.id, second.token).status == Status.PENDING
    assert anon.fail(third.id, third.token, "poison", retry=False).status == Status.DEAD
    assert [m.id for m in anon.dead_letters()] == [third.id]
    assert anon.replay(third.id).status == Status.PENDING
    again = claimed(worker, "jobs")
    anon.fail(again.id, again.token, "poison", retry=False)
    assert anon.purge_dead() == 1
    alice.publish("news", "seen")
    assert [e.payload for e in anon.tail_events()] == ["seen"]
    assert anon.agents() == []
    assert anon.stats().agents_known == 0
    assert anon.sweep() == 0
    assert isinstance(anon.prune(), dict)
    anon.close()
    anon.close()  # idempotent


# -- ENV-002: the sender is stamped -----------------------------------------------------------
@pytest.mark.spec("ENV-002")
def test_the_hub_stamps_each_record_with_the_identity_of_the_handle_that_made_it(
    agents: Agents,
) -> None:
    alice, bob, carol, monitor = agents("@alice"), agents("@bob"), agents("@carol"), agents()
    bob.subscribe("deploy")
    sent = alice.send("@bob", "ask", {})
    claim = claimed(bob)
    reply = bob.reply(claim.id, claim.token, "yes")
    event = carol.publish("deploy", "v1")
    senders = [sent.from_agent, monitor.get(sent.id).from_agent, claim.message.from_agent]
    assert senders == ["@alice"] * 3
    assert [reply.from_agent, monitor.get_reply(sent.id).from_agent] == ["@bob"] * 2  # type: ignore[union-attr]
    publishers = [
        event.publisher,
        *(e.publisher for e in bob.events()),
        *(e.publisher for e in monitor.tail_events()),
    ]
    assert publishers == ["@carol"] * 3


# -- ENV-003: one envelope ------------------------------------------------------------------
@pytest.mark.spec("ENV-003")
def test_send_returns_a_pending_message_with_every_field_as_sent(agents: Agents) -> None:
    alice = agents("@alice")
    before = hub_now(alice)
    sent = alice.send(
        "@bob",
        "greet",
        {"hi": 1},
        priority="high",
        timeout_seconds=12,
        max_retries=7,
        correlation_id="corr-1",
        expires_in=60,
    )
    after = hub_now(alice)
    assert (sent.from_agent, sent.to_agent, sent.type, sent.payload) == (
        "@alice",
        "@bob",
        "greet",
        {"hi": 1},
    )
    assert (sent.status, sent.retry_count) == (Status.PENDING, 0)
    assert (sent.priority, sent.timeout_seconds, sent.max_retries, sent.correlation_id) == (
        Priority.HIGH,
        12,
        7,
        "corr-1",
    )
    assert sent.claimed_by is None and sent.last_error is None and sent.reply_id is None
    assert before - MS <= sent.available_at <= after + MS
    assert sent.created_at == pytest.approx(sent.available_at, abs=MS)
    assert sent.expires_at == pytest.approx(sent.available_at + 60, abs=MS)
    assert agents().get(sent.id) == sent


@pytest.mark.spec("ENV-003")
def test_send_applies_the_hub_defaults(hub: Hub) -> None:
    sent = hub.send("@bob", "greet", {})
    assert (sent.priority, sent.timeout_seconds, sent.max_retries) == (Priority.NORMAL, 300, 3)
    assert sent.expires_at is None and sent.correlation_id is None
    assert hub.get(sent.id) == sent


@pytest.mark.spec("ENV-003")
def test_a_message_lives_through_exactly_the_five_statuses(agents: Agents, elapse: Elapse) -> None:
    alice, worker = agents("@alice"), agents("@worker")
    done, poison = alice.send("jobs", "task", 1), alice.send("jobs", "task", 2)
    late = alice.send("@nobody", "task", 3, expires_in=0.2)
    seen = [alice.get(done.id).status]
    claims = {c.id: c for c in (claimed(worker, "jobs"), claimed(worker, "jobs"))}
    seen.append(alice.get(done.id).status)
    worker.complete(done.id, claims[done.id].token)
    worker.fail(poison.id, claims[poison.id].token, "poison", retry=False)
    elapse(0.3)
    alice.sweep()
    seen += [alice.get(m.id).status for m in (done, poison, late)]
    assert seen == [
        Status.PENDING,
        Status.PROCESSING,
        Status.COMPLETED,
        Status.DEAD,
        Status.EXPIRED,
    ]


# -- ENV-004: ids ---------------------------------------------------------------------------
@pytest.mark.spec("ENV-004")
def test_message_reply_and_event_ids_are_short_strings_unique_within_their_kind(
    agents: Agents,
) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    messages = [alice.send(to, "n", i) for i in range(10) for to in ("@bob", "jobs")]
    replies = [bob.reply(c.id, c.token, "ok") for c in (claimed(bob) for _ in range(10))]
    events = [alice.publish(kind, i) for i in range(10) for kind in ("a", "b")]
    for records in (messages, replies, events):
        ids = [r.id for r in records]
        assert len(set(ids)) == len(ids)
        assert all(isinstance(i, str) and 1 <= len(i) <= 100 for i in ids)


@pytest.mark.spec("ENV-004")
@pytest.mark.parametrize("unknown", ["424242", "no-such-message"])
def test_an_id_that_never_existed_raises_not_found(hub: Hub, unknown: str) -> None:
    hub.send("@bob", "n", 1)
    with refused("not_found"):
        hub.get(unknown)
    with refused("not_found"):
        hub.replay(unknown)


@pytest.mark.spec("ENV-004")
def test_a_purged_message_id_is_not_found_and_never_reused(agents: Agents) -> None:
    alice, worker = agents("@alice"), agents("@worker")
    purged = alice.send("jobs", "task", "poison")  # the newest message: an id a counter reuses
    claim = claimed(worker, "jobs")
    worker.fail(claim.id, claim.token, "poison", retry=False)
    assert alice.purge_dead() == 1
    with refused("not_found"):
        alice.get(purged.id)
    assert purged.id not in {alice.send("jobs", "task", n).id for n in range(5)}


@pytest.mark.spec("ENV-004")
def test_a_pruned_event_id_is_never_reused(hub: Hub, elapse: Elapse) -> None:
    pruned = hub.publish("flash", "brief", ttl=0.2)
    elapse(0.3)
    hub.prune()
    assert pruned.id not in [e.id for e in hub.tail_events()]
    assert pruned.id not in {hub.publish("flash", n).id for n in range(5)}


@pytest.mark.spec("ENV-004")
@pytest.mark.capability("manual_clock")
def test_pruned_message_and_reply_ids_are_not_found_and_never_reused(
    agents: Agents, elapse: Elapse
) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    asked = alice.send("@bob", "ask", 1)
    claim = claimed(bob)
    answer = bob.reply(claim.id, claim.token, "yes")
    elapse(86_401)  # past retain_finished
    alice.prune()
    with refused("not_found"):
        alice.get(asked.id)
    with refused("not_found"):
        alice.get_reply(asked.id)
    again = alice.send("@bob", "ask", 2)
    claim = claimed(bob)
    assert again.id != asked.id
    assert bob.reply(claim.id, claim.token, "yes").id != answer.id


# -- ENV-005: times -------------------------------------------------------------------------
@pytest.mark.spec("ENV-005")
def test_record_times_are_epoch_seconds_from_the_hubs_clock(agents: Agents, elapse: Elapse) -> None:
    alice, bob = agents("@alice"), agents("@bob")
    first = alice.send("@bob", "ask", 1, expires_in=600)
    elapse(0.5)
    claim = claimed(bob)
    reply = bob.reply(claim.id, claim.token, "yes")
    event = alice.publish("news", 1, ttl=60)
    info = bob.register()
    times = [
        first.created_at,
        first.available_at,
        first.expires_at,
        claim.lease_expires_at,
        reply.created_at,
        event.published_at,
        event.expires_at,
        info.last_heartbeat,
    ]
    for value in times:
        assert isinstance(value, (int, float)) and not isinstance(value, bool)
        assert abs(value - time.time()) < 86_400 * 30, f"{value} is not near epoch seconds now"
    for later in (reply.created_at, event.published_at, info.last_heartbeat):
        assert 0.5 - MS <= later - first.created_at < 10  # moved with the hub's clock


@pytest.mark.spec("ENV-005")
def test_a_driver_writes_every_record_in_the_json_form(
    agents: Agents, conformance_target: Target
) -> None:
    """What a driver answers is read leniently elsewhere; here its form is judged."""
    if not isinstance(conformance_target, DriverTarget):
        pytest.skip("the JSON form is what a driver writes: in-process there is none")
    alice, bob = agents("@alice"), agents("@bob")
    transcripts: list[Transcript] = []
    for handle in (alice, bob):
        handle.driver.transcript = []  # type: ignore[attr-defined]
        transcripts.append(handle.driver.transcript)  # type: ignore[attr-defined]
    bob.subscribe("news")
    asked = alice.send(
        "@bob", "ask", {"n": 1}, priority="high", correlation_id="c-1", expires_in=60
    )
    claim = claimed(bob)
    bob.extend(claim.id, claim.token, 30)
    bob.reply(claim.id, claim.token, {"ok": True}, status="error")
    alice.get_reply(asked.id)
    alice.send("@bob", "ask", "poison", priority="low")
    poison = claimed(bob)
    bob.fail(poison.id, poison.token, "poison", retry=False)
    alice.publish("news", [1, 2], ttl=60)
    bob.events()
    bob.register(capabilities=["ask"], process_id=4242)
    for read in (
        alice.get(asked.id),
        alice.dead_letters(),
        alice.tail_events(),
        alice.agents(),
        alice.stats(),
    ):
        assert read is not None
    found = [
        problem
        for transcript in transcripts
        for op, result in _results(transcript)
        if op in RESULT_KINDS
        for record in _records(op, result)
        for problem in problems(record, RESULT_KINDS[op][0])
    ]
    assert found == [], "records not in SPEC ENV-005's JSON form:\n" + "\n".join(found)


def _results(transcript: Transcript) -> list[tuple[str, Any]]:
    """(op, result) of every successful answer in a transcript."""
    ops = {m["id"]: m["op"] for d, m in transcript if d == "request"}
    return [
        (ops[m["id"]], m["result"])
        for d, m in transcript
        if d == "response" and m.get("ok") and m.get("id") in ops
    ]


def _records(op: str, result: Any) -> list[Any]:
    if result is None:
        return []
    return list(result) if RESULT_KINDS[op][1] else [result]
