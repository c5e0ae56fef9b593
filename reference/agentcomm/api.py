"""The Hub contract, written once.  Backends implement the ``_``-prefixed primitives.

A hub handle is opened *as an agent* (``connect(url, agent="@me")``): the hub stamps
that identity as the sender of everything sent through it, so a message cannot claim to
come from someone else.  A handle without an identity can still inspect and monitor.

Delivery is at-least-once: a message is handed out under a lease, and comes back
(``retry_count`` + 1, after a backoff) if the lease runs out before ``complete``,
``reply``, ``fail`` or ``release``.  Effects are exactly-once: only the holder of the
current lease token can finish a message, once.  Every state change is atomic.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable, Iterable, Sequence

from agentcomm import validation as v
from agentcomm.clock import Clock, SystemClock
from agentcomm.errors import AgentCommError, ConfigurationError, DeadlineExceeded, InvalidInput
from agentcomm.models import (
    DEFAULT_QUEUE,
    AgentInfo,
    Claim,
    Event,
    Message,
    Outgoing,
    Priority,
    Reply,
    ReplyStatus,
    Stats,
)
from agentcomm.prepared import PreparedMessage
from agentcomm.record import Record
from agentcomm.settings import HubSettings

__all__ = ["Hub", "Next", "PreparedMessage", "Then"]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any, Literal, TypeVar, overload

    T = TypeVar("T")

Topic = tuple[str, str]

MAX_BATCH = v.MAX_BATCH


class Then(Record):
    """The next claim a finishing call asks for (SPEC CLAIM-009): up to ``limit`` messages
    of the finished messages' target, leased by ``agent``; ``wait``: how long the caller
    will wait for one if none is there (a backend may start waiting in the same step)."""

    agent: str
    limit: int
    wait: float


class Next(Record):
    """What a finishing primitive leased next: the target it claimed from, the claims
    (none when nothing was claimable), and how long it already waited for them."""

    target: str
    claims: list[Claim]
    waited: float = 0.0


class Hub(abc.ABC):
    """One hub, seen by one agent.  Every public method is the contract for all backends."""

    capabilities: frozenset[str] = frozenset()
    """Optional behaviours this backend declares (SPEC section CAP)."""

    def __init__(
        self,
        *,
        agent: str | None = None,
        settings: HubSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.agent_id = None if agent is None else v.check_agent_id(agent)
        self.settings = settings or HubSettings()
        self.clock: Clock = clock or SystemClock()

    # -- lifecycle -----------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release connections.  Idempotent."""

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- messages ------------------------------------------------------------------
    def send(
        self,
        to: str,
        type: str,
        payload: Any,
        *,
        priority: Priority | int | str = Priority.NORMAL,
        timeout_seconds: float | None = None,
        max_retries: int | None = None,
        correlation_id: str | None = None,
        expires_in: float | None = None,
    ) -> Message:
        """Queue one message for ``to`` (an agent's inbox or a shared queue) and return it.

        ``timeout_seconds`` is the lease a claimer gets; ``max_retries`` bounds redelivery;
        ``expires_in`` makes an undelivered message expire.  Durable once this returns.
        Sending to an agent that is not registered is allowed: inboxes wait for their owner.
        """
        item = Outgoing(
            to, type, payload, priority, timeout_seconds, max_retries, correlation_id, expires_in
        )
        return self._send_items([item], indexed=False)[0]

    def send_many(self, messages: Iterable[Outgoing]) -> list[Message]:
        """Send several messages atomically: all are queued, in order, or none is."""
        return self._send_items(v.check_list("messages", messages), indexed=True)

    def request(
        self,
        to: str,
        type: str,
        payload: Any,
        *,
        timeout: float = 30.0,
        priority: Priority | int | str = Priority.NORMAL,
        correlation_id: str | None = None,
    ) -> Reply:
        """Send a request and wait up to ``timeout`` seconds for its reply.

        The request expires (is never delivered) once ``timeout`` passes.  Raises
        ``DeadlineExceeded`` naming the request id when no reply came in time.
        """
        timeout = v.check_seconds("timeout", timeout)
        cid = new_correlation_id() if correlation_id is None else correlation_id
        message = self.send(
            to, type, payload, priority=priority, expires_in=timeout, correlation_id=cid
        )
        try:
            return self.wait_reply(message.id, timeout=timeout)
        except AgentCommError as exc:
            exc.definite = False  # the wait changed nothing, but the request was sent
            raise

    def wait_reply(self, request_id: str, *, timeout: float = 30.0) -> Reply:
        """Return the reply to ``request_id``, waiting up to ``timeout`` seconds for it.

        A reply that arrived before this call is returned at once.  Replies are matched
        by request id, so a reply to an earlier request with the same correlation id
        never satisfies this one.
        """
        wait = v.check_seconds("timeout", timeout, allow_zero=True)
        reply = self._wait_for(lambda: self.get_reply(request_id), wait, ("reply", request_id))
        if reply is None:
            # Indefinite: the request may still be handled after we stop waiting.
            raise DeadlineExceeded(
                f"no reply to request {request_id!r} within {wait:g}s", definite=False
            )
        return reply

    def get_reply(self, request_id: str) -> Reply | None:
        """The reply to ``request_id`` if there is one yet; ``NotFound`` for an unknown id."""
        return self._get_reply(v.check_message_id(request_id, "request_id"))

    def get(self, message_id: str) -> Message:
        """The message as it stands now; ``NotFound`` for an unknown id."""
        return self._get(v.check_message_id(message_id))

    # -- claiming --------------------------------------------------------------------
    def claim(self, source: str | None = None, *, wait: float = 0.0) -> Claim | None:
        """Lease the best available message from ``source``, or ``None`` when there is none.

        ``source`` is a queue name, or ``None`` for this agent's own inbox.  The best
        message is the highest priority, then the oldest.  Expired leases are reclaimed
        first.  The lease lasts the message's ``timeout_seconds``.  With ``wait`` > 0,
        blocks up to that many seconds for a message to arrive.
        """
        claims = self.claim_many(source, limit=1, wait=wait)
        return claims[0] if claims else None

    def claim_many(
        self, source: str | None = None, *, limit: int = 10, wait: float = 0.0
    ) -> list[Claim]:
        """Lease up to ``limit`` messages at once, in the order ``claim`` would give them."""
        agent = self._require_agent()
        target = agent if source is None else v.check_target(source, "source")
        if v.is_agent_id(target) and target != agent:
            raise InvalidInput(
                f"agent {agent!r} may claim from its own inbox or a queue, "
                f"not from {target!r}'s inbox"
            )
        v.check_batch(limit, "limit")
        wait = v.check_seconds("wait", wait, allow_zero=True)
        if wait > 0:
            return self._claim_waiting(agent, target, limit, wait)
        return self._claim(agent, target, limit)

    def extend(self, message_id: str, token: str, seconds: float | None = None) -> Claim:
        """Renew a lease to now + ``seconds`` (default: the message's ``timeout_seconds``).

        ``StaleLease`` when the token is not the current lease or the lease ran out.
        """
        secs = None if seconds is None else v.check_seconds("seconds", seconds)
        return self._extend(v.check_message_id(message_id), v.check_token(token), secs)

    def complete(
        self, message_id: str, token: str, *, claim_next: bool = False, wait: float = 0.0
    ) -> Claim | None:
        """Finish a claimed message.  ``StaleLease``/``AlreadyFinished`` leave no trace.

        With ``claim_next``, the same atomic step also leases the next message of the
        finished message's target (its queue, or this agent's inbox) and returns it, or
        ``None``; ``wait`` then waits for one as ``claim`` does (SPEC CLAIM-009).
        """
        chained = int(v.check_flag("claim_next", claim_next))
        claims = self.complete_many([(message_id, token)], claim_next=chained, wait=wait)
        return claims[0] if claims else None

    def complete_many(
        self, items: Iterable[tuple[str, str]], *, claim_next: int = 0, wait: float = 0.0
    ) -> list[Claim]:
        """Finish several claimed messages atomically: all, or none when one is refused.

        ``claim_next`` > 0 also leases up to that many messages of their (one) target in
        the same step, and returns them (CLAIM-009)."""
        pairs = [(v.check_message_id(m), v.check_token(t)) for m, t in v.check_pairs(items)]
        v.check_batch(len(pairs), "items (a batch)")
        then = self._then(claim_next, wait)
        return self._next_claims(then, wait, self._complete(pairs, then))

    if TYPE_CHECKING:  # the overloads are for type checkers only

        @overload
        def reply(
            self,
            message_id: str,
            token: str,
            payload: Any,
            *,
            status: ReplyStatus | str = ...,
            claim_next: Literal[False] = False,
            wait: float = 0.0,
        ) -> Reply: ...

        @overload
        def reply(
            self,
            message_id: str,
            token: str,
            payload: Any,
            *,
            status: ReplyStatus | str = ...,
            claim_next: Literal[True],
            wait: float = 0.0,
        ) -> Claim | None: ...

    def reply(
        self,
        message_id: str,
        token: str,
        payload: Any,
        *,
        status: ReplyStatus | str = ReplyStatus.SUCCESS,
        claim_next: bool = False,
        wait: float = 0.0,
    ) -> Reply | Claim | None:
        """Answer a claimed message and complete it, in one atomic step.

        With ``claim_next``, returns the next claim instead of the reply (see ``complete``).
        """
        sender = self._require_agent()
        text = v.encode_payload(payload, self.settings.max_payload_bytes)
        state = ReplyStatus.parse(status)
        then = self._then(int(v.check_flag("claim_next", claim_next)), wait)
        answer, found = self._reply(
            sender, v.check_message_id(message_id), v.check_token(token), text, state, then
        )
        return answer if then is None else _first(self._next_claims(then, wait, found))

    if TYPE_CHECKING:  # the overloads are for type checkers only

        @overload
        def fail(
            self,
            message_id: str,
            token: str,
            reason: str,
            *,
            retry: bool = True,
            claim_next: Literal[False] = False,
            wait: float = 0.0,
        ) -> Message: ...

        @overload
        def fail(
            self,
            message_id: str,
            token: str,
            reason: str,
            *,
            retry: bool = True,
            claim_next: Literal[True],
            wait: float = 0.0,
        ) -> Claim | None: ...

    def fail(
        self,
        message_id: str,
        token: str,
        reason: str,
        *,
        retry: bool = True,
        claim_next: bool = False,
        wait: float = 0.0,
    ) -> Message | Claim | None:
        """Give a claimed message up.  It is retried after a backoff while retries remain,
        else (or with ``retry=False``) dead-lettered with ``reason``.  Returns its new state,
        or with ``claim_next`` the next claim (see ``complete``)."""
        why = v.check_reason(reason)
        again = v.check_flag("retry", retry)
        then = self._then(int(v.check_flag("claim_next", claim_next)), wait)
        state, found = self._fail(
            v.check_message_id(message_id), v.check_token(token), why, again, then
        )
        return state if then is None else _first(self._next_claims(then, wait, found))

    if TYPE_CHECKING:  # the overloads are for type checkers only

        @overload
        def release(
            self,
            message_id: str,
            token: str,
            *,
            claim_next: Literal[False] = False,
            wait: float = 0.0,
        ) -> Message: ...

        @overload
        def release(
            self, message_id: str, token: str, *, claim_next: Literal[True], wait: float = 0.0
        ) -> Claim | None: ...

    def release(
        self, message_id: str, token: str, *, claim_next: bool = False, wait: float = 0.0
    ) -> Message | Claim | None:
        """Hand a claimed message back untouched: pending at once, no retry counted.
        With ``claim_next``, returns the next claim (see ``complete``): the released
        message itself when it is the best one there."""
        then = self._then(int(v.check_flag("claim_next", claim_next)), wait)
        state, found = self._release(v.check_message_id(message_id), v.check_token(token), then)
        return state if then is None else _first(self._next_claims(then, wait, found))

    # -- dead letters ------------------------------------------------------------------
    def dead_letters(self, *, limit: int = 100) -> list[Message]:
        """Dead-lettered messages, oldest first, each with ``last_error`` as the reason."""
        v.check_batch(limit, "limit")
        return self._dead_letters(limit)

    def replay(self, message_id: str) -> Message:
        """Return a dead letter to pending with a fresh retry budget; ``Conflict`` if not dead."""
        return self._replay(v.check_message_id(message_id))

    def purge_dead(self, message_ids: Sequence[str] | None = None) -> int:
        """Delete the named dead letters (all of them when ``None``); returns how many."""
        if message_ids is None:
            return self._purge_dead(None)
        named = v.check_list("message_ids", message_ids)
        return self._purge_dead([v.check_message_id(m, "message_ids") for m in named])

    # -- events ------------------------------------------------------------------------
    def publish(self, event_type: str, payload: Any, *, ttl: float | None = None) -> Event:
        """Record an event for every current subscriber of ``event_type``."""
        publisher = self._require_agent()
        kind = v.check_event_type(event_type)
        text = v.encode_payload(payload, self.settings.max_payload_bytes)
        secs = None if ttl is None else v.check_seconds("ttl", ttl)
        return self._publish(publisher, kind, text, secs)

    def subscribe(self, event_type: str) -> None:
        """Receive events of ``event_type`` published from now on.  Idempotent."""
        self._subscribe(self._require_agent(), v.check_event_type(event_type))

    def unsubscribe(self, event_type: str) -> None:
        """Stop receiving ``event_type``; events not yet read are dropped for this agent."""
        self._unsubscribe(self._require_agent(), v.check_event_type(event_type))

    def subscriptions(self) -> list[str]:
        """The event types this agent subscribes to, sorted."""
        return self._subscriptions(self._require_agent())

    def events(self, *, limit: int = 100, wait: float = 0.0) -> list[Event]:
        """The next unread events of this agent's subscriptions, in publish order.

        Each event is handed to a subscriber once: reading advances its cursor.  Events
        published while the subscriber was offline are delivered until they expire.
        """
        agent = self._require_agent()
        v.check_batch(limit, "limit")
        wait = v.check_seconds("wait", wait, allow_zero=True)
        return (
            self._wait_for(lambda: self._read_events(agent, limit) or None, wait, ("events", agent))
            or []
        )

    def tail_events(self, *, after: str | None = None, limit: int = 100) -> list[Event]:
        """Recent events of every type, for monitoring; reads no cursor and moves none."""
        v.check_batch(limit, "limit")
        start = None if after is None else v.check_message_id(after, "after", "event id")
        return self._tail_events(start, limit)

    # -- registry ------------------------------------------------------------------------
    def register(
        self,
        *,
        capabilities: Iterable[str] = (),
        process_id: int | None = None,
        max_concurrent: int = 5,
        ttl: float | None = None,
    ) -> AgentInfo:
        """Enter (or re-enter) this agent in the registry as active, with a heartbeat now."""
        agent = self._require_agent()
        named = v.check_list("capabilities", capabilities)
        caps = tuple(v.check_capability(c, "capabilities") for c in named)
        secs = v.check_seconds("ttl", self.settings.heartbeat_ttl if ttl is None else ttl)
        limit = v.check_count("max_concurrent", max_concurrent)
        pid = None if process_id is None else v.check_count("process_id", process_id)
        return self._register(agent, caps, pid, limit, secs)

    def heartbeat(self, *, load: int | None = None) -> AgentInfo:
        """Prove this agent alive now; ``NotFound`` if it never registered."""
        agent = self._require_agent()
        return self._heartbeat(agent, None if load is None else v.check_count("load", load))

    def deregister(self) -> None:
        """Mark this agent inactive (a clean exit).  Its unread inbox stays for its return."""
        self._deregister(self._require_agent())

    def agents(self, *, alive_only: bool = False) -> list[AgentInfo]:
        """The registry, sorted by agent id, each entry judged alive or not as of now."""
        only_alive = v.check_flag("alive_only", alive_only)
        found = self._agents()
        return [a for a in found if a.alive] if only_alive else found

    # -- maintenance -----------------------------------------------------------------------
    def sweep(self) -> int:
        """Settle what time has decided: expired leases are retried or dead-lettered, and
        overdue pending messages expire.  Returns how many messages changed.  Works in
        bounded atomic steps, so other agents go on meanwhile."""
        return self._sweep()

    def prune(self) -> dict[str, int]:
        """Delete what the retention settings no longer keep; returns counts per kind.
        Works in bounded atomic steps, so other agents go on meanwhile."""
        return self._prune()

    def stats(self) -> Stats:
        """Queue depths per target and status, lifetime counters, agent counts."""
        return self._stats()

    # -- shared helpers ------------------------------------------------------------------
    def _require_agent(self) -> str:
        if self.agent_id is None:
            raise ConfigurationError(
                "this operation needs an agent identity: connect(url, agent='@me') "
                "or --agent/AGENTCOMM_AGENT on the command line"
            )
        return self.agent_id

    def _send_items(self, items: list[object], *, indexed: bool) -> list[Message]:
        """Validate every item (a refusal names its place when ``indexed``), then send."""
        sender = self._require_agent()
        now = self.clock.now()
        v.check_batch(len(items), "messages (a batch)")
        prepared = [
            _prepared(i if indexed else None, m, self.settings, now) for i, m in enumerate(items)
        ]
        return self._send(sender, prepared, now)

    def _then(self, claim_next: int, wait: float) -> Then | None:
        """The next claim a finishing call asks for; ``None`` when it asks for none."""
        if isinstance(claim_next, bool) or not isinstance(claim_next, int) or claim_next < 0:
            raise InvalidInput(f"claim_next {claim_next!r} must be a count of messages (0: none)")
        seconds = v.check_seconds("wait", wait, allow_zero=True)
        if not claim_next:
            if seconds:
                raise InvalidInput(f"wait {wait!r} applies only with claim_next")
            return None
        v.check_batch(claim_next, "claim_next")
        return Then(self._require_agent(), claim_next, seconds)

    def _next_claims(self, then: Then | None, wait: float, found: Next | None) -> list[Claim]:
        """The claims a finishing call made; when there were none, wait for some as
        ``claim_many`` does (the finish itself is done and durable by now)."""
        if then is None or found is None:
            return []
        if found.claims or found.waited >= wait:
            return found.claims
        return self._claim_waiting(then.agent, found.target, then.limit, wait - found.waited)

    def _wait_for(self, attempt: Callable[[], T | None], wait: float, topic: Topic) -> T | None:
        """Call ``attempt`` until it returns something or ``wait`` seconds have passed."""
        deadline = self.clock.now() + wait
        while True:
            result = attempt()
            remaining = deadline - self.clock.now()
            if result is not None or remaining <= 0:
                return result
            self._await_change(remaining, topic)

    def _await_change(self, timeout: float, topic: Topic) -> None:
        """Block until ``topic`` may have news, or ``timeout``; backends do better.

        ``topic`` names what the caller waits for: ``("claim", target)``,
        ``("reply", request_id)`` or ``("events", agent)``."""
        self.clock.sleep(min(timeout, self.settings.poll_interval))

    # -- backend primitives (arguments already validated) ----------------------------------
    # Each is one atomic step of the store (one transaction, one script or function), and
    # raises only from the error tree (errors.py), tagged definite where nothing changed.
    @abc.abstractmethod
    def _send(self, sender: str, items: list[PreparedMessage], now: float) -> list[Message]:
        """Store every item as a pending message from ``sender``, all or none, in one atomic
        step; the stored messages, in order (SPEC MSG-001)."""

    @abc.abstractmethod
    def _get(self, message_id: str) -> Message:
        """The message as stored now; ``NotFound`` for an unknown id."""

    @abc.abstractmethod
    def _get_reply(self, request_id: str) -> Reply | None:
        """The request's one reply, ``None`` while there is none; ``NotFound`` for an
        unknown request (SPEC REQ-004)."""

    @abc.abstractmethod
    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        """Lease up to ``limit`` messages of ``target`` in one atomic step; [] when none."""

    def _claim_waiting(self, agent: str, target: str, limit: int, wait: float) -> list[Claim]:
        """``_claim``, waiting up to ``wait`` seconds for something to claim.  This polls
        (``_await_change``); a backend that can be woken does better."""
        found = self._wait_for(
            lambda: self._claim(agent, target, limit) or None, wait, ("claim", target)
        )
        return found or []

    @abc.abstractmethod
    def _extend(self, message_id: str, token: str, seconds: float | None) -> Claim:
        """Move the lease's end to now + ``seconds`` (its ``timeout_seconds`` when None);
        the holder only, refused in SPEC LEASE-003's order (LEASE-004)."""

    # The finishing primitives finish, then (when ``then`` is given) claim next, all in one
    # atomic step; a refusal of either part leaves everything as it was.
    @abc.abstractmethod
    def _complete(self, pairs: list[tuple[str, str]], then: Then | None) -> Next | None:
        """Complete every (id, token) pair, all or none (SPEC LEASE-001, CLAIM-008); the
        next claims when ``then`` asks (``None`` otherwise)."""

    @abc.abstractmethod
    def _reply(
        self,
        sender: str,
        message_id: str,
        token: str,
        payload_json: str,
        status: ReplyStatus,
        then: Then | None,
    ) -> tuple[Reply, Next | None]:
        """Store the request's one reply and complete it (SPEC REQ-003, REQ-004)."""

    @abc.abstractmethod
    def _fail(
        self, message_id: str, token: str, reason: str, retry: bool, then: Then | None
    ) -> tuple[Message, Next | None]:
        """Retry after a backoff, or bury as dead when ``retry`` is false or the retries
        are spent, answering a dead request (SPEC RETRY-001..003, REQ-007); the state."""

    @abc.abstractmethod
    def _release(
        self, message_id: str, token: str, then: Then | None
    ) -> tuple[Message, Next | None]:
        """Hand the message back pending at once, its retries untouched (SPEC LEASE-005)."""

    @abc.abstractmethod
    def _dead_letters(self, limit: int) -> list[Message]:
        """Up to ``limit`` dead messages, in the order they died (SPEC DLQ-001)."""

    @abc.abstractmethod
    def _replay(self, message_id: str) -> Message:
        """A dead message pending again with fresh retries; ``NotFound``, or ``Conflict``
        when it is not dead or is an answered request (SPEC DLQ-002, REQ-007)."""

    @abc.abstractmethod
    def _purge_dead(self, message_ids: list[str] | None) -> int:
        """Delete these dead messages (None: every one) with their replies; how many went.
        Ids that are unknown or not dead are left alone (SPEC DLQ-003)."""

    @abc.abstractmethod
    def _publish(
        self, publisher: str, event_type: str, payload_json: str, ttl: float | None
    ) -> Event:
        """Record the event, stamped now, for every subscriber, in one atomic step (SPEC
        EVT-001)."""

    @abc.abstractmethod
    def _subscribe(self, agent: str, event_type: str) -> None:
        """Deliver ``agent`` the events of ``event_type`` published from now on; again is
        a no-op (SPEC EVT-002)."""

    @abc.abstractmethod
    def _unsubscribe(self, agent: str, event_type: str) -> None:
        """Stop that delivery; a no-op when there was none (SPEC EVT-002)."""

    @abc.abstractmethod
    def _subscriptions(self, agent: str) -> list[str]:
        """The event types ``agent`` is subscribed to."""

    @abc.abstractmethod
    def _read_events(self, agent: str, limit: int) -> list[Event]:
        """Take up to ``limit`` of ``agent``'s undelivered, unexpired events in publish
        order; each is delivered once (SPEC EVT-003, EVT-004, ORD-002); [] when none."""

    @abc.abstractmethod
    def _tail_events(self, after: str | None, limit: int) -> list[Event]:
        """Events of every type in publish order, without consuming them: up to ``limit``
        after id ``after``, or the newest ``limit`` when it is None (SPEC EVT-005)."""

    @abc.abstractmethod
    def _register(
        self,
        agent: str,
        capabilities: tuple[str, ...],
        process_id: int | None,
        max_concurrent: int,
        ttl: float,
    ) -> AgentInfo:
        """Enter ``agent`` as active, alive for ``ttl`` seconds; again refreshes it (SPEC
        REG-001)."""

    @abc.abstractmethod
    def _heartbeat(self, agent: str, load: int | None) -> AgentInfo:
        """Keep ``agent`` alive for its ttl again, with its load when given; ``NotFound``
        when it is not registered (SPEC REG-002)."""

    @abc.abstractmethod
    def _deregister(self, agent: str) -> None:
        """Mark ``agent`` inactive with load 0, its entry kept until ``prune`` (SPEC
        REG-004)."""

    @abc.abstractmethod
    def _agents(self) -> list[AgentInfo]:
        """Every registered agent, sorted by id, each with whether it is alive now (SPEC
        REG-003)."""

    @abc.abstractmethod
    def _sweep(self) -> int:
        """Settle every lapsed lease (retry or bury) and expire overdue messages, in
        bounded steps; how many messages changed (SPEC RETRY-001, EXP-001)."""

    @abc.abstractmethod
    def _prune(self) -> dict[str, int]:
        """Delete what the retention settings no longer keep, in bounded steps; how many
        of each kind went (``messages``, ``replies``, ``events``, ``agents``)."""

    @abc.abstractmethod
    def _stats(self) -> Stats:
        """Depths per target and status, the lifetime counters, and agent counts, as one
        consistent reading."""


def new_correlation_id() -> str:
    """A fresh correlation id as SPEC REQ-001 spells one: ``req_`` and 32 hex digits."""
    # 128 random bits, as uuid4 draws them; importing uuid costs a CLI call 2-3 ms.
    return f"req_{os.urandom(16).hex()}"


def next_source_refusal(agent: str, targets: list[str]) -> InvalidInput | None:
    """Why the messages finished with ``claim_next`` give no source to claim from (SPEC
    CLAIM-009), or ``None``: they must share one target, a queue or ``agent``'s inbox."""
    source = targets[0]
    if any(t != source for t in targets):
        return InvalidInput(
            f"claim_next needs the finished messages to share one target, "
            f"not {sorted(set(targets))}"
        )
    if v.is_agent_id(source) and source != agent:
        return InvalidInput(
            f"agent {agent!r} may claim from its own inbox or a queue, not from {source!r}'s inbox"
        )
    return None


def _prepared(
    index: int | None, item: object, settings: HubSettings, now: float
) -> PreparedMessage:
    """One message to send; a refusal names its place in the list (``index``), if any."""
    if not isinstance(item, Outgoing):
        raise InvalidInput(
            f"messages[{index}] must be an Outgoing, got {type(item).__name__} {item!r:.60}"
        )
    if index is None:
        return PreparedMessage(item, settings, now)
    try:
        return PreparedMessage(item, settings, now)
    except InvalidInput as exc:
        raise InvalidInput(f"messages[{index}]: {exc}") from None


def _first(claims: list[Claim]) -> Claim | None:
    return claims[0] if claims else None


DEFAULT_SOURCE = DEFAULT_QUEUE
