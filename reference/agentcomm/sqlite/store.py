"""The database file: opening it safely, transactions, and mapping sqlite3 errors.

Every state change goes through ``Store.write()``: one ``BEGIN IMMEDIATE`` transaction,
so the write lock is taken up front and a busy database fails definitely at BEGIN
instead of half-way.  CPython's implicit transactions are switched off
(``isolation_level=None``) so nothing begins or commits behind our back.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from agentcomm.errors import (
    AgentCommError,
    BackendUnavailable,
    ConfigurationError,
    CorruptStore,
    NotFound,
)
from agentcomm.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING

T = TypeVar("T")


class Store:
    """One connection to one hub file."""

    def __init__(self, path: str, *, busy_timeout: float, create: bool) -> None:
        _check_sqlite_version()
        self.path = path
        self.busy_timeout = busy_timeout
        created = _ensure_file(path, create)
        self.conn = self._open()
        try:
            self._prepare(created or create)
        except BaseException:
            self.close()
            raise

    # -- transactions -------------------------------------------------------------------
    def write(self) -> _Write:
        """One atomic state change; rolled back whole on any exception."""
        return _Write(self)

    def write_one(self, sql: str,
                  params: Sequence[Any] | dict[str, Any]) -> tuple[list[sqlite3.Row], int]:
        """A state change that is one statement, run in autocommit mode: SQLite makes the
        statement its own transaction, which saves the BEGIN and COMMIT round trips.
        Returns its rows (``RETURNING``) and ``lastrowid``.  A busy database is retried as
        ``write()`` does: the first step takes the write lock or fails having done
        nothing.  The statement commits when its last row is read, so a failure after
        that first step is reported as possibly done."""
        cursor = self.patiently(lambda: self.conn.execute(sql, params), "writing")
        with self.mapped("committing", definite=False):
            found = cursor.fetchall()
        return found, int(cursor.lastrowid or 0)

    def snapshot(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run several SELECTs that see one snapshot."""

        def run() -> T:
            self.conn.execute("BEGIN")
            try:
                return read(self.conn)
            finally:
                self.conn.execute("COMMIT")

        return self.patiently(run, "reading")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """One SELECT in autocommit mode (a statement is its own snapshot)."""
        return self.patiently(lambda: self.conn.execute(sql, params).fetchall(), "reading")

    def data_version(self) -> int:
        """Changes whenever another connection commits (a cheap read of shared memory)."""
        row = self.patiently(lambda: self.conn.execute("PRAGMA data_version").fetchone(),
                             "polling")
        return int(row[0])

    def patiently(self, step: Callable[[], T], action: str) -> T:
        """Run ``step``, retrying while the database is busy, for up to ``busy_timeout``.

        This replaces SQLite's own busy handler (the connection's timeout is 0), whose
        pauses grow to 100 ms and make latency under contention erratic.  Pauses here
        are 1 ms then 2 ms: shorter ones were measured to be slower overall, because
        processes that lost the race then compete for the CPU with the lock holder
        (BENCHMARKS.md).  Running out is a definite error: the step never took the lock.
        """
        pause, deadline = 0.001, 0.0
        while True:
            try:
                return step()
            except sqlite3.OperationalError as exc:
                now = time.monotonic()
                deadline = deadline or now + self.busy_timeout
                if not _is_busy(exc) or now >= deadline:
                    raise self._map(exc, action, True) from exc
            except sqlite3.Error as exc:
                raise self._map(exc, action, True) from exc
            time.sleep(pause)
            pause = min(pause * 2, 0.002)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    @contextlib.contextmanager
    def mapped(self, action: str, *, definite: bool = True) -> Iterator[None]:
        """Turn sqlite3 exceptions into the agentcomm error tree, the original chained."""
        try:
            yield
        except AgentCommError:
            raise
        except sqlite3.Error as exc:
            raise self._map(exc, action, definite) from exc

    def _map(self, exc: sqlite3.Error, action: str, definite: bool) -> AgentCommError:
        text = str(exc)
        where = f"hub {self.path!r}"
        if isinstance(exc, sqlite3.ProgrammingError) and "closed" in text:
            return BackendUnavailable(f"{where} is closed", definite=True)
        if _is_busy(exc):
            return BackendUnavailable(
                f"{where} stayed locked for more than {self.busy_timeout:g}s while {action}; "
                "nothing was written", definite=definite)
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return CorruptStore(f"{where} is not a readable agentcomm hub: {text}")
        return BackendUnavailable(f"{where} failed while {action}: {text}", definite=definite)

    # -- opening --------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        # mode=rw: SQLite must never create the file itself (we did, with mode 0600).
        uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?mode=rw"
        with self.mapped("opening"):
            conn = sqlite3.connect(  # timeout=0: patiently() does the waiting
                uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False,
            )
        conn.row_factory = sqlite3.Row
        return conn

    def _prepare(self, may_adopt: bool) -> None:
        version = int(self.query("PRAGMA user_version")[0][0])
        tables = {r[0] for r in self.query("SELECT name FROM sqlite_master")}
        with self.mapped("opening"):
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"hub {self.path!r} has schema version {version}, newer than this "
                    f"agentcomm understands ({SCHEMA_VERSION}); upgrade agentcomm")
            if version == 0 and "agent_messages" not in tables and not may_adopt:
                what = "an empty file" if not tables else "a SQLite database"
                raise CorruptStore(
                    f"{self.path!r} is {what}, not an agentcomm hub (no agent_messages "
                    "table); `agentcomm init` or create=True makes it one")
        self.query("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives any process crash (kill -9); only an OS crash or
        # power cut can lose the last commits.  FULL would fsync on every commit.
        self.query("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        with self.write() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {int(target)}")


class _Write:
    """``with store.write() as conn``: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error.

    A plain class rather than a generator context manager: it runs for every state
    change while the write lock is held, so it is kept to the fewest steps.
    """

    __slots__ = ("store",)

    def __init__(self, store: Store) -> None:
        self.store = store

    def __enter__(self) -> sqlite3.Connection:
        conn = self.store.conn
        self.store.patiently(lambda: conn.execute("BEGIN IMMEDIATE"), "starting a write")
        return conn

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        conn = self.store.conn
        if kind is None:
            try:
                conn.execute("COMMIT")
                return
            except sqlite3.Error as error:
                exc = error
                action, definite = "committing", False
        else:
            action, definite = "writing", True
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise self.store._map(exc, action, definite) from exc


def _ensure_file(path: str, create: bool) -> bool:
    """Create the file private to its user when asked; never create it silently."""
    if os.path.exists(path):
        if os.path.isdir(path):
            raise ConfigurationError(f"hub path {path!r} is a directory, not a database file")
        return False
    if not create:
        raise NotFound(
            f"no hub at {path!r}: create it with `agentcomm init --url sqlite:///{path}` "
            "or connect(url, create=True)")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ConfigurationError(f"cannot create hub {path!r}: directory {parent!r} is missing")
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return False  # another process created it first; adopt theirs
    except OSError as exc:
        raise ConfigurationError(f"cannot create hub {path!r}: {exc.strerror}") from exc
    return True


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _check_sqlite_version() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        raise ConfigurationError(
            f"SQLite {sqlite3.sqlite_version} is too old: agentcomm needs {need} or newer")
