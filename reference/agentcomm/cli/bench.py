"""``agentcomm bench``: throughput and latency with real processes (see BENCHMARKS.md)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agentcomm.cli.common import Session, emit, pass_session


@click.command()
@click.option("--messages", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Tasks sent, claimed and completed.")
@click.option("--workers", type=click.IntRange(min=1, max=64), default=3, show_default=True,
              help="Worker processes (plus one producer process).")
@click.option("--batch", type=click.IntRange(min=1, max=10_000), default=1, show_default=True,
              help="Messages per send_many / claim_many / complete_many call (1: one each).")
@click.option("--latency", is_flag=True,
              help="Measure send-to-claim latency with idle, waiting workers instead.")
@click.option("--samples", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Messages timed by --latency.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the result as JSON to this file.")
@pass_session
def bench(session: Session, messages: int, workers: int, batch: int, latency: bool,
          samples: int, output: Path | None) -> None:
    """Measure a hub with 1 producer and N worker processes.

    Uses --url when given (its bench queue must be empty), else a fresh SQLite hub in a
    temporary directory.  Prints the figures and the machine they were measured on.
    """
    from agentcomm.bench import BenchConfig, default_url, machine, run_latency, run_throughput

    config = BenchConfig(url=session.url or default_url(), messages=messages, workers=workers,
                         batch=batch)
    result = run_latency(config, samples=samples) if latency else run_throughput(config)
    result["machine"] = machine()
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    emit(result)


COMMANDS = (bench,)
