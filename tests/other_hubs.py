"""Hubs the spec allows that the reference hub is not, for ``--impl python:other_hubs:...``.

* ``of_kind_other()``: the reference SQLite hub declaring kind ``other`` behind locators of
  its own scheme (``other:///abs/hub.db?options``), as a hub on any other store would: the
  suite must pass it on every ``all`` statement and judge nothing about its store.
* ``with_columns_of_its_own(default)``: the reference SQLite hub whose file has a column
  and a table the spec does not name (SPEC COMPAT-002 allows them when the column has a
  default); ``default=False`` makes the column ``NOT NULL`` without one, which breaks the
  design's own INSERTs and must fail COMPAT-002.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse

import agentcomm
from agentcomm import Clock, Hub, connect
from agentcomm.errors import ConfigurationError
from agentcomm.urls import redact

SCHEME = "other"


class KindOther:
    name = "kind-other double"
    version = agentcomm.__version__
    kind = "other"
    capabilities = frozenset({"batch", "claim_next", "manual_clock"})

    def new_hub(self, workdir: str) -> str:
        path = os.path.abspath(os.path.join(workdir, "hub.db"))
        locator = f"{SCHEME}:///{urllib.parse.quote(path)}"
        connect(self._sqlite(locator), create=True).close()
        return locator

    def open(self, locator: str, agent: str | None, clock: Clock | None) -> Hub:
        return connect(self._sqlite(locator), agent=agent, clock=clock)

    @staticmethod
    def _sqlite(locator: str) -> str:
        scheme, sep, rest = locator.partition("://")
        if scheme != SCHEME or not sep:
            raise ConfigurationError(
                f"unsupported hub URL scheme {scheme!r} in "
                f"{redact(locator)!r}: this hub's locators are other:///"
            )
        return f"sqlite://{rest}"


def of_kind_other() -> KindOther:
    return KindOther()


class OwnColumns:
    """The reference SQLite hub, its file extended by the implementation's own schema."""

    version = agentcomm.__version__
    kind = "sqlite"
    capabilities = frozenset({"batch", "claim_next", "manual_clock"})

    def __init__(self, default: bool) -> None:
        self.default = default
        self.name = f"own columns ({'with' if default else 'without'} a default)"

    def new_hub(self, workdir: str) -> str:
        path = os.path.abspath(os.path.join(workdir, "hub.db"))
        connect(f"sqlite:///{path}", create=True).close()
        with sqlite3.connect(path) as db:
            if self.default:
                db.execute("ALTER TABLE agent_messages ADD COLUMN tenant TEXT DEFAULT 'main'")
            else:  # ALTER TABLE refuses NOT NULL without a default; a CREATE would not
                (ddl,) = db.execute(
                    "SELECT sql FROM sqlite_master WHERE name = ?", ("agent_messages",)
                ).fetchone()
                db.execute("PRAGMA writable_schema = 1")
                db.execute(
                    "UPDATE sqlite_master SET sql = ? WHERE name = ?",
                    (ddl.rstrip()[:-1] + ", tenant TEXT NOT NULL)", "agent_messages"),
                )
            db.execute("CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY)")
        db.close()
        return f"sqlite:///{urllib.parse.quote(path)}"

    def open(self, locator: str, agent: str | None, clock: Clock | None) -> Hub:
        return connect(locator, agent=agent, clock=clock)


def with_columns_of_its_own() -> OwnColumns:
    return OwnColumns(default=True)


def with_a_column_without_default() -> OwnColumns:
    return OwnColumns(default=False)
