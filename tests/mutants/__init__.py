"""Deliberately broken hubs ("mutants"): each must be caught by the conformance suite.

STYLE.md section 6: a conformance test that no mutant can fail has not shown that it tests
anything.  Each module here is a reference hub with exactly one defect, one an implementer
might plausibly make (many are the design document's own; SPEC's rationale names them),
and declares:

* ``CATCHES``: the SPEC statements whose tests must fail against it;
* ``implementation()``: the factory for ``--impl python:mutants.<module>:implementation``
  (an ``Implementation`` of a SQLite hub class, or a ``RedisImplementation``);
* or, for a broken driver, ``IMPL``: the ``--impl driver:...`` that runs the module
  (``driver_impl``), with ``ARGS``: the pytest arguments that select the tests it needs.

``tests/test_mutants.py`` runs the suite against every mutant and checks those verdicts.
By hand, from the checkout (``tests/`` on the path, so racer processes import it too)::

    PYTHONPATH=tests python -m pytest conformance/agentcomm_conformance/suite \\
        --impl python:mutants.no_lease_expiry:implementation
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import secrets
import shlex
import sqlite3
import sys
import types
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import agentcomm
from agentcomm.clock import Clock
from agentcomm.driver import Driver
from agentcomm.errors import ConfigurationError
from agentcomm.models import Claim
from agentcomm.redis.hub import RedisHub
from agentcomm.sqlite import rows, statements
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from agentcomm.urls import parse, redact
from agentcomm_conformance.servers import redis_server_binary
from agentcomm_conformance.targets.reference import ReferenceTarget

T = TypeVar("T")
H = TypeVar("H", bound=agentcomm.Hub)

__all__ = [
    "ClaimHook",
    "Implementation",
    "RedisImplementation",
    "catalogue",
    "driver_impl",
    "impl_of",
    "keeping_depths",
    "run_driver",
    "suite_args",
    "swapped",
]


class Factory(Generic[H]):
    """What ``factory()`` returns for ``--impl python:...`` (agentcomm_conformance.targets),
    for the hubs of one mutant class: its name, version and capabilities."""

    version = agentcomm.__version__

    def __init__(self, hub_class: type[H], module: str) -> None:
        self.hub_class = hub_class
        self.name = f"mutant {module.rpartition('.')[2]}"
        self.capabilities = frozenset(hub_class.capabilities)


class Implementation(Factory[SqliteHub]):
    """Hubs of one mutant SQLite class, in files laid out as the reference's
    (``sqlite:////abs``)."""

    kind = "sqlite"

    def new_hub(self, workdir: str) -> str:
        path = os.path.abspath(os.path.join(workdir, "hub.db"))
        locator = f"sqlite:///{urllib.parse.quote(path)}"
        self.open(locator, None, None, create=True).close()
        return locator

    def open(
        self, locator: str, agent: str | None, clock: Clock | None, *, create: bool = False
    ) -> SqliteHub:
        where = parse(locator)
        if where.scheme != "sqlite":  # as agentcomm.connect says it
            raise ConfigurationError(
                f"unsupported hub URL scheme {where.scheme!r} in {redact(locator)!r}"
            )
        return self.hub_class(
            where.location, agent=agent, settings=where.settings, clock=clock, create=create
        )


def swapped(**changes: str) -> types.ModuleType:
    """The reference hub's statements (``agentcomm.sqlite.statements``) with the named ones
    replaced, for a mutant's ``sql``: its one defect, the rest as the reference's.  Each
    name must be a statement and its text must change, or the mutant would be no mutant."""
    copy = types.ModuleType(f"{statements.__name__}, swapped")
    copy.__dict__.update(vars(statements))
    for name, sql in changes.items():
        if sql == getattr(statements, name):  # AttributeError for a name that is none
            raise ValueError(f"statement {name} is unchanged")
        setattr(copy, name, sql)
    return copy


class ClaimHook(SqliteHub):
    """The reference ``_claim`` with its parts open to a mutant: in which order the rows
    claimed come back, and which token a claim draws."""

    def _new_token(self, agent: str) -> str:
        return secrets.token_hex(16)

    def _claim_order(self, row: sqlite3.Row) -> tuple[int, ...]:
        return (-int(row["priority"] or 0), int(row["id"]))

    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        now = self.clock.now()
        claimable, lapsed = self.store.query(self.sql.PROBE, {"target": target, "now": now})[0]
        if not (claimable or lapsed):
            return []
        token = self._new_token(agent)
        params = {
            "agent": agent,
            "token": token,
            "now": now,
            "now_iso": iso(now),
            "target": target,
            "limit": limit,
        }
        with self.store.write() as conn:
            if lapsed:
                self._settle_leases(conn, now)
            found = conn.execute(self.sql.CLAIM, params).fetchall()
        found.sort(key=self._claim_order)
        return [Claim(rows.message(r), token, float(r["lease_expires_at"])) for r in found]


class RedisImplementation(Factory[RedisHub]):
    """Hubs of one mutant ``RedisHub`` class, each a fresh key prefix on a private server
    that the first ``new_hub`` starts (``redis-server`` when installed, else fakeredis
    served on a port) and ``close`` stops.  Racing processes only ``open``, which needs
    nothing but the locator."""

    kind = "redis"
    server: ReferenceTarget | None = None

    def new_hub(self, workdir: str) -> str:
        if self.server is None:
            self.server = ReferenceTarget("redis:" if redis_server_binary() else "fakeredis:")
        return self.server.new_hub(Path(workdir))

    def open(self, locator: str, agent: str | None, clock: Clock | None) -> RedisHub:
        return self.hub_class(parse(locator), agent=agent, clock=clock)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def keeping_depths(hub: RedisHub, change: Callable[[], T]) -> T:
    """Make ``change`` and put back what ``stats`` counts from as it was: the depth counts
    (``depths``) and the sets of leased and finished ids (``processing:*``, ``finished:*``).
    A function that forgets to count, or to index, what it moved."""
    client, prefix = hub.client, hub.keys.prefix
    sets = [
        key
        for pattern in ("processing:*", "finished:*")
        for key in client.scan_iter(match=prefix + pattern)
    ]
    depths: dict[Any, Any] = dict(client.hgetall(hub.keys.depths))
    members: dict[Any, Any] = {key: client.zrange(key, 0, -1, withscores=True) for key in sets}
    result = change()
    pipe = client.pipeline()
    pipe.delete(hub.keys.depths, *sets)
    if depths:
        pipe.hset(hub.keys.depths, mapping=depths)
    for key, found in members.items():
        if found:
            pipe.zadd(key, {member: score for member, score in found})
    pipe.execute()
    return result


# -- broken drivers -----------------------------------------------------------------------------
def driver_impl(module: str, *options: str) -> str:
    """``--impl`` running mutant ``module`` as a driver (``tests/`` must be importable)."""
    return f"driver:{shlex.quote(sys.executable)} -m {module} {' '.join(options)}".rstrip()


def run_driver(driver_class: type[Driver], argv: list[str]) -> int:
    """Serve the protocol as the reference driver does, with ``driver_class``'s defects:
    ``argv`` is ``[--clock manual|system]``."""
    clock = argv[argv.index("--clock") + 1] if "--clock" in argv else "system"
    driver = driver_class("sqlite:", clock, sys.stderr)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        if line.strip():
            out.write(driver.respond(line))
            out.flush()
        if driver.closed:
            break
    driver.shutdown()
    return 0


def impl_of(name: str) -> str:
    """The ``--impl`` that runs mutant ``name``."""
    module = importlib.import_module(f"{__name__}.{name}")
    return str(getattr(module, "IMPL", f"python:{__name__}.{name}:implementation"))


def suite_args(name: str) -> tuple[str, ...]:
    """The pytest arguments a mutant's run adds (a selection; none: the whole suite)."""
    return tuple(getattr(importlib.import_module(f"{__name__}.{name}"), "ARGS", ()))


def catalogue() -> dict[str, tuple[str, ...]]:
    """Every mutant module's name and the statements it must fail (its ``CATCHES``)."""
    found: dict[str, tuple[str, ...]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module: types.ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        catches: Any = getattr(module, "CATCHES", None)
        if catches:
            found[info.name] = tuple(catches)
    return found
