"""The design's agent loop as one process; ``agentcomm agent run`` is a thin wrapper.

The design's bash loop registers, heartbeats, reads its inbox, dispatches on the message
type, replies, reads its events, sleeps 30 s, and marks itself inactive on SIGTERM.  The
runner keeps that shape with three changes a shell loop cannot easily make:

* it *claims* messages (a lease and a token), so a message being handled when the agent
  dies comes back to another agent instead of being lost, and it extends the lease while
  a slow handler runs;
* handlers are programs (``TYPE=CMD``) split with shlex and run without a shell, the
  payload on stdin: nothing from a message is ever executed or put on a command line;
* it waits on the hub (a short claim wait) instead of sleeping, so it answers at once and
  still stops within two seconds of SIGTERM.

One thread, no locks: signal handlers only set a flag that the loop reads between steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from agentcomm import validation as v
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

__all__ = [
    "EX_DATAERR",
    "AgentConfig",
    "AgentRunner",
    "Finished",
    "StopFlag",
    "Summary",
    "parse_handler",
    "pause",
    "run_child",
    "signal_ready",
    "stop_on_signals",
]

EX_DATAERR = 65
"""sysexits.h: the input was bad.  A handler exiting with it dead-letters the message."""
POLL_STEP = 0.2
"""How often a running handler is checked on; bounds how late a stop request is noticed."""
TERMINATE_GRACE = 1.0
"""Seconds a handler gets between SIGTERM and SIGKILL."""
STDERR_TAIL = 1000
BACKEND_PAUSE = 1.0
"""Pause after the store was unavailable, so a locked hub is not hammered."""

Argv = tuple[str, ...]


def parse_handler(spec: str, *, event: bool = False) -> tuple[str, Argv]:
    """``TYPE=CMD`` -> (type, argv).  CMD is split with shlex and its program must exist."""
    kind, sep, command = spec.partition("=")
    check = v.check_event_type if event else v.check_message_type
    if not sep:
        raise InvalidInput(f"handler {spec!r} is not TYPE=CMD")
    try:
        argv = tuple(shlex.split(command))
    except ValueError as exc:
        raise InvalidInput(f"handler command {command!r} cannot be split: {exc}") from None
    if not argv:
        raise InvalidInput(f"handler {spec!r} names no command")
    if shutil.which(argv[0]) is None:
        raise ConfigurationError(f"handler program {argv[0]!r} for {kind!r} is not executable")
    return check(kind), argv


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


class StopFlag:
    """Set by SIGINT/SIGTERM.  The handler only records the signal: raising from it could
    cut a hub call in half, so the loop looks at the flag between steps instead."""

    def __init__(self) -> None:
        self.signal: int | None = None

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def set(self, signum: int, _frame: object = None) -> None:
        self.signal = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopFlag]:
    """A StopFlag wired to SIGINT and SIGTERM for the duration of the block."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag  # only the main thread may install handlers; callers stop otherwise
        return
    previous = {s: signal.signal(s, flag.set) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def pause(stop: StopFlag, seconds: float) -> None:
    """Sleep up to ``seconds``, waking within POLL_STEP of a stop request."""
    until = time.monotonic() + seconds
    while not stop.requested and (left := until - time.monotonic()) > 0:
        time.sleep(min(left, POLL_STEP))


class Every:
    """A periodic chore on the monotonic clock: ``due()`` is true once per period."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next = time.monotonic() + period

    def stop(self) -> None:
        self.next = float("inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now < self.next:
            return False
        self.next = now + self.period
        return True


@dataclasses.dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: bytes
    stderr: bytes


def run_child(
    argv: Argv,
    stdin: bytes,
    env: Mapping[str, str],
    keep_going: Callable[[], bool],
    step: float = POLL_STEP,
) -> Finished | None:
    """Run ``argv`` to completion, calling ``keep_going()`` every ``step`` seconds.

    Returns None when ``keep_going`` said stop (the child is then terminated); a program
    that cannot be started exits 127, as in a shell.  The input
    comes from a temporary file, not a pipe: a timed-out ``communicate`` can be resumed for
    output but would never finish writing input, and a file needs no writer.
    """
    with tempfile.TemporaryFile() as feed:
        feed.write(stdin)
        feed.seek(0)
        # A session of its own: SIGTERM reaches the handler's children, and a Ctrl-C meant
        # for the agent reaches only the agent, which then stops the handler itself.
        try:
            proc = subprocess.Popen(
                argv,
                stdin=feed,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(env),
                start_new_session=True,
            )
        except OSError as exc:  # reported like a shell's 127, so it is retried like a failure
            return Finished(127, b"", f"cannot start {argv[0]!r}: {exc}".encode())
    with proc:
        try:
            return _supervise(proc, keep_going, step)
        except BaseException:
            _terminate(proc)
            raise


def _supervise(
    proc: subprocess.Popen[bytes], keep_going: Callable[[], bool], step: float
) -> Finished | None:
    # communicate() rather than wait(): it drains both pipes, so a chatty handler cannot
    # block on a full pipe while we wait for it.
    while True:
        try:
            out, err = proc.communicate(timeout=step)
        except subprocess.TimeoutExpired:
            if keep_going():
                continue
            _terminate(proc)
            return None
        return Finished(proc.returncode, out, err)


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the handler's process group; SIGKILL it after TERMINATE_GRACE."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.communicate(timeout=TERMINATE_GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signum)


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
            _stdin(claim.message.payload),
            self._message_env(claim.message),
            lambda: self._keep_handling(claim, renew),
            step,
        )
        if result is None:
            return self._release(claim) if self.stop.requested else Outcome.LOST
        if result.returncode == 0:
            return self._reply(
                claim, _output_payload(result.stdout), ReplyStatus.SUCCESS, Outcome.REPLIED
            )
        reason = _failure_reason(result)
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
        result = run_child(argv, _stdin(event.payload), self._event_env(event), self._keep_idle)
        ok = result is not None and result.returncode == 0
        self.summary.events += ok
        self.summary.event_failures += not ok
        error = None if ok or result is None else _failure_reason(result)
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


def signal_ready(path: str, line: str, stop: StopFlag) -> None:
    """Write ``line`` to ``path``: into it if it is a FIFO (once a reader has it open,
    so ``read -r line < PATH`` waits for readiness without polling), else as a new file
    that appears whole (written aside, then renamed)."""
    try:
        if stat.S_ISFIFO(os.stat(path).st_mode):
            _write_fifo(path, line.encode("utf-8"), stop)
            return
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path!r}: {exc}") from None
    aside = f"{path}.{os.getpid()}.tmp"
    try:
        with open(aside, "w", encoding="utf-8") as out:
            out.write(line)
        os.replace(aside, path)
    except OSError as exc:
        raise ConfigurationError(f"cannot write the ready file {path!r}: {exc}") from None


def _write_fifo(path: str, data: bytes, stop: StopFlag) -> None:
    # Non-blocking: a FIFO nobody reads yet must not keep a SIGTERM from stopping us.
    while not stop.requested:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
            time.sleep(POLL_STEP)
            continue
        try:
            os.write(fd, data)  # one line, under PIPE_BUF: written whole
        finally:
            os.close(fd)
        return


def _stdin(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _output_payload(stdout: bytes) -> Any:
    """A handler's answer: its stdout as JSON, else as a string; nothing at all is null."""
    text = stdout.decode("utf-8", errors="replace").removesuffix("\n")
    if not text:
        return None
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError:
        return text


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _failure_reason(result: Finished) -> str:
    code = result.returncode
    how = f"handler exited {code}"
    if code < 0:
        with contextlib.suppress(ValueError):
            how = f"handler killed by {signal.Signals(-code).name}"
    return f"{how}: {result.stderr.decode('utf-8', errors='replace')[-STDERR_TAIL:]}"
