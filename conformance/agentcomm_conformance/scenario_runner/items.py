"""Scenario files as pytest items: each case file is one test, run against ``--impl``.

A case (``scenarios/README.md`` is the format; ``scenarios/schema.json`` its schema) starts
real agent processes on a fresh hub of the target, then plays its steps through hub
handles of this process: sends, requests, publishes, kills, restarts, and expectations
that are checked at once (``expect``) or polled for, boundedly (``wait_until``).  A
failure names the file and the step::

    scenarios/cases/poison.yaml step 3 (expect): message 'job' is pending, expected dead

Agents run as ``agentcomm agent run`` on reference hub URLs; on other targets as the same
runner on the target's own hub (``python -m agentcomm_conformance.scenario_runner.behave
host``).  Their handlers are ``python -m agentcomm_conformance.scenario_runner.behave
handle``.

This module is the pytest side only: ``format`` reads and checks case files, ``play`` runs
one (a hub, agent processes by ``fleet``, each step by ``steps``), ``checks`` judges its
expectations.

The cases shipped with the suite (``resources.SCENARIO_CASES``: ``scenarios/cases`` of a
checkout, installed as package data) are always known as cases, so
``--pyargs agentcomm_conformance.scenarios`` plays them.  ``--scenarios DIR`` (ini
``conformance_scenarios``) names a directory of further cases; giving it on the command
line also adds DIR to what pytest collects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm_conformance.resources import SCENARIO_CASES
from agentcomm_conformance.scenario_runner.format import Case, ScenarioError, load_case
from agentcomm_conformance.scenario_runner.play import Play, ScenarioFailure
from agentcomm_conformance.targets import Target

SUFFIXES = (".yaml", ".yml")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentcomm conformance")
    group.addoption(
        "--scenarios",
        metavar="DIR",
        help="a directory of further scenario case files, also collected when "
        "given [ini conformance_scenarios]; the suite's own cases are "
        "--pyargs agentcomm_conformance.scenarios",
    )
    parser.addini("conformance_scenarios", "directory of scenario case files")


def scenarios_dir(config: pytest.Config) -> Path | None:
    """The directory of further cases that ``--scenarios`` or the ini names, if any."""
    given = config.getoption("scenarios") or config.getini("conformance_scenarios")
    if not given:
        return None
    path = Path(str(given))
    return (path if path.is_absolute() else config.invocation_params.dir / path).resolve()


def case_dirs(config: pytest.Config) -> list[Path]:
    """Where case files are: the suite's own cases, and ``scenarios_dir``."""
    given = scenarios_dir(config)
    return [SCENARIO_CASES.location().resolve(), *([given] if given else [])]


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("scenarios")
    if not given:
        return
    directory = scenarios_dir(config)
    if directory is None or not directory.is_dir():
        raise pytest.UsageError(f"--scenarios {given}: no such directory")
    if not any(_covers(arg, directory, config) for arg in config.args):
        config.args.append(str(directory))


def _covers(arg: str, directory: Path, config: pytest.Config) -> bool:
    path = Path(arg.split("::")[0])
    path = (path if path.is_absolute() else config.invocation_params.dir / path).resolve()
    return directory == path or path in directory.parents


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in SUFFIXES:
        return None
    parents = file_path.resolve().parents
    if not any(directory in parents for directory in case_dirs(parent.config)):
        return None
    return ScenarioFile.from_parent(parent, path=file_path)


class ScenarioFile(pytest.File):
    """One case file; it yields one item, named by the case's id."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            case = load_case(self.path, self.label)
        except ScenarioError as exc:
            raise self.CollectError(str(exc)) from None
        item = ScenarioItem.from_parent(self, name=case.id, callobj=_test_function(case))
        item.add_marker(pytest.mark.spec(*case.requirements))
        yield item

    @property
    def label(self) -> str:
        root = self.config.rootpath
        path = self.path.resolve()
        return str(path.relative_to(root)) if root in path.parents else str(path)


class ScenarioItem(pytest.Function):
    """A scenario run as a test function, so that it gets the suite's fixtures."""

    # pytest.Function narrows Node.repr_failure so; this keeps Function's signature.
    def repr_failure(  # type: ignore[override]
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> Any:
        if isinstance(excinfo.value, ScenarioFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.name}"


def _test_function(case: Case) -> Callable[..., None]:
    def scenario(conformance_target: Target, tmp_path: Path) -> None:
        Play(case, conformance_target, tmp_path).run()

    return scenario
