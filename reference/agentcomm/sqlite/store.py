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
import urllib.parse
from collections.abc import Iterator, Sequence
from typing import Any

from agentcomm.errors import (
    AgentCommError,
    BackendUnavailable,
    ConfigurationError,
    CorruptStore,
    NotFound,
)
from agentcomm.sqlite.migrations import MIGRATIONS, SCHEMA_VERSION

MIN_SQLITE = (3, 35, 0)  # UPDATE ... RETURNING


class Store:
    """One connection to one hub file."""

    def __init__(self, path: str, *, busy_timeout: float, create: bool) -> None:
        _check_sqlite_version()
        self.path = path
        self.busy_timeout = busy_timeout
        created = _ensure_file(path, create)
        self.conn = self._open()
        self._prepare(created or create)

    # -- transactions -------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One atomic state change; rolled back whole on any exception."""
        with self.mapped("starting a write"):
            self.conn.execute("BEGIN IMMEDIATE")
        try:
            with self.mapped("writing"):
                yield self.conn
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")
            raise
        with self.mapped("committing", definite=False):
            self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Several SELECTs that see one snapshot."""
        with self.mapped("reading"):
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        """One SELECT in autocommit mode (a statement is its own snapshot)."""
        with self.mapped("reading"):
            return self.conn.execute(sql, params).fetchall()

    def data_version(self) -> int:
        """Changes whenever another connection commits (a cheap read of shared memory)."""
        with self.mapped("polling"):
            return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

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
        if "locked" in text or "busy" in text:
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
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.busy_timeout, isolation_level=None,
                check_same_thread=False,
            )
        conn.row_factory = sqlite3.Row
        return conn

    def _prepare(self, may_adopt: bool) -> None:
        with self.mapped("opening"):
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master")}
            if version > SCHEMA_VERSION:
                raise ConfigurationError(
                    f"hub {self.path!r} has schema version {version}, newer than this "
                    f"agentcomm understands ({SCHEMA_VERSION}); upgrade agentcomm")
            if version == 0 and "agent_messages" not in tables and not may_adopt:
                what = "an empty file" if not tables else "a SQLite database"
                raise CorruptStore(
                    f"{self.path!r} is {what}, not an agentcomm hub (no agent_messages "
                    "table); `agentcomm init` or create=True makes it one")
            self.conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL survives any process crash (kill -9); only an OS crash or
            # power cut can lose the last commits.  FULL would fsync on every commit.
            self.conn.execute("PRAGMA synchronous=NORMAL")
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        with self.write() as conn:
            # Re-read under the write lock: another process may have migrated meanwhile.
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {int(target)}")


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


def _check_sqlite_version() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        need = ".".join(map(str, MIN_SQLITE))
        raise ConfigurationError(
            f"SQLite {sqlite3.sqlite_version} is too old: agentcomm needs {need} or newer")
