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
import stat
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence

from agentcomm.errors import (
    AgentCommError,
    BackendUnavailable,
    ConfigurationError,
    CorruptStore,
    NotFound,
)
from agentcomm.sqlite import statements
from agentcomm.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any, TypeVar

    T = TypeVar("T")

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING

FIRST_PAUSE, BATCH_PAUSE, LAST_PAUSE = 0.001, 0.0002, 0.002
"""How long a write waits for a busy database before it tries again: first 1 ms, or
0.2 ms for a write of many messages, doubling up to 2 ms.  Shorter first pauses made one
message a call slower, since the writers that lost the race then compete for the CPU
with the one holding the lock; a batch, which holds the lock far longer than it takes to
try again, goes faster with them, since a 1 ms sleep mostly outlasted the holder
(BENCHMARKS.md)."""


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
            if create:  # `init` must not succeed on a hub this user cannot write
                self._check_writable()
        except BaseException:
            self.close()
            raise

    # -- transactions -------------------------------------------------------------------
    def write(self, *, batch: bool = False) -> _Write:
        """One atomic state change; rolled back whole on any exception.  ``batch``: it
        covers many messages, and retries a busy database sooner (``patiently``)."""
        return _Write(self, batch)

    def write_one(
        self, sql: str, params: Sequence[Any] | dict[str, Any], *, batch: bool = False
    ) -> tuple[list[sqlite3.Row], int]:
        """A state change that is one statement, run in autocommit mode: SQLite makes the
        statement its own transaction, which saves the BEGIN and COMMIT round trips.
        Returns its rows (``RETURNING``) and ``lastrowid``.  A busy database is retried as
        ``write()`` does: the first step takes the write lock or fails having done
        nothing.  The statement commits when its last row is read, so a failure after
        that first step is reported as possibly done."""
        pause = BATCH_PAUSE if batch else FIRST_PAUSE
        cursor = self.patiently(lambda: self._autocommit(sql, params), "writing", pause)
        with self.mapped("committing", definite=False):
            found = cursor.fetchall()
        return found, int(cursor.lastrowid or 0)

    def _autocommit(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> sqlite3.Cursor:
        """Execute one statement that is its own transaction.  An I/O failure is its commit
        failing (the pages are written to the WAL then), judged as ``_Write`` judges one."""
        try:
            return self.conn.execute(sql, params)
        except sqlite3.Error as exc:
            if not _is_io_failure(exc):
                raise
            definite = _commit_never_written(exc) and not self.conn.in_transaction
            raise self._map(exc, "committing", definite) from exc

    def snapshot(self, read: Callable[[sqlite3.Connection], T]) -> T:
        """Run several SELECTs that see one snapshot."""

        def run() -> T:
            self.conn.execute(statements.BEGIN_READ)
            try:
                return read(self.conn)
            finally:
                self.conn.execute(statements.COMMIT)

        return self.patiently(run, "reading")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """One SELECT in autocommit mode (a statement is its own snapshot)."""
        return self.patiently(lambda: self.conn.execute(sql, params).fetchall(), "reading")

    def data_version(self) -> int:
        """Changes whenever another connection commits (a cheap read of shared memory)."""
        row = self.patiently(lambda: self.conn.execute("PRAGMA data_version").fetchone(), "polling")
        return int(row[0])

    def patiently(self, step: Callable[[], T], action: str, pause: float = FIRST_PAUSE) -> T:
        """Run ``step``, retrying while the database is busy, for up to ``busy_timeout``.

        This replaces SQLite's own busy handler (the connection's timeout is 0), whose
        pauses grow to 100 ms and make latency under contention erratic.  Pauses here
        start at ``pause`` and double up to ``LAST_PAUSE``.  Running out is a definite
        error: the step never took the lock.
        """
        deadline = 0.0
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
            pause = min(pause * 2, LAST_PAUSE)

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
                "nothing was written",
                definite=definite,
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return CorruptStore(f"{where} is not a readable agentcomm hub: {text}")
        if "readonly database" in text or "unable to open database file" in text:
            return BackendUnavailable(
                f"{where} cannot be written: {why_unwritable(self.path)} ({text})", definite=True
            )
        return BackendUnavailable(f"{where} failed while {action}: {text}", definite=definite)

    # -- opening --------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        # mode=rw: SQLite must never create the file itself (we did, with mode 0600).
        uri = f"file:{urllib.parse.quote(os.path.abspath(self.path))}?mode=rw"
        with self.mapped("opening"):
            conn = sqlite3.connect(  # timeout=0: patiently() does the waiting
                uri,
                uri=True,
                timeout=0,
                isolation_level=None,
                check_same_thread=False,
            )
        conn.row_factory = sqlite3.Row
        return conn

    def _prepare(self, may_adopt: bool) -> None:
        version = int(self.query("PRAGMA user_version")[0][0])
        tables = {r[0] for r in self.query(statements.TABLES)}
        with self.mapped("opening"):
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"hub {self.path!r} has schema version {version}, newer than this "
                    f"agentcomm understands ({SCHEMA_VERSION}); upgrade agentcomm"
                )
            if version == 0 and "agent_messages" not in tables and not may_adopt:
                what = "an empty file" if not tables else "a SQLite database"
                raise CorruptStore(
                    f"{self.path!r} is {what}, not an agentcomm hub (no agent_messages "
                    "table); `agentcomm init` or create=True makes it one"
                )
        self.query("PRAGMA journal_mode=WAL")
        # NORMAL in WAL survives any process crash (kill -9); only an OS crash or
        # power cut can lose the last commits.  FULL would fsync on every commit.
        self.query("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate()

    def _check_writable(self) -> None:
        """Write the schema version as it is, and roll back: SQLite opens a file it may
        not write read-only, without a word, so only a write shows it."""

        def probe(conn: sqlite3.Connection) -> None:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            conn.execute(f"PRAGMA user_version = {version}")
            raise _Probed

        with contextlib.suppress(_Probed), self.write() as conn:
            probe(conn)

    def _migrate(self) -> None:
        with self.write() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {int(target)}")


class _Probed(Exception):
    """Ends a write probe: its transaction rolls back."""


class _Write:
    """``with store.write() as conn``: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error.

    A plain class rather than a generator context manager: it runs for every state
    change while the write lock is held, so it is kept to the fewest steps.
    """

    __slots__ = ("pause", "store")

    def __init__(self, store: Store, batch: bool) -> None:
        self.store = store
        self.pause = BATCH_PAUSE if batch else FIRST_PAUSE

    def __enter__(self) -> sqlite3.Connection:
        conn = self.store.conn
        self.store.patiently(
            lambda: conn.execute(statements.BEGIN_WRITE), "starting a write", self.pause
        )
        return conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        conn = self.store.conn
        if kind is None:
            try:
                conn.execute(statements.COMMIT)
                return
            except sqlite3.Error as error:
                exc = error
                action, definite = "committing", _commit_never_written(error)
        else:
            action, definite = "writing", True
        with contextlib.suppress(sqlite3.Error):
            conn.execute(statements.ROLLBACK)
        if isinstance(exc, sqlite3.Error):
            # Definite only if the transaction is gone too (rolled back by SQLite or above).
            raise self.store._map(exc, action, definite and not conn.in_transaction) from exc


def _ensure_file(path: str, create: bool) -> bool:
    """Create the file private to its user when asked; never create it silently."""
    if os.path.islink(path) and not os.path.exists(path):
        dangling = (
            f"hub path {path!r} is a symbolic link to {os.readlink(path)!r}, which does not exist"
        )
        if create:
            raise ConfigurationError(
                f"cannot create hub {path!r}: {dangling}; create the hub "
                "where the link points, or remove the link"
            )
        raise NotFound(f"no hub at {path!r}: {dangling}")
    if os.path.exists(path):
        if os.path.isdir(path):
            raise ConfigurationError(f"hub path {path!r} is a directory, not a database file")
        return False
    if not create:
        raise NotFound(
            f"no hub at {path!r}: create it with `agentcomm init --url sqlite:///{path}` "
            "or connect(url, create=True)"
        )
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


SQLITE_IOERR, SQLITE_FULL, SQLITE_IOERR_WRITE = 10, 13, 778
"""A write to the WAL failed (disk full, file too large): a COMMIT failing so never
wrote its commit frame, the one that makes a transaction count (SQLite rolls it back).
Other failures, a failed fsync above all, may leave a complete transaction behind."""


def _commit_never_written(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is None:
        return "database or disk is full" in str(exc)
    return code in {SQLITE_FULL, SQLITE_IOERR_WRITE}


def _is_io_failure(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11 and later
    if code is None:
        return "disk I/O error" in str(exc) or "database or disk is full" in str(exc)
    return code & 0xFF in {SQLITE_FULL, SQLITE_IOERR}


def why_unwritable(path: str) -> str:
    """Why this process cannot write the hub at ``path``: the file (or its -wal, -shm), its
    directory (where SQLite must create -wal and -shm), or a read-only file system."""
    folder = os.path.dirname(os.path.abspath(path))
    companions = [f"{path}-wal", f"{path}-shm"]
    if os.path.isdir(folder) and os.statvfs(folder).f_flag & os.ST_RDONLY:
        return f"its file system (at {folder!r}) is mounted read-only"
    for name in [path, *companions]:
        if os.path.exists(name) and not _may(name, os.W_OK):
            found = os.stat(name)
            return (
                f"{name!r} is not writable by this user (uid {os.geteuid()}): mode "
                f"{stat.S_IMODE(found.st_mode):04o}, owned by uid {found.st_uid}"
            )
    missing = [os.path.basename(n) for n in companions if not os.path.exists(n)]
    if missing and not _may(folder, os.W_OK | os.X_OK):
        return (
            f"its directory {folder!r} is not writable by this user (uid "
            f"{os.geteuid()}), and SQLite must create {' and '.join(missing)} there"
        )
    return "SQLite could not open it for writing"


def _may(path: str, mode: int) -> bool:
    """``os.access`` for this process's effective user (the one SQLite opens files as)."""
    return os.access(path, mode, effective_ids=os.access in os.supports_effective_ids)


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def _check_sqlite_version() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        raise ConfigurationError(
            f"SQLite {sqlite3.sqlite_version} is too old: agentcomm needs {need} or newer"
        )
