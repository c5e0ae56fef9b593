"""``--impl python:package.module:factory``: a third party's hubs, imported in-process."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from agentcomm import Clock, Hub
from agentcomm.errors import ConfigurationError
from agentcomm_conformance.targets.in_process import InProcessTarget


class PythonTarget(InProcessTarget):
    """A third party's implementation, imported in-process by ``python:module:factory``."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        module_name, _, attribute = spec[len("python:") :].partition(":")
        if not module_name or not attribute:
            raise ConfigurationError(f"--impl {spec!r}: expected python:package.module:factory")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"--impl {spec!r}: cannot load it: {exc}") from exc
        self.impl: Any = factory()
        for field in ("name", "version", "kind", "capabilities", "new_hub", "open"):
            if not hasattr(self.impl, field):
                raise ConfigurationError(f"--impl {spec!r}: the factory's object has no {field!r}")
        self.name, self.version = str(self.impl.name), str(self.impl.version)
        self.kind = str(self.impl.kind)
        self.capabilities = frozenset(self.impl.capabilities)

    def new_hub(self, workdir: Path) -> str:
        return str(self.impl.new_hub(str(workdir)))

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        return self.impl.open(hub, agent, clock)  # type: ignore[no-any-return]

    def close(self) -> None:
        """The factory's object may own what its hubs live on (a server): ``close()`` it."""
        close = getattr(self.impl, "close", None)
        if callable(close):
            close()
