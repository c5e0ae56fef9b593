"""``AgentRunner``: the loop itself, with what it was asked to do and what it counts.

Registers, heartbeats, claims from its sources in turn, dispatches each message to its
handler (``child.py`` runs it), replies or fails, handles events, sweeps and prunes, and
deregisters when stopped.  The waiting and stopping is ``control.py``'s.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

from agentcomm import validation as v
from agentcomm.agent.child import (
    EX_DATAERR,
    Argv,
    failure_reason,
    output_payload,
    run_child,
    stdin_for,
)
from agentcomm.agent.control import POLL_STEP, Every, StopFlag, pause, signal_ready
from agentcomm.api import Hub
from agentcomm.errors import (
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    InvalidInput,
    NotFound,
)
from agentcomm.models import Claim, Event, Message, ReplyStatus, Status
from agentcomm.urls import ENV_AGENT, ENV_URL

__all__ = ["AgentConfig", "AgentRunner", "Outcome", "Summary"]

BACKEND_PAUSE = 1.0
"""Pause after the store was unavailable, so a locked hub is not hammered."""


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """What ``agent run`` was asked to do; the defaults are its command line defaults."""

    handlers: Mapping[str, Argv] = dataclasses.field(default_factory=dict)
    event_handlers: Mapping[str, Argv] = dataclasses.field(default_factory=dict)
    queues: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    heartbeat_every: float = 10.0
    max_messages: int | None = None
    idle_exit: float | None = None
    url: str | None = None  # handed to handlers as AGENTCOMM_URL
    ready_file: str | None = None  # gets the "started" line once registered and subscribed
    claim_wait: float = 0.25
    sweep_every: float = 5.0
    prune_every: float = 600.0


@dataclasses.dataclass
class Summary:
    """The counts ``agent run`` prints when it stops."""

    agent: str
    handled: int = 0  # answered with a success reply
    failed: int = 0  # error reply, retry, dead letter, or lease lost
    released: int = 0  # handed back untouched because the agent was stopping
    events: int = 0  # events whose handler succeeded
    event_failures: int = 0


class Outcome(str, enum.Enum):
    REPLIED = "replied"
    REJECTED = "unknown_type"
    RETRYING = "retrying"
    DEAD = "dead"
    RELEASED = "released"
    LOST = "lease_lost"


class AgentRunner:
    """The loop: ``AgentRunner(hub, config, stop).run()`` until stopped; returns a Summary."""

    def __init__(
        self, hub: Hub, config: AgentConfig, stop: StopFlag, log: IO[str] | None = None
    ) -> None:
        if hub.agent_id is None:
            raise ConfigurationError("agent run needs an agent id")
        self.hub, self.config, self.stop = hub, config, stop
        self.summary = Summary(hub.agent_id)
        self._log = log or sys.stderr
        self._sources: list[str | None] = [None, *config.queues]  # None: own inbox
        self._waiting_on = 0
        self._busy = False
        self._chained: Claim | None = None  # leased by the last reply (SPEC CLAIM-009)
        self._chains = "claim_next" in hub.capabilities
        self._heartbeat = Every(config.heartbeat_every)
        self._sweep = Every(config.sweep_every)
        self._prune = Every(config.prune_every)
        self._last_activity = time.monotonic()

    def run(self) -> Summary:
        self._start()
        try:
            while not self._should_stop():
                self._turn()
        finally:
            self._finish()
        return self.summary

    # -- lifecycle -------------------------------------------------------------------------
    def _start(self) -> None:
        # Subscribe before registering: once the registry shows the agent alive, events
        # published from then on reach it.
        for kind in self.config.event_handlers:
            self.hub.subscribe(kind)
        self._register()
        started = self._note(
            "started",
            pid=os.getpid(),
            queues=list(self.config.queues),
            handlers=sorted(self.config.handlers),
            events=sorted(self.config.event_handlers),
        )
        if self.config.ready_file is not None:
            signal_ready(self.config.ready_file, started, self.stop)

    def _register(self) -> None:
        ttl = max(self.hub.settings.heartbeat_ttl, 3 * self.config.heartbeat_every)
        capabilities = sorted({*self.config.handlers, *self.config.capabilities})
        self.hub.register(capabilities=capabilities, process_id=os.getpid(), ttl=ttl)

    def _finish(self) -> None:
        if self._chained is not None:  # leased along with the last reply, never handled
            self._release(self._chained)
            self._chained = None
        try:
            self.hub.deregister()
        except (BackendUnavailable, NotFound) as exc:
            self._note("deregister_failed", error=str(exc))
        self._note("stopped", **dataclasses.asdict(self.summary))

    def _should_stop(self) -> bool:
        done = self.summary.handled + self.summary.failed
        limit, idle = self.config.max_messages, self.config.idle_exit
        return (
            self.stop.requested
            or (limit is not None and done >= limit)
            or (idle is not None and time.monotonic() - self._last_activity >= idle)
        )

    def _turn(self) -> None:
        try:
            self._chores()
            worked = self._handle_events()
            worked += self._handle_next_message(wait=not worked)
        except BackendUnavailable as exc:
            self._note("backend_unavailable", error=str(exc))
            pause(self.stop, BACKEND_PAUSE)
            return
        if worked:
            self._last_activity = time.monotonic()

    def _chores(self) -> None:
        if self._heartbeat.due():
            self._beat()
        if self._sweep.due():
            self._maintain(self._sweep, "sweep", self.hub.sweep)
        if self._prune.due():
            self._maintain(self._prune, "prune", self.hub.prune)

    def _maintain(self, every: Every, chore: str, run: Callable[[], object]) -> None:
        """Sweeping and pruning touch every agent's keys; credentials confined to this
        agent's own (the Redis ACL recipe) may not, and then the operator's cron does it."""
        try:
            run()
        except ConfigurationError as exc:
            self._note(f"{chore}_not_allowed", error=str(exc))
            every.stop()  # once is enough to say so

    def _beat(self) -> None:
        try:
            self.hub.heartbeat(load=int(self._busy))
        except NotFound:  # pruned from the registry while idle: come back
            self._register()
        except BackendUnavailable as exc:  # one missed beat is harmless; never kill a handler
            self._note("heartbeat_failed", error=str(exc))

    # -- messages --------------------------------------------------------------------------
    def _handle_next_message(self, *, wait: bool) -> int:
        claim = self._next_claim(wait)
        if claim is None:
            return 0
        self._busy = True
        try:
            self._handle(claim)
        finally:
            self._busy = False
        return 1

    def _next_claim(self, wait: bool) -> Claim | None:
        """The message the last reply leased, if any; else look at every source once, then
        wait briefly on one of them (in turn)."""
        chained, self._chained = self._chained, None
        if chained is not None:
            return chained
        waited = self._sources[self._waiting_on % len(self._sources)]
        for source in self._sources:
            if source != waited and (claim := self.hub.claim(source)) is not None:
                return claim
        claim = self.hub.claim(waited, wait=self.config.claim_wait if wait else 0.0)
        if claim is None:
            self._waiting_on += 1
        return claim

    def _handle(self, claim: Claim) -> None:
        started = time.monotonic()
        message = claim.message
        argv = self.config.handlers.get(message.type)
        outcome = self._reject(claim) if argv is None else self._dispatch(claim, argv)
        self._tally(outcome)
        self._note(
            "message",
            id=message.id,
            type=message.type,
            from_agent=message.from_agent,
            retry_count=message.retry_count,
            outcome=outcome.value,
            seconds=round(time.monotonic() - started, 3),
        )

    def _tally(self, outcome: Outcome) -> None:
        if outcome is Outcome.REPLIED:
            self.summary.handled += 1
        elif outcome is Outcome.RELEASED:
            self.summary.released += 1
        else:
            self.summary.failed += 1

    def _reject(self, claim: Claim) -> Outcome:
        answer = {"error": "unknown_message_type", "type": claim.message.type}
        return self._reply(claim, answer, ReplyStatus.ERROR, Outcome.REJECTED)

    def _dispatch(self, claim: Claim, argv: Argv) -> Outcome:
        renew = Every(claim.message.timeout_seconds / 3)
        step = max(0.01, min(POLL_STEP, claim.message.timeout_seconds / 6))
        result = run_child(
            argv,
            stdin_for(claim.message.payload),
            self._message_env(claim.message),
            lambda: self._keep_handling(claim, renew),
            step,
        )
        if result is None:
            return self._release(claim) if self.stop.requested else Outcome.LOST
        if result.returncode == 0:
            return self._reply(
                claim, output_payload(result.stdout), ReplyStatus.SUCCESS, Outcome.REPLIED
            )
        reason = failure_reason(result)
        return self._fail(claim, reason, retry=result.returncode != EX_DATAERR)

    def _keep_handling(self, claim: Claim, renew: Every) -> bool:
        """Between polls of a running handler: heartbeat, renew the lease, heed a stop."""
        if self.stop.requested:
            return False
        if self._heartbeat.due():
            self._beat()
        if not renew.due():
            return True
        try:
            self.hub.extend(claim.id, claim.token)
        except BackendUnavailable as exc:  # the lease may still hold: try again next time
            self._note("extend_failed", id=claim.id, error=str(exc))
        except Conflict as exc:  # someone else owns it now: our work would be discarded
            self._note("lease_lost", id=claim.id, error=str(exc))
            return False
        return True

    def _reply(self, claim: Claim, payload: Any, status: ReplyStatus, outcome: Outcome) -> Outcome:
        try:
            if self._may_chain():  # reply and lease the next of the same source at once
                self._chained = self.hub.reply(
                    claim.id, claim.token, payload, status=status, claim_next=True
                )
            else:
                self.hub.reply(claim.id, claim.token, payload, status=status)
        except InvalidInput as exc:  # e.g. output over the payload limit: it will not shrink
            return self._fail(claim, f"handler output rejected: {exc}", retry=False)
        except Conflict as exc:
            self._note("lease_lost", id=claim.id, error=str(exc))
            return Outcome.LOST
        return outcome

    def _may_chain(self) -> bool:
        """Lease the next message along with a reply, unless the agent is about to stop."""
        limit = self.config.max_messages
        done = self.summary.handled + self.summary.failed + 1  # counting this one
        return self._chains and not self.stop.requested and (limit is None or done < limit)

    def _fail(self, claim: Claim, reason: str, *, retry: bool) -> Outcome:
        try:
            message = self.hub.fail(
                claim.id, claim.token, reason[: v.MAX_REASON_LENGTH], retry=retry
            )
        except Conflict as exc:
            self._note("lease_lost", id=claim.id, error=str(exc))
            return Outcome.LOST
        return Outcome.DEAD if message.status is Status.DEAD else Outcome.RETRYING

    def _release(self, claim: Claim) -> Outcome:
        try:
            self.hub.release(claim.id, claim.token)
        except Conflict as exc:
            self._note("lease_lost", id=claim.id, error=str(exc))
            return Outcome.LOST
        return Outcome.RELEASED

    # -- events ----------------------------------------------------------------------------
    def _handle_events(self) -> int:
        """One event per turn: reading moves the cursor, so fewer are lost on a stop."""
        if not self.config.event_handlers:
            return 0
        events = self.hub.events(limit=1)
        for event in events:
            self._handle_event(event)
        return len(events)

    def _handle_event(self, event: Event) -> None:
        argv = self.config.event_handlers.get(event.event_type)
        if argv is None:  # subscribed by an earlier run, not handled by this one
            self._note("event_skipped", id=event.id, type=event.event_type)
            return
        result = run_child(argv, stdin_for(event.payload), self._event_env(event), self._keep_idle)
        ok = result is not None and result.returncode == 0
        self.summary.events += ok
        self.summary.event_failures += not ok
        error = None if ok or result is None else failure_reason(result)
        self._note(
            "event",
            id=event.id,
            type=event.event_type,
            publisher=event.publisher,
            ok=ok,
            **({"error": error} if error else {}),
        )

    def _keep_idle(self) -> bool:
        if self._heartbeat.due():
            self._beat()
        return not self.stop.requested

    # -- helpers ---------------------------------------------------------------------------
    def _base_env(self) -> dict[str, str]:
        env = {**os.environ, ENV_AGENT: self.summary.agent}
        if self.config.url:
            env[ENV_URL] = self.config.url
        return env

    def _message_env(self, message: Message) -> dict[str, str]:
        return {
            **self._base_env(),
            "AGENTCOMM_MESSAGE_ID": message.id,
            "AGENTCOMM_FROM": message.from_agent,
            "AGENTCOMM_TO": message.to_agent,
            "AGENTCOMM_TYPE": message.type,
            "AGENTCOMM_CORRELATION_ID": message.correlation_id or "",
            "AGENTCOMM_PRIORITY": message.priority.name.lower(),
            "AGENTCOMM_RETRY_COUNT": str(message.retry_count),
            "AGENTCOMM_MAX_RETRIES": str(message.max_retries),
        }

    def _event_env(self, event: Event) -> dict[str, str]:
        return {
            **self._base_env(),
            "AGENTCOMM_EVENT_ID": event.id,
            "AGENTCOMM_EVENT_TYPE": event.event_type,
            "AGENTCOMM_PUBLISHER": event.publisher,
            "AGENTCOMM_PUBLISHED_AT": repr(event.published_at),
        }

    def _note(self, what: str, **fields: Any) -> str:
        """One JSON line on the log (stderr): stdout is kept for the final summary."""
        fields = {"ts": round(time.time(), 3), "agent": self.summary.agent, "log": what, **fields}
        line = json.dumps(fields, ensure_ascii=False) + "\n"
        self._log.write(line)
        self._log.flush()
        return line
