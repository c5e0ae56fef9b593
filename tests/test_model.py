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

The machine is one class made of mixins, a module each: its event rules
(``model_events.py``) and its checks after every step (``model_checks.py``); what it
draws and how it compares answers are in ``model_support.py``.
"""

from __future__ import annotations

import importlib
import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

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

from agentcomm import Claim, Conflict, Hub, ManualClock, NotFound, Outgoing, Status, connect
from agentcomm.urls import fresh_url
from model_checks import ModelChecks
from model_events import EventRules
from model_support import (
    AGENTS,
    EVENT_TYPES,
    FORGED_TOKEN,
    HUB_OPTIONS,
    POLICY,
    QUEUE,
    UNKNOWN_ID,
    Answer,
    Complete,
    Extend,
    Fail,
    LeaseOp,
    LeasePick,
    Outcome,
    Release,
    _agree,
    _attempt,
    _same_outcome,
    _send_one,
    agents,
    lease_picks,
    outgoing,
    picks,
    sources,
)
from spec_model import SpecModel
from spec_transitions import finish, grant, lease_refusal, replay

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
STEPS = {"deep": 100}.get(PROFILE, 50)
# The deep profile outruns the ini's 300 s per test (real redis: about 5 minutes).
pytestmark = [pytest.mark.timeout(3600)] if PROFILE == "deep" else []


class HubMachine(EventRules, ModelChecks, RuleBasedStateMachine):
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

    def _refusal(self, message_id: str, token: str) -> Outcome:
        return lease_refusal(self.model.find(message_id), token, self.now)


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
