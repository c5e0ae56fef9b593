"""One benchmark run: its phases, then the result document that is printed and stored.

The document: ``throughput`` and ``latency`` (None for a phase not run), ``exactly_once``,
``config``, ``goals``, ``verdicts`` and ``meta`` (``meta.py``); ``report.save`` adds
``files``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from agentcomm_conformance.bench import goals as goal_rules
from agentcomm_conformance.bench.meta import load_average, metadata
from agentcomm_conformance.bench.run import (
    BenchConfig,
    Progress,
    check_empty,
    run_latency,
    run_throughput,
)
from agentcomm_conformance.bench.subject import Subject

PHASES = ("throughput", "latency")

ProgressBar = Callable[[int, str], AbstractContextManager[Progress]]
"""``bar(total, label)``: a context whose value advances the bar by a count."""


def measure(
    subject: Subject,
    config: BenchConfig,
    phases: tuple[str, ...],
    targets: tuple[float | None, float | None],
    bar: ProgressBar,
) -> dict[str, Any]:
    """Run ``phases`` on ``subject``; the whole document (raw latency samples included)."""
    check_empty(subject)
    meta = metadata(subject.describe(), subject.kind, subject.reach.locator)
    results = {
        phase: _phase(phase, subject, config, bar) if phase in phases else None for phase in PHASES
    }
    meta["machine"]["load_average_end"] = load_average()
    goals = goal_rules.goals_for(subject.kind, *targets)
    return {
        **results,
        "exactly_once": exactly_once(results),
        "config": {"phases": list(phases), **_config(config)},
        "goals": goals.as_json(),
        "verdicts": goal_rules.verdicts(goals, results["throughput"], results["latency"]),
        "meta": meta,
    }


def exactly_once(results: dict[str, Any]) -> bool:
    return all(result["check"]["exactly_once"] for result in results.values() if result)


def _phase(phase: str, subject: Subject, config: BenchConfig, bar: ProgressBar) -> dict[str, Any]:
    if phase == "throughput":
        with bar(config.messages, f"throughput: {config.messages:,} messages") as advance:
            return run_throughput(subject, config, advance)
    with bar(config.samples, f"latency: {config.samples:,} samples") as advance:
        return run_latency(subject, config, advance)


def _config(config: BenchConfig) -> dict[str, Any]:
    fields = dataclasses.asdict(config)
    return {
        "messages": fields["messages"],
        "workers": fields["workers"],
        "batch": fields["batch"],
        "samples": fields["samples"],
        "gap_ms": config.gap * 1000,
        "lease_s": config.lease,
    }
