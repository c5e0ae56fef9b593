"""``agentcomm conformance``: run the conformance suite against an implementation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from agentcomm.cli import exits
from agentcomm.cli.command import command
from agentcomm.cli.common import Session, echo, emit
from agentcomm.cli.values import directory

if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

IN_PROCESS = [
    # A checkout's own ini may name options of plugins the base install lacks
    # (pytest-timeout's `timeout`): they are for its tests, not for this run.
    "-W",
    "ignore:Unknown config option:pytest.PytestConfigWarning",
    # pytest marks the packages of a pytest11 entry point for assertion rewriting, and warns
    # about those already imported: this process imported agentcomm to start pytest. The
    # modules with the suite's asserts are imported, and rewritten, once pytest runs.
    "-W",
    "ignore:Module already imported so cannot be rewritten; agentcomm"
    ":pytest.PytestAssertRewriteWarning",
]
"""pytest options for a run that ``pytest.main`` starts in this process."""

PYTEST_EXITS = {
    0: exits.OK,
    1: exits.ERROR,
    2: exits.ERROR,
    3: exits.ERROR,
    4: exits.USAGE,
    5: exits.NOTHING,
}
"""pytest's exit status -> ours: passed, failed, interrupted, internal error, usage error,
nothing selected.  A --impl that cannot be used is ``exits.CONFIGURATION`` (the report says)."""


def _conformance_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--impl",
        metavar="TARGET",
        help="What to test: a hub URL (default: a fresh reference SQLite hub per test), "
        "python:module:factory, or driver:COMMAND.",
    )
    parser.add_argument(
        "--strict", action="store_true", help="Failing SHOULD statements fail the run too."
    )
    parser.add_argument(
        "--scenarios",
        action="store_true",
        help="Also play the scenario cases shipped with the suite (real agent "
        "processes on the implementation); their verdicts join the report.",
    )
    parser.add_argument(
        "--report-dir",
        type=directory,
        metavar="DIRECTORY",
        default=Path("conformance-report"),
        help="Where report.md, report.json and junit.xml are written.  [default: %(default)s]",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="Print where this installation keeps SPEC.md, DRIVER.md, the JSON Schemas "
        "and the scenario files (JSON), and run nothing.",
    )


@command(_conformance_options, passes_on="pytest_args")
def conformance(session: Session, args: Namespace) -> int | None:
    """Check an implementation against SPEC.md; print the verdict per statement.

    Exit 0: every MUST statement (and every declared MAY) passes; SHOULD statements fail
    the run only with --strict.  1: a statement fails the run (an implementation that
    cannot be started fails CAP-001), or the run was interrupted.  2: usage (a bad
    option, here or after `--`).  3: nothing was selected (`-k` matched no test).
    9: --impl cannot be used (malformed, or names what is not installed).  The report is
    written in every case but a usage error.  Arguments after `--` go to pytest (e.g.
    `-- -n auto`).
    """
    import pytest

    from agentcomm_conformance.resources import PACKAGED

    if args.docs:
        emit({name: str(resource.path()) for name, resource in PACKAGED.items()})
        return None
    target = args.impl or session.url or "sqlite:"
    report_dir: Path = args.report_dir
    for stale in ("report.md", "report.json"):  # what is read below is this run's
        (report_dir / stale).unlink(missing_ok=True)
    arguments = pytest_arguments(target, report_dir, args.strict, args.scenarios, args.pytest_args)
    code = int(pytest.main(arguments))
    stopped = _stopped(report_dir)
    report = report_dir / "report.md"
    if report.exists() and stopped is None:  # a stopped run's paragraph was printed
        echo(report.read_text(encoding="utf-8"))
    if stopped is not None and stopped.get("kind") == "configuration":
        return exits.CONFIGURATION
    return PYTEST_EXITS.get(code, exits.ERROR)


def pytest_arguments(
    target: str, report_dir: Path, strict: bool, scenarios: bool, extra: tuple[str, ...]
) -> list[str]:
    """The suite's directory (and the packaged cases'), not --pyargs: pytest would then look
    for conftests along a checkout's own testpaths, which need the test extras."""
    import agentcomm_conformance.suite as suite
    from agentcomm_conformance.resources import SCENARIO_CASES

    where = [str(Path(suite.__file__).parent), *([str(SCENARIO_CASES.path())] if scenarios else [])]
    return [
        "-p",
        "agentcomm_conformance.plugin",
        *where,
        "--impl",
        target,
        "--conformance-report",
        str(report_dir),
        f"--junitxml={report_dir / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-q",
        *(["--conformance-strict"] if strict else []),
        *IN_PROCESS,
        *extra,
    ]


def _stopped(report_dir: Path) -> dict[str, str] | None:
    """Why nothing was run, as report.json says, or None."""
    try:
        data = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stopped = data.get("stopped") if isinstance(data, dict) else None
    return stopped if isinstance(stopped, dict) else None


COMMANDS = (conformance,)
