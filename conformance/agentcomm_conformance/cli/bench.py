"""``agentcomm bench``: throughput and latency with real processes, against any target.

See README.md ("Benchmarks") and BENCHMARKS.md.  Stdout gets the result as JSON; stderr
a progress bar (when it is a terminal) and a short summary; ``--out-dir`` the stored
JSON and the latency histogram.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from agentcomm.cli.common import Session, emit, pass_session
from agentcomm.cli.exits import TargetMissed
from agentcomm.errors import AgentCommError

PHASES = ("throughput", "latency")


@click.command(context_settings={"ignore_unknown_options": True})
@click.option(
    "--impl",
    metavar="TARGET",
    help="What to measure, as for `agentcomm conformance --impl`: sqlite:, redis: "
    "(a private redis-server), fakeredis:, hybrid:, a hub URL template, "
    "python:module:factory or driver:COMMAND; a fresh hub is made on it.  "
    "Default: the global --url hub itself (not AGENTCOMM_URL), else sqlite:.",
)
@click.option(
    "--messages",
    type=click.IntRange(min=1),
    default=20_000,
    show_default=True,
    help="Tasks sent, claimed and completed in the throughput phase.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=3,
    show_default=True,
    help="Worker processes (plus one producer process).",
)
@click.option(
    "--batch",
    type=click.IntRange(min=1, max=10_000),
    default=1,
    show_default=True,
    help="Messages per send_many / claim_many / complete_many call (1: one each).",
)
@click.option(
    "--samples",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="Messages timed in the latency phase, 2 ms apart.",
)
@click.option(
    "--only",
    type=click.Choice(PHASES),
    help="Run one phase only (default: throughput, then latency).",
)
@click.option("--latency", is_flag=True, help="The same as --only latency (its old spelling).")
@click.option(
    "--target-rate",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MSG_PER_S",
    help="Throughput goal [default: by kind of hub].",
)
@click.option(
    "--target-p99",
    type=click.FloatRange(min=0, min_open=True),
    metavar="MS",
    help="Latency goal for p99 [default: by kind of hub].",
)
@click.option(
    "--gate",
    is_flag=True,
    help="Exit 10 when a goal is missed (otherwise only the summary says so).",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("bench-results"),
    show_default=True,
    help="Where <UTC stamp>-<kind>.json and .png are stored.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result (as printed) to this file.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary on stderr.")
@click.option(
    "--ops",
    is_flag=True,
    help="Measure each operation's cost with pytest-benchmark instead; arguments "
    "after `--` go to pytest.",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@pass_session
def bench(
    session: Session,
    impl: str | None,
    messages: int,
    workers: int,
    batch: int,
    samples: int,
    only: str | None,
    latency: bool,
    target_rate: float | None,
    target_p99: float | None,
    gate: bool,
    out_dir: Path,
    output: Path | None,
    quiet: bool,
    ops: bool,
    pytest_args: tuple[str, ...],
) -> None:
    """Measure a hub with 1 producer and N worker processes: throughput, then latency.

    Prints the result as JSON, stores it with the machine and versions it was measured on,
    plots the latency histogram, and judges the figures against the goals (by default the
    design's table: sqlite >= 1,000 msg/s and p99 <= 100 ms; redis and hybrid >= 10,000
    msg/s and p99 <= 10 ms).  A failed exactly-once check always exits 1.
    """
    from agentcomm_conformance.bench.measure import measure
    from agentcomm_conformance.bench.run import BenchConfig, BenchFailed
    from agentcomm_conformance.bench.subject import open_subject
    from agentcomm_conformance.driver.process import DriverFailure

    if ops:
        _run_ops(impl or (session.url if session.url_given else None), out_dir, pytest_args)
    if pytest_args:
        raise click.UsageError(
            f"unexpected arguments {' '.join(pytest_args)!r}: only --ops "
            "passes arguments on to pytest"
        )
    phases = _phases(only, latency)
    config = BenchConfig(messages=messages, workers=workers, batch=batch, samples=samples)
    try:
        # Only an explicit --url: AGENTCOMM_URL names the hub the agents run on, and a
        # benchmark must not load that hub with 22,000 messages unasked.
        with open_subject(impl, session.url if session.url_given else None) as subject:
            document = measure(
                subject,
                config,
                phases,
                (target_rate, target_p99),
                functools.partial(_progress, quiet=quiet),
            )
    except DriverFailure as exc:  # not an AgentCommError: no hub answered
        raise BenchFailed(f"the driver failed: {exc}") from None
    _finish(document, out_dir, output, quiet=quiet, gate=gate)


def _phases(only: str | None, latency: bool) -> tuple[str, ...]:
    if latency and only == "throughput":
        raise click.UsageError("--latency is --only latency; it contradicts --only throughput")
    chosen = "latency" if latency else only
    return (chosen,) if chosen else PHASES


@contextmanager
def _progress(total: int, label: str, *, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A bar on stderr, advanced by the counts the workers report; hidden when stderr is
    not a terminal (logs stay clean) or with --quiet."""
    hidden = quiet or not sys.stderr.isatty()
    with click.progressbar(
        length=total,
        label=label,
        file=sys.stderr,
        hidden=hidden,
        show_pos=True,
        update_min_steps=max(1, total // 100),
    ) as bar:
        yield bar.update


def _finish(
    document: dict[str, Any], out_dir: Path, output: Path | None, *, quiet: bool, gate: bool
) -> None:
    from agentcomm_conformance.bench.goals import missed
    from agentcomm_conformance.bench.meta import now_utc
    from agentcomm_conformance.bench.report import save, stamp, summary, without_samples

    notices = save(document, out_dir, f"{stamp(now_utc())}-{document['meta']['target']['kind']}")
    printed = without_samples(document)
    if output is not None:
        output.write_text(json.dumps(printed, indent=2) + "\n", encoding="utf-8")
    emit(printed)
    for line in notices + ([] if quiet else summary(document)):
        click.echo(line, err=True)
    if not document["exactly_once"]:
        raise AgentCommError("the exactly-once check failed: see check in the result")
    if gate and missed(document["verdicts"]):
        raise TargetMissed


def _run_ops(spec: str | None, out_dir: Path, pytest_args: tuple[str, ...]) -> None:
    from agentcomm_conformance.bench.meta import now_utc
    from agentcomm_conformance.bench.ops import run_ops
    from agentcomm_conformance.bench.report import stamp

    raise click.exceptions.Exit(
        run_ops(spec or "sqlite:", f"{stamp(now_utc())}-ops", out_dir, pytest_args)
    )


COMMANDS = (bench,)
