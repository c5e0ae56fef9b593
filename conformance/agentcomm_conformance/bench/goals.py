"""What a run should reach, and whether it did.

The defaults are the design document's table, per kind of hub: SQLite 100-1K msg/s at
10-100 ms, Redis 10K+ msg/s at 1-10 ms (the hybrid runs on Redis).  A goal is the
table's generous end: at least the rate, p99 at most the latency.  A hub of kind
``other`` has no default; ``--target-rate`` and ``--target-p99`` set or override either.
"""

from __future__ import annotations

import dataclasses
from typing import Any

DESIGN_TABLE: dict[str, tuple[float, float]] = {
    "sqlite": (1_000, 100.0),
    "redis": (10_000, 10.0),
    "hybrid": (10_000, 10.0),
}
"""Kind of hub -> (msg/s at least, p99 ms at most)."""

MET, MISSED, NO_TARGET, NOT_MEASURED = "met", "missed", "no target", "not measured"


@dataclasses.dataclass(frozen=True)
class Goals:
    msg_per_s: float | None
    p99_ms: float | None
    source: str
    """Where they come from, for the reader of a stored result."""

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def goals_for(kind: str, rate: float | None, p99: float | None) -> Goals:
    """The design's goals for ``kind``, each replaced by its option when given."""
    default_rate, default_p99 = DESIGN_TABLE.get(kind, (None, None))
    given = [
        name
        for name, value in (("--target-rate", rate), ("--target-p99", p99))
        if value is not None
    ]
    table = f"the design's table for {kind}" if kind in DESIGN_TABLE else f"none for {kind}"
    source = table + (f", overridden by {' and '.join(given)}" if given else "")
    return Goals(
        rate if rate is not None else default_rate, p99 if p99 is not None else default_p99, source
    )


def verdicts(
    goals: Goals, throughput: dict[str, Any] | None, latency: dict[str, Any] | None
) -> dict[str, dict[str, Any]]:
    """Per goal: the figure, the goal, and met / missed / no target / not measured."""
    rate = throughput["msg_per_s"] if throughput else None
    p99 = latency["p99_ms"] if latency else None
    return {
        "throughput": _verdict(rate, goals.msg_per_s, ">=", "msg/s"),
        "latency_p99": _verdict(p99, goals.p99_ms, "<=", "ms"),
    }


def missed(judged: dict[str, dict[str, Any]]) -> list[str]:
    return [name for name, verdict in judged.items() if verdict["verdict"] == MISSED]


def _verdict(figure: float | None, goal: float | None, compare: str, unit: str) -> dict[str, Any]:
    if figure is None:
        state = NOT_MEASURED
    elif goal is None:
        state = NO_TARGET
    else:
        state = MET if (figure >= goal if compare == ">=" else figure <= goal) else MISSED
    return {"figure": figure, "goal": goal, "compare": compare, "unit": unit, "verdict": state}
