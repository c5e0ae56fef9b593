"""``agentcomm conformance``: run the conformance suite against an implementation."""

from __future__ import annotations

from pathlib import Path

import click

from agentcomm.cli.common import Session, emit, pass_session

IN_PROCESS = [
    # A checkout's own ini may name options of plugins the base install lacks
    # (pytest-timeout's `timeout`): they are for its tests, not for this run.
    "-W", "ignore:Unknown config option:pytest.PytestConfigWarning",
    # pytest marks the packages of a pytest11 entry point for assertion rewriting, and warns
    # about those already imported: this process imported agentcomm to start pytest. The
    # modules with the suite's asserts are imported, and rewritten, once pytest runs.
    "-W", "ignore:Module already imported so cannot be rewritten; agentcomm"
          ":pytest.PytestAssertRewriteWarning",
]
"""pytest options for a run that ``pytest.main`` starts in this process."""


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--impl", metavar="TARGET",
              help="What to test: a hub URL (default: a fresh reference SQLite hub per test), "
                   "python:module:factory, or driver:COMMAND.")
@click.option("--strict", is_flag=True, help="Failing SHOULD statements fail the run too.")
@click.option("--scenarios", is_flag=True,
              help="Also play the scenario cases shipped with the suite (real agent "
                   "processes on the implementation); their verdicts join the report.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("conformance-report"), show_default=True,
              help="Where report.md, report.json and junit.xml are written.")
@click.option("--docs", is_flag=True,
              help="Print where this installation keeps SPEC.md, DRIVER.md, the JSON Schemas "
                   "and the scenario files (JSON), and run nothing.")
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
@pass_session
def conformance(session: Session, impl: str | None, strict: bool, scenarios: bool,
                report_dir: Path, docs: bool, pytest_args: tuple[str, ...]) -> None:
    """Check an implementation against SPEC.md; print the verdict per statement.

    Exit 0 when every MUST statement (and every declared MAY) passes, 1 when one fails;
    SHOULD statements fail the run only with --strict.  Arguments after `--` go to pytest
    (e.g. `-- -n auto` or `-- -k claims`).
    """
    import pytest

    from agentcomm_conformance.resources import PACKAGED

    if docs:
        emit({name: str(resource.path()) for name, resource in PACKAGED.items()})
        return
    target = impl or session.url or "sqlite:"
    code = pytest.main(pytest_arguments(target, report_dir, strict, scenarios, pytest_args))
    report = report_dir / "report.md"
    if report.exists():
        click.echo(report.read_text(encoding="utf-8"))
    raise click.exceptions.Exit(int(code))


def pytest_arguments(target: str, report_dir: Path, strict: bool, scenarios: bool,
                     extra: tuple[str, ...]) -> list[str]:
    """The suite's directory (and the packaged cases'), not --pyargs: pytest would then look
    for conftests along a checkout's own testpaths, which need the test extras."""
    import agentcomm_conformance.suite as suite
    from agentcomm_conformance.resources import SCENARIO_CASES

    where = [str(Path(suite.__file__).parent),
             *([str(SCENARIO_CASES.path())] if scenarios else [])]
    return ["-p", "agentcomm_conformance.plugin", *where, "--impl", target,
            "--conformance-report", str(report_dir),
            f"--junitxml={report_dir / 'junit.xml'}", "-p", "no:cacheprovider",
            "-o", "addopts=", "-q", *(["--conformance-strict"] if strict else []),
            *IN_PROCESS, *extra]


COMMANDS = (conformance,)
