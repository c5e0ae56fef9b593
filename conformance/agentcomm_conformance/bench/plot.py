"""The latency histogram: a PNG drawn on matplotlib's Agg canvas (no display needed).

matplotlib is optional (``pip install 'agentcomm[bench]'``) and imported here only when a
plot is drawn: without it the benchmark still runs, and says that no plot was written.
The x axis is logarithmic, because a latency histogram is a tall peak and a long tail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

INSTALL = "pip install 'agentcomm[bench]'"
BINS = 60
OFF_SCALE = 1000.0
"""A goal more than this many times the slowest sample is named, not drawn (it would
squash the histogram into a corner even on a log scale)."""


class PlotUnavailable(Exception):
    """matplotlib cannot be imported."""


def plot_latency(document: dict[str, Any], path: Path) -> None:
    """Draw the latency histogram of a result (``document["latency"]``) to ``path``."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotUnavailable(f"matplotlib is not installed ({exc}); {INSTALL}") from None
    figure = Figure(figsize=(9, 5.2), layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas: PNG without any GUI backend
    _histogram(figure.subplots(), document)
    figure.suptitle(title(document), fontsize=12)
    figure.savefig(path, dpi=110)


def _histogram(axes: Any, document: dict[str, Any]) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    latency = document["latency"]
    edges = log_bins(latency["samples_ms"])
    axes.hist(latency["samples_ms"], bins=edges, color="#4c72b0")
    axes.set_xscale("log")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axes.xaxis.set_minor_formatter(FuncFormatter(minor_tick))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    for key, colour in (("p50_ms", "#2ca02c"), ("p99_ms", "#ff7f0e")):
        axes.axvline(
            latency[key], color=colour, linestyle="--", label=f"{key[:3]} {latency[key]:.3g} ms"
        )
    _goal_line(axes, document["goals"]["p99_ms"], edges[-1])
    axes.set_xlabel("send → claim latency, ms (log scale)")
    axes.set_ylabel("messages")
    axes.legend(loc="upper right")
    axes.set_title(subtitle(document), fontsize=9)


def _goal_line(axes: Any, goal: float | None, slowest: float) -> None:
    if goal is None:
        return
    label = f"p99 goal ≤ {goal:g} ms"
    if goal <= slowest * OFF_SCALE:
        axes.axvline(goal, color="#d62728", linewidth=2, label=label)
    else:
        axes.plot([], [], " ", label=f"{label} (off the scale)")


def minor_tick(value: float, _position: int) -> str:
    """Label 2 and 5 times a power of ten (0.2, 0.5, 2, 5...), as plain numbers."""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(math.isclose(mantissa, m) for m in (2, 5)) else ""


def log_bins(samples: list[float]) -> list[float]:
    """``BINS`` bin edges spaced evenly on a log scale from the fastest to the slowest."""
    low = max(min(samples), 1e-3)  # clocks may disagree by a hair: never 0 or below
    high = max(max(samples), low * 1.01)
    return [low * (high / low) ** (k / BINS) for k in range(BINS + 1)]


def title(document: dict[str, Any]) -> str:
    target = document["meta"]["target"]
    return (
        f"agentcomm bench: send-to-claim latency of {target['name']} {target['version']}"
        f" ({target['kind']}, --impl {target['impl']})"
    )


def subtitle(document: dict[str, Any]) -> str:
    latency, meta = document["latency"], document["meta"]
    machine = meta["machine"]
    load = machine.get("load_average_start") or ["?"]
    return (
        f"{latency['samples']:,} samples {latency['gap_ms']:g} ms apart, "
        f"{latency['workers']} idle waiting workers, {meta['timestamp']}\n"
        f"{machine['processor']}, {machine['cpus']} CPUs, load {load[0]}; "
        f"{machine['platform']}, Python {machine['python']}"
    )
