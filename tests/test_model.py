"""A Hypothesis state machine drives a hub and the spec's model side by side.

Every rule does one thing to the hub and the same thing to ``spec_model.SpecModel``
(written from SPEC.md, not from the reference code), and after every rule the whole hub
must agree with the model: each message's record, the dead letters in order, the
depths and counters of ``stats``, each agent's subscriptions.  Time is a
``ManualClock`` that only the rules that let time pass move, so leases, backoff and expiry are
exercised at exact boundaries without sleeping.

What this shows, by the statements it asserts on every step:

* no message is lost: every sent message is readable until ``purge_dead`` removes it;
* never two live leases on one message: a claim hands out exactly the claimable
  messages the model chose, never one under a live lease (CLAIM-002, LEASE-006);
* a message is completed at most once: a second finish is refused (LEASE-002/003);
* retries are bounded and end in the dead letters at ``max_retries`` (RETRY-001);
* claims come by priority, then send order, among claimable messages (ORD-001);
* ``stats`` depths and counters match the model (PRIO-003/004).

``test_the_model_catches_a_broken_hub`` shows the model failing eight of the mutant
hubs in ``tests/mutants``, each on the statement it breaks.

State machines cannot take fixtures (Hypothesis #1364), so a per-backend subclass is
built inside an ordinary parametrized test that can.  Each example gets a fresh hub.
Steps per example: 50 in the ``ci`` profile, 100 in ``deep``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import Phase, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from agentcomm import (
    AgentCommError,
    Claim,
    Conflict,
    Hub,
    ManualClock,
    Message,
    NotFound,
    Outgoing,
    Priority,
    Status,
    connect,
)
from agentcomm.urls import fresh_url
from spec_model import (
    COUNTERS,
    UNKNOWN,
    Backoff,
    ModelEvent,
    ModelMessage,
    SpecModel,
    Unknown,
    bury,
    finish,
    grant,
    lease_refusal,
    release,
    replay,
    settle,
)

T = TypeVar("T")
Outcome = type[Exception] | None

POLICY = Backoff(base=1.0, cap=8.0)
HUB_OPTIONS = "backoff_base=1&backoff_max=8"
AGENTS = ("@a", "@b")
QUEUE = "jobs"
EVENT_TYPES = ("built", "deployed")
UNKNOWN_ID = "999999999"  # well formed, never issued in an example this size
FORGED_TOKEN = "forged-token"  # noqa: S105 - no secret: a token no claim ever drew
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
STEPS = {"deep": 100}.get(PROFILE, 50)
# The deep profile outruns the ini's 300 s per test (real redis: about 5 minutes).
pytestmark = [pytest.mark.timeout(3600)] if PROFILE == "deep" else []

# Lease and expiry times are whole seconds and time moves in halves, so deadlines are hit
# exactly ("at or after" is the spec's boundary).  Event TTLs end on quarters, never hit
# exactly: the spec does not say whether an event expires at or after its deadline.
outgoing = st.builds(
    Outgoing,
    to=st.sampled_from([QUEUE, QUEUE, *AGENTS]),
    type=st.just("task"),
    payload=st.integers(0, 9).map(lambda n: {"n": n, "text": 'it\'s "quoted"|\n'}),
    priority=st.sampled_from([Priority.LOW, Priority.NORMAL, Priority.HIGH, "high", 0]),
    timeout_seconds=st.sampled_from([None, 1.0, 3.0, 10.0]),
    max_retries=st.sampled_from([None, 0, 1, 2]),
    correlation_id=st.sampled_from([None, "c1"]),
    expires_in=st.sampled_from([None, None, 1.0, 2.0, 5.0, 20.0]),
)
agents = st.sampled_from(AGENTS)
picks = st.integers(min_value=0, max_value=1000)


class LeaseOp:
    """One of the operations a lease token allows (LEASE-001), as a rule's argument."""

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        raise NotImplementedError

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """Apply the spec's effect to the model and check what the hub returned."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True)
class Complete(LeaseOp):
    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.complete(message_id, token)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        machine.model.apply(finish(m, token))


@dataclasses.dataclass(frozen=True)
class Fail(LeaseOp):
    retry: bool
    reason: str

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.fail(message_id, token, self.reason, retry=self.retry)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """RETRY-001/002/003; ``fail`` returns the new state."""
        epoch = machine.model.epoch
        change = (
            settle(m, machine.now, self.reason, POLICY, epoch, token)
            if self.retry
            else bury(m, self.reason, epoch, token)
        )
        _agree(machine.model.apply(change), result, "fail")


@dataclasses.dataclass(frozen=True)
class Release(LeaseOp):
    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.release(message_id, token)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        _agree(machine.model.apply(release(m, machine.now)), result, "release")


@dataclasses.dataclass(frozen=True)
class Extend(LeaseOp):
    seconds: float | None

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        return machine.monitor.extend(message_id, token, self.seconds)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """LEASE-004: the same token, a deadline of now + seconds (default the timeout)."""
        until = machine.now + (m.timeout_seconds if self.seconds is None else self.seconds)
        machine.model.messages[m.id] = dataclasses.replace(m, lease_expires_at=until)
        assert (result.id, result.token, result.lease_expires_at) == (m.id, token, until), (
            f"LEASE-004: extend returned {result}, the spec says the deadline {until}"
        )


@dataclasses.dataclass(frozen=True)
class Answer(LeaseOp):
    agent: str
    status: str

    def call(self, machine: HubMachine, message_id: str, token: str) -> Any:
        payload = {"ok": self.status}
        return machine.hubs[self.agent].reply(message_id, token, payload, status=self.status)

    def expect(self, machine: HubMachine, m: ModelMessage, token: str, result: Any) -> None:
        """REQ-003: the reply is bound to the message and completes it in one step."""
        assert (
            result.request_id,
            result.from_agent,
            result.to_agent,
            result.correlation_id,
            result.status.value,
            result.payload,
        ) == (m.id, self.agent, m.from_agent, m.correlation_id, self.status, {"ok": self.status})
        machine.model.apply(finish(m, token, reply_id=result.id))
        machine.model.replies[m.id] = (result.id, self.agent, self.status)


@dataclasses.dataclass(frozen=True)
class LeasePick:
    """Which (message, token) a lease rule acts on, and how long its worker works first.

    ``fresh``: a claim made just now (so that every lease rule, not only ``claim``, leads
    somewhere when Hypothesis's swarm testing disables rules); ``live``: a current lease;
    ``old``: a token that is no longer its message's, the stale worker's; ``any``:
    anything ever granted, a forged token on a known message, or an id naming nothing.
    """

    kind: str
    index: int
    work: float = 0.0


sources = st.sampled_from([QUEUE, QUEUE, None])  # None: the agent's own inbox
lease_picks = st.builds(
    LeasePick,
    kind=st.sampled_from(["fresh", "live", "old", "any"]),
    index=picks,
    work=st.sampled_from([0.0, 0.0, 0.5, 1.0, 3.0]),
)


class HubMachine(RuleBasedStateMachine):
    """One hub, two agents, an anonymous monitor, one clock; the model alongside."""

    hub_url: Callable[[], str]
    open_hub: Callable[[str, str | None, ManualClock], Hub] = staticmethod(
        lambda url, agent, clock: connect(url, agent=agent, create=True, clock=clock)
    )

    def __init__(self) -> None:
        super().__init__()
        url = self.hub_url()
        self.clock = ManualClock()
        self.hubs = {a: self.open_hub(url, a, self.clock) for a in AGENTS}
        self.monitor = self.open_hub(url, None, self.clock)
        self.model = SpecModel(POLICY)
        self.pairs: list[tuple[str, str]] = []  # every (message id, token) ever granted

    def teardown(self) -> None:
        for hub in (*self.hubs.values(), self.monitor):
            hub.close()

    @property
    def now(self) -> float:
        return self.clock.now()

    # -- sending and claiming -----------------------------------------------------------------
    @initialize(sender=agents, items=st.lists(outgoing, min_size=1, max_size=6))
    def start_with_some_messages(self, sender: str, items: list[Outgoing]) -> None:
        self.send(sender, items)

    @initialize(subscribers=st.sets(agents, min_size=1))
    def start_with_some_subscribers(self, subscribers: set[str]) -> None:
        """Events are a small share of the rules: without readers from the start, few
        examples would publish and then read several events."""
        for agent in sorted(subscribers):
            self.hubs[agent].subscribe(EVENT_TYPES[0])
            self.model.subscribe(agent, EVENT_TYPES[0])

    @rule(sender=agents, items=st.lists(outgoing, min_size=1, max_size=3))
    def send(self, sender: str, items: list[Outgoing]) -> None:
        hub, now = self.hubs[sender], self.now
        sent = hub.send_many(items) if len(items) > 1 else [_send_one(hub, items[0])]
        assert [m.status for m in sent] == [Status.PENDING] * len(items)
        for message, item in zip(sent, items, strict=True):
            assert message.id not in self.model.messages and message.id not in self.model.purged, (
                f"ENV-004: id {message.id!r} reused"
            )
            expected = self.model.send(message.id, sender, item, now)
            _agree(expected, message, "send")

    @rule(agent=agents, queue=sources, limit=st.integers(1, 3), single=st.booleans())
    def claim(self, agent: str, queue: str | None, limit: int, single: bool) -> None:
        """``claim`` (one) or ``claim_many`` (up to ``limit``) from a queue or the inbox."""
        self._claim(agent, queue, limit, single)

    def _claim(
        self, agent: str, queue: str | None, limit: int, single: bool
    ) -> list[tuple[str, str]]:
        hub = self.hubs[agent]
        if single:
            claimed = hub.claim(queue)
            return self._check_claims(agent, queue, 1, [] if claimed is None else [claimed])
        return self._check_claims(agent, queue, limit, hub.claim_many(queue, limit=limit))

    def _check_claims(
        self, agent: str, queue: str | None, limit: int, claims: list[Claim]
    ) -> list[tuple[str, str]]:
        """Exactly the model's choice, in its order, under one fresh token."""
        now = self.now
        expected = self.model.claim_order(queue or agent, limit, now)
        assert [c.id for c in claims] == [m.id for m in expected], (
            f"ORD-001/CLAIM-002: claim from {queue or agent} at {now} handed out "
            f"{[c.id for c in claims]}, the spec says {[m.id for m in expected]}"
        )
        if not claims:
            return []
        tokens = {c.token for c in claims}
        assert len(tokens) == 1, "CLAIM-004: one token per claim call"
        token = tokens.pop()
        assert token not in self.model.tokens, "CLAIM-004: a token was drawn twice"
        self.model.tokens.add(token)
        for c, m in zip(claims, expected, strict=True):
            leased = self.model.apply(grant(m, agent, token, now))
            assert c.lease_expires_at == leased.lease_expires_at, "CLAIM-003: lease length"
            _agree(leased, c.message, "claim")
            self.pairs.append((c.id, token))
        return [(c.id, token) for c in claims]

    # -- finishing: every refusal must be LEASE-003's, exactly ---------------------------------
    @rule(lease=lease_picks)
    def complete(self, lease: LeasePick) -> None:
        """With an ``old`` token this is the stale worker's complete: ``StaleLease``, or
        ``AlreadyFinished`` for the token that finished the message (LEASE-003)."""
        self._act(Complete(), lease)

    @rule(lease=lease_picks, retry=st.booleans(), reason=st.sampled_from(["boom", "bad 'in'"]))
    def fail(self, lease: LeasePick, retry: bool, reason: str) -> None:
        self._act(Fail(retry, reason), lease)

    @rule(lease=lease_picks)
    def release(self, lease: LeasePick) -> None:
        self._act(Release(), lease)

    @rule(lease=lease_picks, seconds=st.sampled_from([None, 0.5, 2.0, 20.0]))
    def extend(self, lease: LeasePick, seconds: float | None) -> None:
        self._act(Extend(seconds), lease)

    @rule(lease=lease_picks, agent=agents, status=st.sampled_from(["success", "error"]))
    def reply(self, lease: LeasePick, agent: str, status: str) -> None:
        self._act(Answer(agent, status), lease)

    def _work(self, seconds: float) -> None:
        """Let a worker work: first read what the hub may have settled at the time of the
        claims so far (RETRY-002 times a retry from the moment it is settled)."""
        if seconds:
            self.no_message_is_lost_and_each_reads_as_the_spec_says()
            self.clock.advance(seconds)

    def _act(self, op: LeaseOp, lease: LeasePick) -> None:
        """``op`` after ``lease.work`` seconds: refused exactly as LEASE-003 says, or done."""
        message_id, token = self._pick(lease)
        self._work(lease.work)
        refusal = self._refusal(message_id, token)
        outcome, result = _attempt(lambda: op.call(self, message_id, token))
        _same_outcome(outcome, refusal, f"{op}({message_id}, {lease.kind} token)")
        event(
            f"{type(op).__name__} with a {lease.kind} token: "
            f"{'done' if refusal is None else refusal.__name__}"
        )
        if refusal is None:
            op.expect(self, self._known(message_id), token, result)

    @rule(leases=st.lists(lease_picks, min_size=2, max_size=3))
    def complete_many(self, leases: list[LeasePick]) -> None:
        """LEASE-008: all or nothing; a refusal is one of the refused pairs' own."""
        pairs = list(dict(self._pick(lease) for lease in leases).items())
        self._work(leases[0].work)
        refusals = {self._refusal(i, t) for i, t in pairs} - {None}
        outcome, _ = _attempt(lambda: self.monitor.complete_many(pairs))
        if refusals:
            assert outcome in refusals, f"complete_many {pairs}: {outcome}, spec {refusals}"
            return
        _same_outcome(outcome, None, f"complete_many {pairs}")
        for message_id, token in pairs:
            self.model.apply(finish(self._known(message_id), token))

    # -- dead letters, maintenance, time -----------------------------------------------------
    @rule(
        replaying=st.booleans(),
        index=picks,
        dead=st.booleans(),
        everything=st.booleans(),
        indices=st.lists(picks, max_size=3),
    )
    def tend_dead_letters(
        self, replaying: bool, index: int, dead: bool, everything: bool, indices: list[int]
    ) -> None:
        if replaying:
            self._replay(index, dead)
        else:
            self._purge_dead(everything, indices)

    def _replay(self, index: int, dead: bool) -> None:
        """DLQ-002: only a dead letter comes back; anything else is a Conflict."""
        buried = [m.id for m in self.model.dead_letters()]
        message_id = buried[index % len(buried)] if dead and buried else self._any_id(index)
        m = self.model.find(message_id)
        expected: Outcome = (
            NotFound
            if m is None
            # REQ-007: not an answered one
            else (None if m.status is Status.DEAD and m.reply_id is None else Conflict)
        )
        outcome, returned = _attempt(lambda: self.monitor.replay(message_id))
        if expected is Conflict:
            assert outcome is not None and issubclass(outcome, Conflict), (
                f"DLQ-002: replay of a {m and m.status.value} message gave {outcome}"
            )
            return
        _same_outcome(outcome, expected, f"replay({message_id})")
        if m is not None:
            _agree(self.model.apply(replay(m, self.now)), returned, "replay")

    def _purge_dead(self, everything: bool, indices: list[int]) -> None:
        """DLQ-003: the named dead letters go, and only those; others are not counted."""
        named = None if everything else list(dict.fromkeys(self._any_id(i) for i in indices))
        if named == []:
            return
        expected = self.model.purge(named)
        counted = self.monitor.purge_dead(named)
        assert counted == expected, f"DLQ-003: purge_dead({named}): {counted}, spec {expected}"

    @rule(
        seconds=st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0]),
        then_sweep=st.booleans(),
    )
    def let_time_pass(self, seconds: float, then_sweep: bool) -> None:
        """Leases lapse, backoffs end, deadlines pass; a sweep settles them (EXP-002):
        every lapsed lease and overdue message, each counted once, and then nothing."""
        self.clock.advance(seconds)
        if then_sweep:
            expected = self.model.sweep(self.now)
            counted = self.monitor.sweep()
            assert counted == expected, f"EXP-002: sweep counted {counted}, spec {expected}"
            assert self.monitor.sweep() == 0, "EXP-002: a second sweep at the same time"

    # -- events ----------------------------------------------------------------------------
    @rule(
        agent=agents,
        event_type=st.sampled_from(EVENT_TYPES),
        ttl=st.sampled_from([None, 0.75, 2.25, 10.25]),
        burst=st.integers(1, 3),
    )
    def publish(self, agent: str, event_type: str, ttl: float | None, burst: int) -> None:
        """A burst of events, so that reads often find several unread (ORD-002/003)."""
        for _ in range(burst):
            self._publish(agent, event_type, ttl)

    @rule(
        agent=agents,
        event_type=st.sampled_from(EVENT_TYPES),
        action=st.sampled_from(["read", "read", "subscribe", "unsubscribe"]),
        limit=st.integers(1, 3),
    )
    def follow_events(self, agent: str, event_type: str, action: str, limit: int) -> None:
        """EVT-002/003: join or leave a type, or read what is unread."""
        if action == "read":
            self._read_events(agent, limit)
        elif action == "subscribe":
            self.hubs[agent].subscribe(event_type)
            self.model.subscribe(agent, event_type)
        else:
            self.hubs[agent].unsubscribe(event_type)
            self.model.unsubscribe(agent, event_type)

    def _publish(self, agent: str, event_type: str, ttl: float | None) -> None:
        now = self.now
        event = self.hubs[agent].publish(event_type, {"at": now}, ttl=ttl)
        expected = ModelEvent(
            event.id, event_type, agent, {"at": now}, now, None if ttl is None else now + ttl
        )
        assert _event_view(event) == expected, "EVT-001: the published event"
        assert event.id not in {e.id for e in self.model.events}, "ENV-004: event id reused"
        self.model.events.append(expected)
        self.model.counters["published"] += 1

    def _read_events(self, agent: str, limit: int) -> None:
        """EVT-003: each subscriber gets each event once, in publish order."""
        seen = [_event_view(e) for e in self.hubs[agent].events(limit=limit)]
        expected, reading = self.model.read_events(agent, limit, self.now)
        assert seen == expected, f"EVT-003/ORD-002: {agent} read {seen}, spec {expected}"
        self.model.commit(reading)

    # -- after every step ------------------------------------------------------------------
    @invariant()
    def hub_agrees_with_the_model(self) -> None:
        self.no_message_is_lost_and_each_reads_as_the_spec_says()
        self.replies_are_bound_to_their_messages()
        self.retries_are_bounded()
        self.dead_letters_are_listed_in_the_order_they_died()
        self.stats_depths_and_counters_agree()
        self.subscriptions_agree()
        self.model.epoch += 1

    def no_message_is_lost_and_each_reads_as_the_spec_says(self) -> None:
        """Adopting, where the spec allows the hub a choice, the one it made."""
        for m in list(self.model.messages.values()):
            outcome, seen = _attempt(functools.partial(self.monitor.get, m.id))
            assert outcome is None and seen is not None, f"MSG-001: message {m.id} is lost"
            if m.differences(seen):
                self._adopt_a_spontaneous_change(m, seen)
        for message_id in self.model.purged:
            outcome, _ = _attempt(functools.partial(self.monitor.get, message_id))
            _same_outcome(outcome, NotFound, f"get of purged message {message_id}")

    def _adopt_a_spontaneous_change(self, m: ModelMessage, seen: Message) -> None:
        for change in self.model.spontaneous(m, self.now):
            if not change.message.differences(seen):
                self.model.apply(change)
                return
        raise AssertionError(f"message {m.id} at {self.now}: {m.differences(seen)}")

    def replies_are_bound_to_their_messages(self) -> None:
        """REQ-002/005: ``get_reply`` finds the one reply by its message id."""
        for message_id, bound in self.model.replies.items():
            answer = self.monitor.get_reply(message_id)
            seen: tuple[str | Unknown, str, str] | None = None
            if answer is not None:  # the hub's answer's id is the hub's choice (REQ-007)
                seen = (
                    UNKNOWN if bound[0] is UNKNOWN else answer.id,
                    answer.from_agent,
                    answer.status.value,
                )
            assert seen == bound, f"REQ-002: get_reply({message_id}) {seen}, spec {bound}"
        unanswered = next(
            (m.id for m in self.model.messages.values() if m.id not in self.model.replies), None
        )
        if unanswered is not None:
            assert self.monitor.get_reply(unanswered) is None, "REQ-005: null before a reply"
        outcome, _ = _attempt(lambda: self.monitor.get_reply(UNKNOWN_ID))
        _same_outcome(outcome, NotFound, "get_reply(unknown id)")

    def retries_are_bounded(self) -> None:
        """RETRY-001 (the hub's ``retry_count`` agrees with the model's, checked above)."""
        for m in self.model.messages.values():
            assert m.retry_count <= m.max_retries, f"RETRY-001: {m.id} retried past its budget"
            assert m.deliveries <= m.max_retries + 1, f"RETRY-001: {m.id} delivered too often"

    def dead_letters_are_listed_in_the_order_they_died(self) -> None:
        listed = [m.id for m in self.monitor.dead_letters(limit=100)]
        expected = self.model.dead_letters()
        assert sorted(listed) == sorted(m.id for m in expected), "DLQ-001: the dead letters"
        epochs = [self._known(i).dead_epoch or 0 for i in listed]
        assert epochs == sorted(epochs), f"DLQ-001: {listed} are not in the order they died"

    def stats_depths_and_counters_agree(self) -> None:
        stats = self.monitor.stats()
        assert _nonzero(stats.depths) == _nonzero(self.model.depths()), "PRIO-003: depths"
        counters = {name: stats.counters.get(name, 0) for name in COUNTERS}
        assert counters == {name: self.model.counters[name] for name in COUNTERS}, (
            "PRIO-004: lifetime counters"
        )

    def subscriptions_agree(self) -> None:
        for agent, hub in self.hubs.items():
            assert hub.subscriptions() == self.model.subscriptions(agent), "EVT-002"

    # -- choosing what a rule acts on ----------------------------------------------------------
    def _pick(self, lease: LeasePick) -> tuple[str, str]:
        """The (message, token) pair ``lease`` names (see ``LeasePick``)."""
        index = lease.index
        if lease.kind == "fresh":
            agent, queue = AGENTS[index % len(AGENTS)], (None if index % 3 == 0 else QUEUE)
            claimed = self._claim(agent, queue, 1, single=True)
            if claimed:
                return claimed[0]
        current = [(m.id, m.token) for m in self.model.messages.values() if m.token]
        old = [(i, t) for i, t in self.pairs if (m := self.model.find(i)) is None or t != m.token]
        forged = [(m.id, FORGED_TOKEN) for m in list(self.model.messages.values())[:1]]
        pool = {"live": current, "old": old}.get(lease.kind) or [
            *self.pairs,
            *forged,
            (UNKNOWN_ID, FORGED_TOKEN),
        ]
        return pool[index % len(pool)]

    def _any_id(self, index: int) -> str:
        ids = [*self.model.messages, *sorted(self.model.purged), UNKNOWN_ID]
        return ids[index % len(ids)]

    def _known(self, message_id: str) -> ModelMessage:
        found = self.model.find(message_id)
        assert found is not None, message_id
        return found

    def _refusal(self, message_id: str, token: str) -> Outcome:
        return lease_refusal(self.model.find(message_id), token, self.now)


def _send_one(hub: Hub, item: Outgoing) -> Message:
    return hub.send(
        item.to,
        item.type,
        item.payload,
        priority=item.priority,
        timeout_seconds=item.timeout_seconds,
        max_retries=item.max_retries,
        correlation_id=item.correlation_id,
        expires_in=item.expires_in,
    )


def _attempt(call: Callable[[], T]) -> tuple[Outcome, T | None]:
    """Run ``call``; return the error class it raised (None) and its result (None)."""
    try:
        return None, call()
    except AgentCommError as error:
        return type(error), None


def _same_outcome(outcome: Outcome, expected: Outcome, what: str) -> None:
    name = "success" if expected is None else expected.__name__
    got = "success" if outcome is None else outcome.__name__
    assert outcome is expected, f"LEASE-003: {what} gave {got}, the spec says {name}"


def _agree(expected: ModelMessage, seen: Message | None, what: str) -> None:
    assert seen is not None, what
    assert not expected.differences(seen), f"{what} returned {seen.id}: " + "; ".join(
        expected.differences(seen)
    )


def _event_view(event: Any) -> ModelEvent:
    return ModelEvent(
        event.id,
        event.event_type,
        event.publisher,
        event.payload,
        event.published_at,
        event.expires_at,
    )


def _nonzero(depths: Any) -> dict[str, dict[str, int]]:
    """Depths without zero counts or empty targets: an absent key means 0 (PRIO-003)."""
    found = {
        str(t): {str(k): int(n) for k, n in counts.items() if n} for t, counts in depths.items()
    }
    return {t: counts for t, counts in found.items() if counts}


# -- one run per backend ---------------------------------------------------------------------

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("fakeredis", id="fakeredis"),  # in this process: fast, and everywhere
    pytest.param("redis", id="redis", marks=pytest.mark.redis),  # a real private server
]


@pytest.fixture(params=BACKENDS)
def fresh_hub_urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A maker of URLs, each naming a new empty hub of the backend (one per example)."""
    numbers = itertools.count()
    if request.param == "sqlite":
        yield lambda: f"sqlite:///{tmp_path / f'model{next(numbers)}.db'}?{HUB_OPTIONS}"
    elif request.param == "fakeredis":
        yield lambda: f"fakeredis://{uuid.uuid4().hex}?{HUB_OPTIONS}"
    else:
        server = request.getfixturevalue("redis_server")
        yield lambda: fresh_url(f"{server.url}?{HUB_OPTIONS}", tmp_path)


def test_hub_agrees_with_the_spec_model_after_every_step(fresh_hub_urls: Callable[[], str]) -> None:
    machine = type("HubMachineOnBackend", (HubMachine,), {"hub_url": staticmethod(fresh_hub_urls)})
    run_state_machine_as_test(machine, settings=settings(stateful_step_count=STEPS))


# -- the model can fail: broken hubs (tests/mutants) are caught ----------------------------


@pytest.mark.parametrize(
    "mutant",
    [
        "stale_token_accepted",
        "token_per_agent",
        "priority_ignored",
        "no_lease_expiry",
        "linear_backoff",
        "retries_forever",
        "events_newest_first",
        "purge_any_status",
    ],
)
def test_the_model_catches_a_broken_hub(tmp_path: Path, mutant: str) -> None:
    """Each mutant breaks one statement the model asserts after every step; generating
    examples finds it (shrinking is skipped: only the failure matters here)."""
    implementation = importlib.import_module(f"mutants.{mutant}").implementation()
    numbers = itertools.count()
    machine = type(
        "HubMachineOnMutant",
        (HubMachine,),
        {
            "hub_url": staticmethod(
                lambda: f"sqlite:///{tmp_path / f'm{next(numbers)}.db'}?{HUB_OPTIONS}"
            ),
            "open_hub": staticmethod(
                lambda url, agent, clock: implementation.open(url, agent, clock, create=True)
            ),
        },
    )
    quick = settings(
        max_examples=500, stateful_step_count=STEPS, database=None, phases=[Phase.generate]
    )
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=quick)
