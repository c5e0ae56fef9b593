"""What the targets whose hubs are Python objects in this process share: one clock for
every handle of a hub, and claim races run by ``racer`` processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Collection

from agentcomm import Hub, ManualClock
from agentcomm.errors import ConfigurationError


class InProcessTarget:
    """Shared by the targets whose hubs are Python objects in this process."""

    spec: str
    capabilities: frozenset[str]

    @property
    def racer_spec(self) -> str:
        """What a racer process passes to ``load_target`` to reach the same hubs."""
        return self.spec

    def advance(self, handles: Collection[Hub], clock: ManualClock, seconds: float) -> None:
        clock.advance(seconds)  # every handle of the hub shares this one clock

    def race_claims(self, hub: str, queue: str, agents: list[str]) -> dict[str, list[str]]:
        racers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agentcomm_conformance.targets.racer",
                    self.racer_spec,
                    hub,
                    agent,
                    queue,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for agent in agents
        ]
        try:
            for racer in racers:  # each says "ready" once its hub is open
                assert racer.stdout is not None
                if racer.stdout.readline().strip() != "ready":
                    raise ConfigurationError(f"a racer for {self.spec!r} failed to start")
            for racer in racers:  # release every racer before waiting for any: they overlap
                assert racer.stdin is not None
                racer.stdin.write("go\n")
                racer.stdin.flush()
            results = [r.communicate(timeout=120)[0] for r in racers]
        finally:
            for racer in racers:
                racer.kill() if racer.poll() is None else None
        return {agent: json.loads(out) for agent, out in zip(agents, results, strict=True)}

    def close(self) -> None:
        pass
