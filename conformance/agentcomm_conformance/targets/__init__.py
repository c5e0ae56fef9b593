"""What ``--impl`` names: the implementation under test, behind one small interface.

* a reference hub URL (``sqlite:///hub.db?backoff_base=0.1``): a template; every test
  gets a fresh hub in its own directory, with the URL's options;
* ``python:package.module:factory``: ``factory()`` returns an object with ``name``,
  ``version``, ``kind``, ``capabilities``, ``new_hub(workdir) -> locator`` and
  ``open(locator, agent, clock) -> hub``, the hub having ``agentcomm.Hub``'s methods, and
  may have ``close()``, called once at the end of the run;
* ``driver:COMMAND``: any language, one process per agent, JSON lines (DRIVER.md).

One module per kind (``reference``, ``python``, ``driver``; the first two share
``in_process``), and the agents a target runs in processes of their own: ``racer`` (CLAIM
races) and ``holder`` (a claim held, timed, or killed).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any, Protocol

from agentcomm import Clock, Hub, ManualClock
from agentcomm.driver import MANUAL_CLOCK
from agentcomm.errors import ConfigurationError
from agentcomm_conformance.targets.python import PythonTarget
from agentcomm_conformance.targets.reference import ReferenceTarget

__all__ = ["Target", "describe", "load_target", "start_clock"]


class Target(Protocol):
    """The implementation under test, as the suite drives it."""

    name: str
    version: str
    kind: str
    capabilities: frozenset[str]

    @property
    def racer_spec(self) -> str:
        """What another process passes to ``load_target`` to reach the same hubs."""
        ...

    def new_hub(self, workdir: Path) -> str:
        """Make a fresh, empty hub; return the locator that ``open`` takes."""
        ...

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        """A handle on ``hub`` acting as ``agent``, on ``clock`` (None: the system's)."""
        ...

    def advance(self, handles: Collection[Hub], clock: ManualClock, seconds: float) -> None:
        """Let ``seconds`` pass for every handle of one hub (manual_clock only)."""
        ...

    def race_claims(self, hub: str, queue: str, agents: list[str]) -> dict[str, list[str]]:
        """Agents in separate OS processes claim and complete from ``queue`` until it is
        empty, all at once; returns the ids each one completed."""
        ...

    def close(self) -> None: ...


def load_target(spec: str, *, driver_timeout: float = 10.0) -> Target:
    """Parse ``--impl``; ``driver_timeout`` bounds each wait for a driver's answer."""
    if spec.startswith("python:"):
        return PythonTarget(spec)
    if spec.startswith("driver:"):
        from agentcomm_conformance.targets.driver import DriverTarget

        return DriverTarget(spec[len("driver:") :].strip(), spec, timeout=driver_timeout)
    if "://" in spec or spec.partition("?")[0].endswith(":"):
        return ReferenceTarget(spec)
    raise ConfigurationError(
        f"--impl {spec!r} is not a hub URL (sqlite:///hub.db), python:module:factory "
        "or driver:COMMAND"
    )


CLOCK_FRACTION = 3 / 4096
"""The suite's clock starts this far past a whole second: 0.73 ms, exact in binary (so whole
seconds added to it stay exact), and moved by rounding to the nearest millisecond, so a hub
rounding a time the wrong way shows at the boundaries the spec names (SPEC ENV-005)."""


def start_clock(target: Target) -> ManualClock | None:
    """A manual clock for one hub when the target lets the suite drive time."""
    if MANUAL_CLOCK not in target.capabilities:
        return None
    return ManualClock(start=math.floor(time.time()) + CLOCK_FRACTION)


def describe(target: Target, spec: str) -> dict[str, Any]:
    return {
        "impl": spec,
        "name": target.name,
        "version": target.version,
        "kind": target.kind,
        "capabilities": sorted(target.capabilities),
    }
