"""Deliberately broken hubs ("mutants"): each must be caught by the conformance suite.

STYLE.md section 6: a conformance test that no mutant can fail has not shown that it tests
anything.  Each module here is the reference SQLite hub with exactly one defect, most of
them the design document's own (its rationale in SPEC.md names it), and declares:

* ``CATCHES``: the SPEC statements whose tests must fail against it;
* ``implementation()``: the factory for ``--impl python:mutants.<module>:implementation``.

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
import sqlite3
import types
import urllib.parse
from typing import Any

import agentcomm
from agentcomm.clock import Clock
from agentcomm.errors import ConfigurationError
from agentcomm.models import Claim
from agentcomm.sqlite import hub as reference
from agentcomm.sqlite import rows
from agentcomm.sqlite.hub import SqliteHub
from agentcomm.sqlite.rows import iso
from agentcomm.urls import parse, redact

__all__ = ["ClaimHook", "Implementation", "catalogue"]


class Implementation:
    """What ``factory()`` returns for ``--impl python:...`` (agentcomm_conformance.target):
    hubs of one mutant class, in files laid out as the reference's (``sqlite:////abs``)."""

    kind = "sqlite"
    version = agentcomm.__version__

    def __init__(self, hub_class: type[SqliteHub], module: str) -> None:
        self.hub_class = hub_class
        self.name = f"mutant {module.rpartition('.')[2]}"
        self.capabilities = frozenset(hub_class.capabilities)

    def new_hub(self, workdir: str) -> str:
        path = os.path.abspath(os.path.join(workdir, "hub.db"))
        locator = f"sqlite:///{urllib.parse.quote(path)}"
        self.open(locator, None, None, create=True).close()
        return locator

    def open(self, locator: str, agent: str | None, clock: Clock | None, *,
             create: bool = False) -> SqliteHub:
        where = parse(locator)
        if where.scheme != "sqlite":  # as agentcomm.connect says it
            raise ConfigurationError(
                f"unsupported hub URL scheme {where.scheme!r} in {redact(locator)!r}")
        return self.hub_class(where.location, agent=agent, settings=where.settings, clock=clock,
                              create=create)


class ClaimHook(SqliteHub):
    """The reference ``_claim`` with its parts open to a mutant: which rows are claimable
    (``probe_sql``, ``claim_sql``), in which order, and which token a claim draws."""

    probe_sql = reference.PROBE
    claim_sql = reference.CLAIM

    def _new_token(self, agent: str) -> str:
        return secrets.token_hex(16)

    def _claim_order(self, row: sqlite3.Row) -> tuple[int, ...]:
        return (-int(row["priority"] or 0), int(row["id"]))

    def _claim(self, agent: str, target: str, limit: int) -> list[Claim]:
        now = self.clock.now()
        claimable, lapsed = self.store.query(self.probe_sql, {"target": target, "now": now})[0]
        if not (claimable or lapsed):
            return []
        token = self._new_token(agent)
        params = {"agent": agent, "token": token, "now": now, "now_iso": iso(now),
                  "target": target, "limit": limit}
        with self.store.write() as conn:
            if lapsed:
                self._settle_leases(conn, now)
            found = conn.execute(self.claim_sql, params).fetchall()
        found.sort(key=self._claim_order)
        return [Claim(rows.message(r), token, float(r["lease_expires_at"])) for r in found]


def catalogue() -> dict[str, tuple[str, ...]]:
    """Every mutant module's name and the statements it must fail (its ``CATCHES``)."""
    found: dict[str, tuple[str, ...]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module: types.ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        catches: Any = getattr(module, "CATCHES", None)
        if catches:
            found[info.name] = tuple(catches)
    return found
