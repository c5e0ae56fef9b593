"""A run's stored files, and its short summary for a human on stderr.

Files go to ``--out-dir`` as ``<UTC stamp>-<kind>.json`` (the whole result, every latency
sample included) and ``.png`` (the latency histogram, when there was a latency phase and
matplotlib is installed).  Stdout gets the same document without the raw samples.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from agentcomm_conformance.bench.goals import MISSED
from agentcomm_conformance.bench.plot import PlotUnavailable, plot_latency

LABELS = {"throughput": "throughput goal", "latency_p99": "latency p99 goal"}


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def free_stem(out_dir: Path, stem: str, suffix: str = ".json") -> Path:
    """``out_dir/stem``, or ``stem-2``, ``stem-3``... when a run of the same second has it."""
    base, n = out_dir / stem, 1
    while base.with_name(base.name + suffix).exists():
        n += 1
        base = out_dir / f"{stem}-{n}"
    return base


def save(document: dict[str, Any], out_dir: Path, stem: str) -> list[str]:
    """Write the PNG (when there is something to plot) and the JSON; return notices."""
    out_dir.mkdir(parents=True, exist_ok=True)
    base = free_stem(out_dir, stem)
    files: dict[str, str | None] = {"json": f"{base}.json", "png": None}
    document["files"] = files
    notices = []
    if document["latency"] is not None:
        try:
            plot_latency(document, Path(f"{base}.png"))
            files["png"] = f"{base}.png"
        except PlotUnavailable as exc:
            notices.append(f"agentcomm bench: no plot written: {exc}")
    Path(f"{base}.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return notices


def without_samples(document: dict[str, Any]) -> dict[str, Any]:
    """The document for stdout: every figure, not the thousands of raw samples."""
    latency = document["latency"]
    if latency is None:
        return document
    return {**document, "latency": {k: v for k, v in latency.items() if k != "samples_ms"}}


def summary(document: dict[str, Any]) -> list[str]:
    target, machine = document["meta"]["target"], document["meta"]["machine"]
    load = machine.get("load_average_start") or ["?"]
    lines = [
        f"agentcomm bench: {target['name']} {target['version']} ({target['kind']}, "
        f"--impl {target['impl']}) on {machine['cpus']} CPUs, load {load[0]} at start"
    ]
    lines += _figures(document)
    for name, verdict in document["verdicts"].items():
        if verdict["verdict"] != "not measured":
            lines.append(f"  {LABELS[name]}: {_verdict_text(verdict)}")
    lines.append(f"  exactly once: {_check_text(document)}")
    files = document.get("files") or {}
    lines += [f"  stored: {path}" for path in files.values() if path]
    return lines


def _figures(document: dict[str, Any]) -> list[str]:
    lines = []
    throughput, latency = document["throughput"], document["latency"]
    if throughput is not None:
        lines.append(
            f"  throughput: {throughput['msg_per_s']:,} msg/s ({throughput['messages']:,}"
            f" messages in {throughput['seconds']:.2f} s, batch {throughput['batch']}, "
            f"{throughput['workers']} workers)"
        )
    if latency is not None:
        lines.append(
            f"  latency: p50 {latency['p50_ms']:.3g} ms, p90 {latency['p90_ms']:.3g} ms, "
            f"p99 {latency['p99_ms']:.3g} ms, max {latency['max_ms']:.3g} ms "
            f"({latency['samples']:,} samples)"
        )
    return lines


def _verdict_text(verdict: dict[str, Any]) -> str:
    unit = verdict["unit"]
    figure = _number(verdict["figure"])
    if verdict["goal"] is None:
        return f"{figure} {unit}, no target (pass --target-rate / --target-p99)"
    state = "MISSED" if verdict["verdict"] == MISSED else "met"
    return f"{figure} {unit} vs {verdict['compare']} {_number(verdict['goal'])} {unit}: {state}"


def _check_text(document: dict[str, Any]) -> str:
    checks = {
        phase: document[phase]["check"]
        for phase in ("throughput", "latency")
        if document[phase] is not None
    }
    failed = {phase: check for phase, check in checks.items() if not check["exactly_once"]}
    if not failed:
        total = sum(check["completed"] for check in checks.values())
        return f"yes ({total:,} messages, each completed once, none left)"
    return "FAILED: " + "; ".join(
        f"{phase}: {check['duplicates']} completed twice, {check['missing']} never, "
        f"{check['left_pending']} left"
        for phase, check in failed.items()
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
