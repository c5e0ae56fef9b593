"""The files the installed suite reads and hands to implementers, shipped as package data.

Each is found through ``importlib.resources`` from the installed package, never through a
path into a checkout, so a copy installed from the wheel finds its own.  In a checkout the
protocol's documents live in ``conformance/agentcomm_conformance/protocol/``, and the
top-level ``scenarios/`` folder is the package ``agentcomm_conformance.scenarios``
(``package-dir`` in pyproject.toml maps it).  ``PACKAGED`` names them all.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

PACKAGE = "agentcomm_conformance"
SCENARIOS = f"{PACKAGE}.scenarios"


@dataclasses.dataclass(frozen=True)
class Resource:
    """A file, or the files matching ``pattern`` in a directory, inside ``package``."""

    package: str
    name: str
    pattern: str | None = None

    def location(self) -> Path:
        """Where the installed package keeps it, whether or not it is there: a path on
        disk, since agent processes and pytest's collector open it by name."""
        found = resources.files(self.package).joinpath(self.name)
        if not isinstance(found, Path):
            raise FileNotFoundError(
                f"{self.package} is not installed as files on disk "
                f"({found!r}): install agentcomm from its wheel"
            )
        return found

    def path(self) -> Path:
        """``location()``, which must exist."""
        found = self.location()
        if not found.exists():
            raise FileNotFoundError(
                f"{found} is missing: this installation of {self.package} is incomplete"
            )
        return found

    def files(self) -> list[Path]:
        """The file itself, or the directory's files matching the pattern."""
        found = self.path()
        return sorted(found.glob(self.pattern)) if self.pattern else [found]


SPEC = Resource(PACKAGE, "protocol/SPEC.md")
"""The normative spec: the statements the suite judges (read by ``spec.statements``)."""
DRIVER = Resource(PACKAGE, "protocol/DRIVER.md")
"""The driver protocol, for implementations in any language."""
DRIVER_SCHEMAS = Resource(PACKAGE, "protocol/schemas", "*.json")
"""The JSON Schemas of the driver protocol's messages."""
SCENARIO_CASES = Resource(SCENARIOS, "cases", "*.yaml")
"""The scenario cases the plugin plays by default (``scenario_runner.items``)."""
SCENARIO_SCHEMA = Resource(SCENARIOS, "schema.json")
"""The JSON Schema of a scenario case."""
SCENARIO_FORMAT = Resource(SCENARIOS, "README.md")
"""The scenario format, in words."""

PACKAGED = {
    "spec": SPEC,
    "driver": DRIVER,
    "driver_schemas": DRIVER_SCHEMAS,
    "scenario_cases": SCENARIO_CASES,
    "scenario_schema": SCENARIO_SCHEMA,
    "scenario_format": SCENARIO_FORMAT,
}
"""Every resource above, by the name ``agentcomm conformance --docs`` prints it under."""
