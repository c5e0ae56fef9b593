"""``agentcomm bench``: throughput and latency with real processes, against any target.

See README.md ("Benchmarks") and BENCHMARKS.md.  Stdout gets the result as JSON; stderr
a progress bar (when it is a terminal) and a short summary; ``--out-dir`` the stored
JSON and the latency histogram.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcomm.cli.command import UsageError, command
from agentcomm.cli.common import Session, echo, emit
from agentcomm.cli.exits import TargetMissed
from agentcomm.cli.values import Number, directory, file
from agentcomm.errors import AgentCommError

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

PHASES = ("throughput", "latency")
POSITIVE = Number(float, low=0, above=True)


def _bench_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--impl",
        metavar="TARGET",
        help="What to measure, as for `agentcomm conformance --impl`: sqlite:, redis: "
        "(a private redis-server), fakeredis:, hybrid:, a hub URL template, "
        "python:module:factory or driver:COMMAND; a fresh hub is made on it.  "
        "Default: the global --url hub itself (not AGENTCOMM_URL), else sqlite:.",
    )
    _sizes(parser)
    parser.add_argument(
        "--only",
        choices=PHASES,
        help="Run one phase only (default: throughput, then latency).",
    )
    parser.add_argument(
        "--latency", action="store_true", help="The same as --only latency (its old spelling)."
    )
    _goals(parser)
    _outputs(parser)


def _sizes(parser: ArgumentParser) -> None:
    shown = "  [default: %(default)s; %(type)s]"
    parser.add_argument(
        "--messages",
        type=Number(int, low=1),
        default=20_000,
        help="Tasks sent, claimed and completed in the throughput phase." + shown,
    )
    parser.add_argument(
        "--workers",
        type=Number(int, low=1, high=64),
        default=3,
        help="Worker processes (plus one producer process)." + shown,
    )
    parser.add_argument(
        "--batch",
        type=Number(int, low=1, high=10_000),
        default=1,
        help="Messages per send_many / claim_many / complete_many call (1: one each)." + shown,
    )
    parser.add_argument(
        "--samples",
        type=Number(int, low=10),
        default=2000,
        help="Messages timed in the latency phase, 2 ms apart." + shown,
    )


def _goals(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--target-rate",
        type=POSITIVE,
        metavar="MSG_PER_S",
        help="Throughput goal [default: by kind of hub].  [%(type)s]",
    )
    parser.add_argument(
        "--target-p99",
        type=POSITIVE,
        metavar="MS",
        help="Latency goal for p99 [default: by kind of hub].  [%(type)s]",
    )
    parser.add_argument(
        "--gate",
        action="store_true",
        help="Exit 10 when a goal is missed (otherwise only the summary says so).",
    )


def _outputs(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--out-dir",
        type=directory,
        metavar="DIRECTORY",
        default=Path("bench-results"),
        help="Where <UTC stamp>-<kind>.json and .png are stored.  [default: %(default)s]",
    )
    parser.add_argument(
        "--output",
        type=file,
        metavar="FILE",
        help="Also write the result (as printed) to this file.",
    )
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="No progress bar and no summary on stderr."
    )
    parser.add_argument(
        "--ops",
        action="store_true",
        help="Measure each operation's cost with pytest-benchmark instead; arguments "
        "after `--` go to pytest.",
    )


@command(_bench_options, passes_on="pytest_args")
def bench(session: Session, args: Namespace) -> int | None:
    """Measure a hub with 1 producer and N worker processes: throughput, then latency.

    Prints the result as JSON, stores it with the machine and versions it was measured on,
    plots the latency histogram, and judges the figures against the goals (by default the
    design's table: sqlite >= 1,000 msg/s and p99 <= 100 ms; redis and hybrid >= 10,000
    msg/s and p99 <= 10 ms).  A failed exactly-once check always exits 1.
    """
    from agentcomm_conformance.bench.measure import measure
    from agentcomm_conformance.bench.progress import progress_bar
    from agentcomm_conformance.bench.run import BenchConfig, BenchFailed
    from agentcomm_conformance.bench.subject import open_subject
    from agentcomm_conformance.driver.process import DriverFailure

    # Only an explicit --url: AGENTCOMM_URL names the hub the agents run on, and a
    # benchmark must not load that hub with 22,000 messages unasked.
    url = session.url if session.url_given else None
    if args.ops:
        return _run_ops(args.impl or url, args.out_dir, args.pytest_args)
    if args.pytest_args:
        raise UsageError(
            f"unexpected arguments {' '.join(args.pytest_args)!r}: only --ops "
            "passes arguments on to pytest"
        )
    phases = _phases(args.only, args.latency)
    config = BenchConfig(
        messages=args.messages, workers=args.workers, batch=args.batch, samples=args.samples
    )
    try:
        with open_subject(args.impl, url) as subject:
            document = measure(
                subject,
                config,
                phases,
                (args.target_rate, args.target_p99),
                functools.partial(progress_bar, quiet=args.quiet),
            )
    except DriverFailure as exc:  # not an AgentCommError: no hub answered
        raise BenchFailed(f"the driver failed: {exc}") from None
    _finish(document, args.out_dir, args.output, quiet=args.quiet, gate=args.gate)
    return None


def _phases(only: str | None, latency: bool) -> tuple[str, ...]:
    if latency and only == "throughput":
        raise UsageError("--latency is --only latency; it contradicts --only throughput")
    chosen = "latency" if latency else only
    return (chosen,) if chosen else PHASES


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
        echo(line, err=True)
    if not document["exactly_once"]:
        raise AgentCommError("the exactly-once check failed: see check in the result")
    if gate and missed(document["verdicts"]):
        raise TargetMissed


def _run_ops(spec: str | None, out_dir: Path, pytest_args: tuple[str, ...]) -> int:
    from agentcomm_conformance.bench.meta import now_utc
    from agentcomm_conformance.bench.ops import run_ops
    from agentcomm_conformance.bench.report import stamp

    return run_ops(spec or "sqlite:", f"{stamp(now_utc())}-ops", out_dir, pytest_args)


COMMANDS = (bench,)
