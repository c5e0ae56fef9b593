"""``agentcomm conformance``: run the conformance suite against an implementation."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agentcomm.cli import exits
from agentcomm.cli.common import Session, pass_session

PYTEST_EXITS = {0: exits.OK, 1: exits.ERROR, 2: exits.ERROR, 3: exits.ERROR, 4: exits.USAGE,
                5: exits.NOTHING}
"""pytest's exit status -> ours: passed, failed, interrupted, internal error, usage error,
nothing selected.  A --impl that cannot be used is ``exits.CONFIGURATION`` (the report says)."""


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--impl", metavar="TARGET",
              help="What to test: a hub URL (default: a fresh reference SQLite hub per test), "
                   "python:module:factory, or driver:COMMAND.")
@click.option("--strict", is_flag=True, help="Failing SHOULD statements fail the run too.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("conformance-report"), show_default=True,
              help="Where report.md, report.json and junit.xml are written.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@pass_session
def conformance(session: Session, impl: str | None, strict: bool, report_dir: Path,
                pytest_args: tuple[str, ...]) -> None:
    """Check an implementation against SPEC.md; print the verdict per statement.

    Exit 0: every MUST statement (and every declared MAY) passes; SHOULD statements fail
    the run only with --strict.  1: a statement fails the run (an implementation that
    cannot be started fails CAP-001), or the run was interrupted.  2: usage (a bad
    option, here or after `--`).  3: nothing was selected (`-k` matched no test).
    9: --impl cannot be used (malformed, or names what is not installed).  The report is
    written in every case but a usage error.  Arguments after `--` go to pytest (e.g. `-- -n auto`).
    """
    import pytest

    import agentcomm_conformance.suite as suite

    target = impl or session.url or "sqlite:"
    # The suite's directory, not --pyargs: pytest would then look for conftests along
    # the checkout's own testpaths, which need the test extras.
    where = str(Path(suite.__file__).parent)
    args = ["-p", "agentcomm_conformance.plugin", where, "--impl", target,
            "--conformance-report", str(report_dir),
            f"--junitxml={report_dir / 'junit.xml'}", "-p", "no:cacheprovider",
            "-o", "addopts=", "-q", *(["--conformance-strict"] if strict else []),
            # A checkout's own ini may name options of plugins the base install lacks
            # (pytest-timeout's `timeout`): they are for its tests, not for this run.
            "-W", "ignore:Unknown config option:pytest.PytestConfigWarning", *pytest_args]
    for stale in ("report.md", "report.json"):  # what is read below is this run's
        (report_dir / stale).unlink(missing_ok=True)
    code = int(pytest.main(args))
    stopped = _stopped(report_dir)
    report = report_dir / "report.md"
    if report.exists() and stopped is None:  # a stopped run's paragraph was printed
        click.echo(report.read_text(encoding="utf-8"))
    if stopped is not None and stopped.get("kind") == "configuration":
        raise click.exceptions.Exit(exits.CONFIGURATION)
    raise click.exceptions.Exit(PYTEST_EXITS.get(code, exits.ERROR))


def _stopped(report_dir: Path) -> dict[str, str] | None:
    """Why nothing was run, as report.json says, or None."""
    try:
        data = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    stopped = data.get("stopped") if isinstance(data, dict) else None
    return stopped if isinstance(stopped, dict) else None


COMMANDS = (conformance,)
