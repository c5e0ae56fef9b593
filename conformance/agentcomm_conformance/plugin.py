"""The pytest plugin that runs the conformance suite against ``--impl``.

Options are flags and ini keys alike: ``--impl``/``conformance_impl``,
``--conformance-strict``/``conformance_strict`` (pytest itself owns ``--strict``),
``--conformance-report``/``conformance_report``,
``--driver-timeout``/``conformance_driver_timeout``.

Each suite test names the statements it checks with ``@pytest.mark.spec("CLAIM-002")``
and the optional behaviour it needs with ``@pytest.mark.capability("batch")``.  A
statement's verdict is pass (its tests ran and passed), fail (one failed) or unknown
(none ran: not applicable to this kind of hub, not declared, or deselected), each with
its reason (report.py).  Failing MUST and declared MAY statements fail the run; failing
SHOULD statements only under ``--strict``.  An implementation that cannot be run at all
is one verdict, never a traceback (harness.py).

The plugin is a ``pytest11`` entry point, so it loads in every pytest run of an environment
that has agentcomm installed.  It judges only the suite's own tests and scenario cases: in a
run without them it only adds its options, markers and fixtures, prints nothing and writes
no report, so someone else's tests run as they would without it.  A run of the suite that
names no implementation (``--impl`` or the ini key) is a usage error, with its report.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Hub
from agentcomm_conformance.harness import Halt, load_or_halt, plain_words
from agentcomm_conformance.report import CONFIGURATION, Ledger
from agentcomm_conformance.spec import statements
from agentcomm_conformance.targets import Target, describe, load_target, start_clock

# scenario files (scenarios/README.md)
pytest_plugins = ["agentcomm_conformance.scenario_runner.items"]

LEDGER = pytest.StashKey[Ledger]()
Agents = Callable[..., Hub]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("agentcomm conformance")
    group.addoption(
        "--impl",
        help="implementation under test: a hub URL (sqlite:///hub.db), "
        "python:module:factory, or driver:COMMAND [ini conformance_impl]",
    )
    group.addoption(
        "--conformance-strict",
        action="store_true",
        default=None,
        help="failing SHOULD statements fail the run too [ini conformance_strict]",
    )
    group.addoption(
        "--conformance-report",
        metavar="DIR",
        help="write report.md and report.json here [ini conformance_report]",
    )
    group.addoption(
        "--driver-timeout",
        type=float,
        metavar="SECONDS",
        help="longest wait for one driver answer [ini conformance_driver_timeout]",
    )
    group.addoption(
        "--statement",
        action="append",
        default=[],
        metavar="ID",
        help="run only the tests of these statements: ids (CLAIM-002) or "
        "sections (CLAIM), comma-separated or repeated",
    )
    parser.addini("conformance_impl", "implementation under test (see --impl)")
    parser.addini("conformance_strict", "fail on SHOULD statements too", type="bool", default=False)
    parser.addini("conformance_report", "directory for report.md and report.json")
    parser.addini("conformance_driver_timeout", "seconds per driver answer", default="10")


def option(config: pytest.Config, name: str) -> Any:
    """``--NAME`` (or ``--conformance-NAME``) when given, else ini ``conformance_NAME``."""
    flag = name if name in {"impl", "driver_timeout"} else f"conformance_{name}"
    given = config.getoption(flag)
    return given if given is not None else config.getini(f"conformance_{name}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "spec(*ids): the SPEC.md statements a test checks")
    config.addinivalue_line("markers", "capability(name): optional behaviour the test needs")
    # The ledger judges only the suite's own tests (marked `spec`): in another project's
    # run, where no such test runs, it prints and writes nothing.
    ledger = Ledger(statements(), strict=bool(option(config, "strict")))
    config.stash[LEDGER] = ledger
    if not hasattr(config, "workerinput"):  # xdist workers report; the controller judges
        config.pluginmanager.register(Verdicts(config, ledger), "agentcomm-conformance-verdicts")


def is_suite_test(item: pytest.Item) -> bool:
    """What the plugin judges: in a run that names an implementation, every test; in any
    other, only the suite's own tests and scenario cases, whose run then stops for want of
    an implementation.  Another project's tests, which may carry a `spec` marker of their
    own, are left alone."""
    if option(item.config, "impl"):
        return True
    if type(item).__module__ == "agentcomm_conformance.scenario_runner.items":  # a ScenarioItem
        return True
    module = getattr(item, "module", None)
    return getattr(module, "__name__", "").startswith("agentcomm_conformance.suite.")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = statements()
    for item in filter(is_suite_test, items):
        for marker in item.iter_markers("spec"):
            unknown = [i for i in marker.args if i not in known]
            if unknown:
                raise pytest.UsageError(f"{item.nodeid} names unknown statements {unknown}")
    wanted = chosen_statements(config.getoption("statement"), known)
    if wanted is not None:
        kept = [i for i in items if not is_suite_test(i) or wanted.intersection(spec_ids(i))]
        chosen = set(map(id, kept))
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in chosen])
        items[:] = kept


def chosen_statements(given: list[str], known: Iterable[str]) -> set[str] | None:
    """The statements ``--statement`` names (None: all), a section name standing for
    every statement in it; a name that matches nothing is a usage error naming it."""
    names = [n.strip().upper() for value in given for n in value.split(",") if n.strip()]
    if not names:
        return None
    chosen: set[str] = set()
    for name in names:
        matched = {i for i in known if i == name or i.rpartition("-")[0] == name}
        if not matched:
            raise pytest.UsageError(
                f"--statement {name!r} names no statement of SPEC.md "
                "(an id such as CLAIM-002, or a section such as CLAIM)"
            )
        chosen |= matched
    return chosen


def spec_ids(item: pytest.Item) -> list[str]:
    """The statements a test checks (its ``spec`` markers)."""
    return [i for marker in item.iter_markers("spec") for i in marker.args]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if not is_suite_test(item):  # someone else's test: left alone
        return report
    ids = spec_ids(item)
    if ids:  # travels to the xdist controller with the report, as the rest below
        report.user_properties.append(("spec", ids))
    implementation = item.config.stash[LEDGER].implementation
    if implementation is not None:
        report.user_properties.append(("implementation", implementation))
    error = None if call.excinfo is None else call.excinfo.value
    if isinstance(error, Halt):
        report.user_properties.append(("stopped", dataclasses.asdict(error.stopped)))
    elif error is not None and report.failed:
        said = plain_words(item, error, call.excinfo.traceback)  # type: ignore[union-attr]
        if said is not None:
            report.longrepr = said
    return report


class Verdicts:
    """Judges the run from every test report (also those xdist workers send back)."""

    def __init__(self, config: pytest.Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.ledger.record(report)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        ledger = self.ledger
        directory = option(self.config, "report")
        if not (ledger.ran_any or directory):
            return  # no conformance test here: the checkout's own tests
        if ledger.implementation is None and ledger.stopped is None:
            ledger.implementation = _describe(self.config)  # no test opened it here
        if directory:  # always: a run that judged nothing says so, and why
            ledger.write(Path(directory))
        session.exitstatus = _exit_status(ledger, exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.ledger.ran_any:
            for line in self.ledger.summary_lines():
                terminalreporter.write_line(line)


def _exit_status(ledger: Ledger, exitstatus: int) -> int:
    """pytest's exit status, judged by the statements rather than by the tests."""
    if ledger.stopped is not None and ledger.stopped.kind == CONFIGURATION:
        return pytest.ExitCode.USAGE_ERROR
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return exitstatus  # interrupted, internal error, usage error, nothing collected
    return pytest.ExitCode.TESTS_FAILED if ledger.failing() else pytest.ExitCode.OK


def _describe(config: pytest.Config) -> dict[str, Any] | None:
    """The implementation's declaration, for a run in which no test opened it."""
    spec = option(config, "impl")
    if not spec:
        return None
    try:
        target = load_target(str(spec), driver_timeout=float(option(config, "driver_timeout")))
    except Exception:  # it cannot even be loaded: the report names what --impl said
        return {"impl": str(spec)}
    try:
        return describe(target, str(spec))
    finally:
        target.close()


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def conformance_target(pytestconfig: pytest.Config) -> Iterator[Target]:
    spec = option(pytestconfig, "impl")
    target = load_or_halt(spec and str(spec), float(option(pytestconfig, "driver_timeout")))
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
def hub_session(
    conformance_target: Target, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[HubSession]:
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
    ids = spec_ids(item)
    if ids and not any(known[i].applies_to(target.kind) for i in ids):
        pytest.skip(f"not applicable to a hub of kind {target.kind!r}")
    for marker in item.iter_markers("capability"):
        capability = marker.args[0]
        if capability in target.capabilities:
            continue
        if any(known[i].level == "SHOULD" and capability in known[i].capabilities for i in ids):
            # CAP-002: a SHOULD is a recommendation; not offering it is reported as not met.
            pytest.fail(f"SHOULD not met: capability {capability!r} is not declared", pytrace=False)
        named = any(capability in known[i].capabilities for i in ids)
        pytest.skip(
            f"capability {capability!r} not declared"
            if named
            else f"cannot be judged without capability {capability!r}, which is not declared"
        )
