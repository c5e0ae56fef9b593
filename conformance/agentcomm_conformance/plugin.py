"""The pytest plugin that runs the conformance suite against ``--impl``.

Options are flags and ini keys alike: ``--impl``/``conformance_impl``,
``--conformance-strict``/``conformance_strict`` (pytest itself owns ``--strict``),
``--conformance-report``/``conformance_report``,
``--driver-timeout``/``conformance_driver_timeout``.

Each suite test names the statements it checks with ``@pytest.mark.spec("CLAIM-002")``
and the optional behaviour it needs with ``@pytest.mark.capability("batch")``.  A
statement's verdict is pass (its tests ran and passed), fail (one failed) or unknown
(none ran: not applicable to this kind of hub, not declared, or deselected).  Failing
MUST and declared MAY statements fail the run; failing SHOULD statements only under
``--strict``.

The plugin is a ``pytest11`` entry point, so it loads in every pytest run of an environment
that has agentcomm installed.  Until an implementation is named (``--impl`` or the ini key)
it only adds its options, markers and fixtures: it judges nothing, prints nothing and
writes no report, so someone else's tests run as they would without it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Hub
from agentcomm_conformance.report import Ledger
from agentcomm_conformance.spec import statements
from agentcomm_conformance.target import Target, describe, load_target, start_clock

pytest_plugins = ["agentcomm_conformance.scenario_items"]  # scenario files (scenarios/README.md)

LEDGER = pytest.StashKey[Ledger]()
Agents = Callable[..., Hub]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentcomm conformance")
    group.addoption("--impl", help="implementation under test: a hub URL (sqlite:///hub.db), "
                    "python:module:factory, or driver:COMMAND [ini conformance_impl]")
    group.addoption("--conformance-strict", action="store_true", default=None,
                    help="failing SHOULD statements fail the run too [ini conformance_strict]")
    group.addoption("--conformance-report", metavar="DIR",
                    help="write report.md and report.json here [ini conformance_report]")
    group.addoption("--driver-timeout", type=float, metavar="SECONDS",
                    help="longest wait for one driver answer [ini conformance_driver_timeout]")
    parser.addini("conformance_impl", "implementation under test (see --impl)")
    parser.addini("conformance_strict", "fail on SHOULD statements too", type="bool",
                  default=False)
    parser.addini("conformance_report", "directory for report.md and report.json")
    parser.addini("conformance_driver_timeout", "seconds per driver answer", default="10")


def option(config: pytest.Config, name: str) -> Any:
    """``--NAME`` (or ``--conformance-NAME``) when given, else ini ``conformance_NAME``."""
    flag = name if name in {"impl", "driver_timeout"} else f"conformance_{name}"
    given = config.getoption(flag)
    return given if given is not None else config.getini(f"conformance_{name}")


def active(config: pytest.Config) -> bool:
    """Whether this run tests an implementation; otherwise the plugin stays out of it."""
    return bool(option(config, "impl"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(*ids): the SPEC.md statements a test checks")
    config.addinivalue_line("markers", "capability(name): optional behaviour the test needs")
    if not active(config):
        return
    ledger = Ledger(statements(), strict=bool(option(config, "strict")))
    config.stash[LEDGER] = ledger
    if not hasattr(config, "workerinput"):  # xdist workers report; the controller judges
        config.pluginmanager.register(Verdicts(config, ledger), "agentcomm-conformance-verdicts")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not active(config):
        return
    known = statements()
    for item in items:
        for marker in item.iter_markers("spec"):
            unknown = [i for i in marker.args if i not in known]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid} names unknown statements {unknown}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    ids = [i for marker in item.iter_markers("spec") for i in marker.args]
    if ids and active(item.config):  # travels to the xdist controller with the report
        report.user_properties.append(("spec", ids))
    return report


class Verdicts:
    """Judges the run from every test report (also those xdist workers send back)."""

    def __init__(self, config: pytest.Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ledger.record(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.ledger.ran_any:
            return
        if self.ledger.implementation is None:  # under xdist only the workers opened it
            self.ledger.implementation = _describe(self.config)
        directory = option(self.config, "report")
        if directory:
            self.ledger.write(Path(directory))
        if exitstatus == pytest.ExitCode.TESTS_FAILED and not self.ledger.failing():
            session.exitstatus = pytest.ExitCode.OK  # only SHOULD statements failed

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.ledger.ran_any:
            for line in self.ledger.summary_lines():
                terminalreporter.write_line(line)


def _describe(config: pytest.Config) -> dict[str, Any] | None:
    spec = option(config, "impl")
    if not spec:
        return None
    target = load_target(str(spec))
    try:
        return describe(target, str(spec))
    finally:
        target.close()


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def conformance_target(pytestconfig: pytest.Config) -> Iterator[Target]:
    spec = option(pytestconfig, "impl")
    if not spec:
        pytest.fail("no implementation under test: pass --impl (a hub URL such as "
                    "sqlite:///hub.db, python:module:factory, or driver:COMMAND)", pytrace=False)
    target = load_target(str(spec), driver_timeout=float(option(pytestconfig, "driver_timeout")))
    pytestconfig.stash[LEDGER].implementation = describe(target, str(spec))
    yield target
    target.close()


class HubSession:
    """One fresh hub for one test, and every handle the test opened on it."""

    def __init__(self, target: Target, workdir: Path) -> None:
        self.target = target
        self.locator = target.new_hub(workdir)
        self.clock = start_clock(target)
        self.handles: list[Hub] = []

    def open(self, agent: str | None = None) -> Hub:
        handle = self.target.open(self.locator, agent, self.clock)
        self.handles.append(handle)
        return handle

    def elapse(self, seconds: float) -> None:
        """Let time pass: the suite's own clock when declared, else real time."""
        if self.clock is not None:
            self.target.advance(self.handles, self.clock, seconds)
        else:
            time.sleep(seconds)

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


@pytest.fixture
def hub_session(conformance_target: Target, tmp_path: Path,
                request: pytest.FixtureRequest) -> Iterator[HubSession]:
    _skip_unless_applicable(request.node, conformance_target)
    session = HubSession(conformance_target, tmp_path)
    yield session
    session.close()


@pytest.fixture
def agents(hub_session: HubSession) -> Agents:
    """``agents("@name")`` opens this test's hub as that agent (no name: monitoring only)."""
    return hub_session.open


@pytest.fixture
def hub(agents: Agents) -> Hub:
    return agents("@tester")


@pytest.fixture
def elapse(hub_session: HubSession) -> Callable[[float], None]:
    """``elapse(seconds)``: let time pass for the hub (instantly under manual_clock)."""
    return hub_session.elapse


@pytest.fixture
def race(hub_session: HubSession) -> Callable[[str, list[str]], dict[str, list[str]]]:
    """``race(queue, agents)``: agents in separate processes drain ``queue`` at once."""
    return lambda queue, names: hub_session.target.race_claims(hub_session.locator, queue, names)


def _skip_unless_applicable(item: pytest.Item, target: Target) -> None:
    known = statements()
    ids = [i for marker in item.iter_markers("spec") for i in marker.args]
    if ids and not any(known[i].applies_to(target.kind) for i in ids):
        pytest.skip(f"not applicable to a {target.kind!r} hub")
    for marker in item.iter_markers("capability"):
        capability = marker.args[0]
        if capability in target.capabilities:
            continue
        if ids and all(known[i].level == "SHOULD" for i in ids):
            # CAP-002: a SHOULD is a recommendation; not offering it is reported as not met.
            pytest.fail(f"SHOULD not met: capability {capability!r} is not declared",
                        pytrace=False)
        pytest.skip(f"capability {capability!r} not declared")
