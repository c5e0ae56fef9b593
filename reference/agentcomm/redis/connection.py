"""Reaching the Redis server: the client, the checks made at open, and retries.

One connection per hub handle (a handle belongs to one agent).  Commands are never
retried by redis-py: a command that was sent and then lost its connection may have
taken effect, so only this module decides (``failures`` says what each failure means).
It retries, with doubling pauses and within a time budget per call, only what certainly
ran nothing: nothing was sent (the server could not be reached), the server refused
the command unrun (LOADING, BUSY), or the command only reads.  So a call to a server
that stopped answering fails within ``socket_timeout`` (plus its own wait), never after
a series of timeouts.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import redis

# hiredis (in the redis extra) packs a command in C; redis-py's packer costs several times more
from hiredis import pack_command
from redis.backoff import NoBackoff
from redis.retry import Retry

from agentcomm.clock import Clock
from agentcomm.errors import AgentCommError, BackendUnavailable, ConfigurationError
from agentcomm.redis import failures, scripts
from agentcomm.urls import HubURL

T = TypeVar("T")

MIN_VERSION = (7, 0)
"""Functions (FUNCTION LOAD, FCALL) need Redis 7.0."""

FIRST_PAUSE, LONGEST_PAUSE = 0.05, 1.0
"""Retries wait 0.05 s, then twice as long each time, at most 1 s."""

PERSISTENCE_CHOICES = ("warn", "require", "ignore")

_FAKE_SERVERS: dict[str, Any] = {}
_FAKE_LOCK = threading.Lock()


class DurabilityWarning(UserWarning):
    """The Redis server may lose acknowledged messages (no append-only file, eviction)."""

    code = "durability"  # the command line prints {"warning": "durability", ...}


class Connection:
    """The handle's client, with the retry policy and the error mapping."""

    def __init__(self, where: HubURL, clock: Clock) -> None:
        self.where = where
        self.clock = clock
        self.fake = where.scheme == "fakeredis"
        self.closed = False
        self._loaded = False  # a function ran: the server has the library
        self.client = _fake_client(where) if self.fake else self._open_client()

    def close(self) -> None:
        self.closed = True
        self.client.close()

    @property
    def link(self) -> redis.connection.AbstractConnection:
        """The one connection of this handle's client."""
        assert self.client.connection is not None  # single_connection_client
        return self.client.connection

    def call(self, command: Callable[[], T], *, reads_only: bool = False) -> T:
        """Run ``command`` and map every error.  Within the call's time budget
        (``socket_timeout``), retry while the server cannot be reached, while it refuses
        a command it did not run but soon will (LOADING after a restart, BUSY), and after
        a lost connection when ``command`` only reads; a write that reached the server is
        never repeated.  So a call fails within its budget plus one command's timeout."""
        budget, attempt = _Budget(self.where.settings.socket_timeout), 0
        while True:
            sent = False
            try:
                if self.closed:
                    raise redis.ConnectionError("closed by this process")
                self._ready()
                sent = True
                return command()
            except redis.AuthenticationError as exc:  # a ConnectionError: never retried
                raise self._credentials(exc) from exc
            except (redis.ResponseError, redis.BusyLoadingError) as exc:
                if not failures.passes(exc):
                    raise failures.refusal(exc, self.where.redacted) from exc
                failure: AgentCommError = failures.refusal(exc, self.where.redacted)
                failure.__cause__, retry = exc, True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if self.closed:
                    raise BackendUnavailable(
                        f"the hub handle on {self.where.redacted} is closed"
                    ) from exc
                self.link.disconnect()
                writes = not reads_only
                failure = failures.lost(
                    exc, self.where.redacted, sent=sent, writes=writes, attempts=attempt + 1
                )
                failure.__cause__ = exc
                retry = not (sent and writes) and attempt < self.where.settings.reconnect_attempts
            if not (retry and budget.pause(attempt)):
                raise failure
            attempt += 1

    def script(self, name: str, args: Sequence[Any]) -> Any:
        """Run the hub's function ``name`` with ``args``: FCALL, and when the server does
        not have the library (nothing ran, so repeating is safe) FUNCTION LOAD, then again."""
        command = scripts.fcall_command(name, args)
        try:
            result = self._execute(command)
        except redis.ResponseError as exc:
            if not _function_missing(exc):
                raise
            self.load_library()
            result = self._execute(command)
        self._loaded = True
        return result

    def script_and_block(
        self, name: str, args: Sequence[Any], box: str, block: float
    ) -> tuple[Any, str | None]:
        """Run function ``name`` and, right behind it in the same round trip, BLPOP ``box``
        for up to ``block`` seconds: the function leaves an item in the box whenever it
        answers without registering a waiter, so the BLPOP waits only while the caller
        should.  The function's result, and the box's item (None after ``block``)."""
        wait = ("BLPOP", box, block)
        if self.fake or not self._loaded:  # the first call may have to load the library
            result = self.script(name, args)
            return result, _popped(self._execute(wait))
        answers = self._execute_many([scripts.fcall_command(name, args), wait])
        return answers[0], _popped(answers[1])

    def load_library(self) -> None:
        """FUNCTION LOAD the hub's library, unless the server has it already."""
        try:
            self._execute(scripts.load_command())
        except redis.ResponseError as exc:
            if "already exists" not in str(exc):  # loaded before, or by another handle
                raise

    def _execute(self, command: tuple[Any, ...]) -> Any:
        """One command on the handle's connection, straight to the wire: the client's
        retries, callbacks and per-argument encoding cost more than the scripts run."""
        if self.fake:
            return self.client.execute_command(*command)
        link = self.link
        link.send_packed_command([pack_command(command)], check_health=False)
        return link.read_response()

    def _execute_many(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Several commands in one write; every answer is read before the first error is
        raised, so the connection stays in step."""
        link = self.link
        link.send_packed_command([pack_command(c) for c in commands], check_health=False)
        answers: list[Any] = []
        refused: redis.ResponseError | None = None
        for _ in commands:
            try:
                answers.append(link.read_response())
            except redis.ResponseError as exc:
                refused = refused or exc
                answers.append(None)
        if refused is not None:
            raise refused
        return answers

    def _open_client(self) -> redis.Redis:
        """The client, connected (redis-py connects a single-connection client at once),
        with the same retries and budget as ``call``."""
        budget, attempt = _Budget(self.where.settings.socket_timeout), 0
        while True:
            try:
                return _real_client(self.where)
            except redis.AuthenticationError as exc:
                raise self._credentials(exc) from exc
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                failure = failures.lost(
                    exc, self.where.redacted, sent=False, writes=False, attempts=attempt + 1
                )
                if attempt >= self.where.settings.reconnect_attempts or not budget.pause(attempt):
                    raise failure from exc
            except redis.exceptions.InvalidResponse as exc:
                raise failures.foreign(exc, self.where.redacted) from exc
            attempt += 1

    def _credentials(self, exc: Exception) -> ConfigurationError:
        return ConfigurationError(
            f"the Redis server at {self.where.redacted} refused the credentials: {exc}"
        )

    def _ready(self) -> None:
        """Connect, or reconnect when the server closed the idle connection meanwhile, so
        that a command is only sent on a live connection (and a failure to reach the
        server is known to have had no effect)."""
        conn = self.link
        if self.fake:
            return
        # can_read() connects a closed connection itself: probe only an open one, or a
        # server that stopped answering would cost a second handshake's timeout.
        if getattr(conn, "_sock", None) is not None:
            try:
                if conn.can_read(timeout=0):  # EOF or stray bytes on an idle connection
                    conn.disconnect()
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                conn.disconnect()
        conn.connect()

    # -- checks at open ---------------------------------------------------------------------
    def check_server(self) -> None:
        """A server too old for the hub's commands is a configuration error, and one that
        may lose acknowledged data is reported as ``persistence`` says.  One round trip:
        a single INFO, whose default sections hold the version and the persistence and
        memory settings (``INFO server``, ``persistence`` and ``memory`` would be three)."""
        choice = self.where.options.get("persistence", "warn")
        if choice not in PERSISTENCE_CHOICES:
            raise ConfigurationError(
                f"hub option persistence={choice!r} is not one of {', '.join(PERSISTENCE_CHOICES)}"
            )
        try:
            server, info = self.call(self._info, reads_only=True)
        except redis.exceptions.InvalidResponse as exc:
            raise failures.foreign(exc, self.where.redacted) from exc
        version = _version(info)
        if server == "redis" and version < MIN_VERSION:
            raise ConfigurationError(
                f"the Redis server at {self.where.redacted} is version "
                f"{'.'.join(map(str, version))}; agentcomm needs "
                f"{'.'.join(map(str, MIN_VERSION))} or later (Redis functions)"
            )
        if choice != "ignore" and server != "fake":
            self._report(
                _durability_risks(info)
                if server == "redis"
                else ["its persistence cannot be checked (the user may not run INFO)"],
                choice,
            )

    def _info(self) -> tuple[str, dict[str, Any]]:
        """("redis", INFO's fields); ("unknown", {}) when the user may not run INFO;
        ("fake", {}) from a fakeredis that knows no INFO."""
        try:
            return "redis", self.client.info()
        except redis.exceptions.NoPermissionError:
            return "unknown", {}
        except redis.ResponseError as exc:
            if "unknown command" in str(exc).lower():
                return "fake", {}
            raise

    def _report(self, risks: list[str], choice: str) -> None:
        if not risks:
            return
        text = (
            f"the Redis server at {self.where.redacted}: "
            + "; ".join(risks)
            + " (hub option persistence=ignore silences this)"
        )
        if choice == "require":
            raise ConfigurationError(text.replace("ignore silences this", "require refuses it"))
        warnings.warn(text, DurabilityWarning, stacklevel=4)


def _popped(answer: Any) -> str | None:
    """The item of a BLPOP's ``[key, item]`` answer; None when it timed out."""
    return None if answer is None else str(answer[1])


class _Budget:
    """The real time one call may spend on retries: ``seconds`` from its start.  Real
    time, not the hub's clock: it bounds waits on the network, which a manual clock
    does not see."""

    __slots__ = ("deadline",)

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def pause(self, attempt: int) -> bool:
        """Wait before retry ``attempt`` + 1; False, without waiting, when the pause would
        end past the budget."""
        pause = min(FIRST_PAUSE * 2**attempt, LONGEST_PAUSE)
        if time.monotonic() + pause > self.deadline:
            return False
        time.sleep(pause)
        return True


def _function_missing(exc: redis.ResponseError) -> bool:
    return "function not found" in str(exc).lower()


def _version(info: dict[str, Any]) -> tuple[int, ...]:
    digits = str(info.get("redis_version", "0")).split(".")
    return tuple(int(d) for d in digits if d.isdigit())


def _durability_risks(info: dict[str, Any]) -> list[str]:
    risks = []
    if not int(info.get("aof_enabled", 0)):
        risks.append(
            "it keeps no append-only file (appendonly no): a restart loses acknowledged messages"
        )
    policy = str(info.get("maxmemory_policy", "noeviction"))
    if policy != "noeviction":
        risks.append(f"its maxmemory-policy is {policy}: it may evict messages")
    return risks


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _real_client(where: HubURL) -> redis.Redis:
    settings = where.settings
    scheme = "redis" if where.scheme == "hybrid" else where.scheme
    path = where.url.partition("://")[2].partition("?")[0]
    tls = {k: v for k, v in where.options.items() if k.startswith("ssl_")}
    if tls and scheme != "rediss":
        raise ConfigurationError(
            f"TLS options {sorted(tls)} need a rediss:// URL, not {where.redacted!r}"
        )
    try:
        pool = _Pool.from_url(
            f"{scheme}://{path}",
            socket_timeout=settings.socket_timeout,
            socket_connect_timeout=settings.connect_timeout,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
            protocol=2,
            **_no_client_setinfo(),
            **tls,
        )
    except ValueError as exc:
        raise ConfigurationError(f"hub URL {where.redacted!r}: {exc}") from None
    client = redis.Redis(connection_pool=pool, single_connection_client=True)
    client.auto_close_connection_pool = True
    return client


class _Pool(redis.ConnectionPool):
    """redis-py's pool, which takes a fresh connection whose socket is readable for a
    dirty one: a TLS 1.3 server's session tickets arrive after the handshake, and the pool
    then fails with "Connection has data" now and then.  The hub's one connection is
    checked before each command instead (``Connection._ready``)."""

    def ensure_connection(self, connection: Any) -> None:
        connection.connect()


@functools.cache
def _no_client_setinfo() -> dict[str, None]:
    """Turns off redis-py's CLIENT SETINFO at connect: the server needs no library name,
    and a command line opening the hub once should not pay a round trip for it.  The
    keyword changed in redis-py 6 (driver_info); the older ones now warn."""
    params = inspect.signature(redis.connection.AbstractConnection.__init__).parameters
    if "driver_info" in params:
        return {"driver_info": None}
    return {"lib_name": None, "lib_version": None}


def _fake_client(where: HubURL) -> redis.Redis:
    try:
        import fakeredis
    except ImportError:
        raise ConfigurationError(
            "fakeredis:// URLs need the fakeredis package: pip install 'agentcomm[redis]'"
        ) from None
    with _FAKE_LOCK:  # one server per name, shared by every handle of this process
        server = _FAKE_SERVERS.setdefault(where.location, fakeredis.FakeServer())
    return fakeredis.FakeRedis(
        server=server, single_connection_client=True, decode_responses=True, protocol=2
    )
