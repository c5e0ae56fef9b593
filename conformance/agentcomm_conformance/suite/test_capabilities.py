"""Declared capabilities, the suite's clock, and verdicts per statement (SPEC section CAP).

CAP-001, CAP-002 and CAP-004 are promises of the harness: the suite checks them by running
itself, in this process, on a small probe suite against a probe implementation (declared as
a ``redis`` hub with ``manual_clock`` and an unknown capability, but not ``batch`` nor
``live_publish``) and reading the reports.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentcomm import Hub
from agentcomm_conformance.expect import refused
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.spec import statements
from agentcomm_conformance.targets import Target

KINDS = {"sqlite", "redis", "hybrid", "other"}
WAIT = 5.0

PROBE_IMPL = '''
class Handle:
    def close(self):
        pass


class Probe:
    """A hub declared as redis, with manual_clock and teleport; the probe never uses it."""

    name, version, kind = "capability-probe", "0.1.0", "redis"
    capabilities = frozenset({"manual_clock", "teleport"})

    def new_hub(self, workdir):
        return f"probe://{workdir}"

    def open(self, hub, agent, clock):
        return Handle()


def probe():
    return Probe()
'''

PROBE_SUITE = """
import pytest


@pytest.mark.spec("REG-001")
def test_must_passes(hub):
    pass


@pytest.mark.spec("REG-002")
def test_must_fails(hub):
    raise AssertionError("a MUST statement fails")


@pytest.mark.spec("PRIO-004")
def test_should_fails(hub):
    raise AssertionError("a SHOULD statement fails")


@pytest.mark.spec("MSG-004")
@pytest.mark.capability("batch")
def test_undeclared_capability(hub):
    raise AssertionError("never runs: batch is not declared")


@pytest.mark.spec("CAP-003")
@pytest.mark.capability("manual_clock")
def test_declared_capability_passes(hub, elapse):
    elapse(3600)


@pytest.mark.spec("CAP-003")
@pytest.mark.capability("manual_clock")
def test_declared_capability_fails(hub):
    raise AssertionError("a declared capability's statement fails")


@pytest.mark.spec("EVT-006")
@pytest.mark.capability("live_publish")
def test_should_with_undeclared_capability(hub):
    raise AssertionError("never runs: live_publish is not declared")


@pytest.mark.spec("ORD-003")
@pytest.mark.capability("batch")
def test_should_judged_only_with_a_capability_it_does_not_name(hub):
    raise AssertionError("never runs: batch is not declared")
"""

BASELINE = (
    "must_passes or should_fails or undeclared_capability or declared_capability_passes"
    " or should_with_undeclared_capability or capability_it_does_not_name"
)
RUNS: dict[str, tuple[str, list[str]]] = {  # name: (-k expression, extra flags)
    "baseline": (BASELINE, []),
    "strict": (BASELINE, ["--conformance-strict"]),
    "must_fails": ("must_passes or must_fails", []),
    "declared_fails": ("declared_capability_fails", []),
}
Runs = dict[str, tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Each probe run's exit code and report.json: pytest sessions in this process, as
    pytester runs them, with the suite's plugin and the probe's modules only."""
    root = tmp_path_factory.mktemp("probe")
    (root / "pytest.ini").write_text("[pytest]\n")
    (root / "probe_impl.py").write_text(PROBE_IMPL)
    (root / "test_probe.py").write_text(PROBE_SUITE)
    results = {}
    modules = set(sys.modules)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")  # the suite's plugin only
        patch.syspath_prepend(str(root))
        patch.chdir(root)
        try:
            for name, (selection, flags) in RUNS.items():
                code = pytest.main(
                    [
                        "-q",
                        "-s",
                        "-p",
                        "no:cacheprovider",
                        "-p",
                        "agentcomm_conformance.plugin",
                        "--rootdir",
                        str(root),
                        "-c",
                        str(root / "pytest.ini"),
                        "--impl",
                        "python:probe_impl:probe",
                        "--conformance-report",
                        str(root / name),
                        "-k",
                        selection,
                        *flags,
                        "test_probe.py",
                    ]
                )
                report = json.loads((root / name / "report.json").read_text())
                results[name] = (int(code), report)
        finally:
            for module in set(sys.modules) - modules:  # the probe's, imported afresh each time
                del sys.modules[module]
    return results


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {row["id"]: row["verdict"] for row in report["statements"]}


def reason(report: dict[str, Any], statement: str) -> str:
    return str(next(r["reason"] for r in report["statements"] if r["id"] == statement))


def outcomes(report: dict[str, Any], statement: str) -> list[str]:
    row = next(r for r in report["statements"] if r["id"] == statement)
    return [t["outcome"] for t in row["tests"]]


# -- CAP-001 ----------------------------------------------------------------------------------
@pytest.mark.spec("CAP-001")
def test_the_implementation_declares_its_name_version_kind_and_capabilities(
    conformance_target: Target, hub: Hub
) -> None:
    assert isinstance(conformance_target.name, str) and conformance_target.name
    assert isinstance(conformance_target.version, str) and conformance_target.version
    assert conformance_target.kind in KINDS
    assert all(isinstance(c, str) and c for c in conformance_target.capabilities)
    declared = getattr(hub, "capabilities", None)  # in Python: Hub.capabilities
    if declared is not None:
        assert frozenset(declared) == conformance_target.capabilities


@pytest.mark.spec("CAP-001")
def test_a_capability_the_suite_does_not_know_is_reported_and_ignored(runs: Runs) -> None:
    code, report = runs["baseline"]
    implementation = report["implementation"]
    assert (implementation["name"], implementation["version"], implementation["kind"]) == (
        "capability-probe",
        "0.1.0",
        "redis",
    )
    assert implementation["capabilities"] == ["manual_clock", "teleport"]
    assert (code, report["passed"]) == (0, True)


# -- CAP-002 ----------------------------------------------------------------------------------
@pytest.mark.spec("CAP-002")
def test_tests_of_a_declared_capability_run_and_others_are_skipped_as_unknown(runs: Runs) -> None:
    _, report = runs["baseline"]
    assert (outcomes(report, "CAP-003"), verdicts(report)["CAP-003"]) == (["passed"], "pass")
    assert (outcomes(report, "MSG-004"), verdicts(report)["MSG-004"]) == (["skipped"], "unknown")


@pytest.mark.spec("CAP-002", "CAP-004")
def test_a_failing_test_of_a_declared_capability_fails_the_run(runs: Runs) -> None:
    code, report = runs["declared_fails"]
    assert verdicts(report)["CAP-003"] == "fail"
    assert (code, report["passed"]) == (1, False)


@pytest.mark.spec("CAP-002")
def test_a_should_statement_whose_capability_is_not_declared_is_reported_as_not_met(
    runs: Runs,
) -> None:
    code, report = runs["baseline"]
    assert verdicts(report)["EVT-006"] == "fail"
    assert "capability 'live_publish' is not declared" in reason(report, "EVT-006")
    assert code == 0  # a SHOULD statement fails the run only under --strict


@pytest.mark.spec("CAP-002")
def test_a_statement_that_needs_an_undeclared_capability_only_to_be_tested_is_unknown(
    runs: Runs,
) -> None:
    """ORD-003 names no capability, but its probe test needs ``batch``: not a failure."""
    _, report = runs["baseline"]
    assert verdicts(report)["ORD-003"] == "unknown"
    assert reason(report, "ORD-003") == (
        "cannot be judged without capability 'batch', which is not declared"
    )


# -- CAP-004 ----------------------------------------------------------------------------------
@pytest.mark.spec("CAP-004")
def test_every_statement_gets_pass_fail_or_unknown_and_a_failing_should_passes_the_run(
    runs: Runs,
) -> None:
    code, report = runs["baseline"]
    found = verdicts(report)
    assert list(found) == list(statements())
    assert set(found.values()) == {"pass", "fail", "unknown"}
    assert (found["REG-001"], found["PRIO-004"], found["REG-002"]) == ("pass", "fail", "unknown")
    assert report["summary"] == {
        v: list(found.values()).count(v) for v in ("pass", "fail", "unknown")
    }
    assert (code, report["passed"], report["strict"]) == (0, True, False)


@pytest.mark.spec("CAP-004")
def test_a_failing_must_statement_fails_the_run(runs: Runs) -> None:
    code, report = runs["must_fails"]
    assert (verdicts(report)["REG-001"], verdicts(report)["REG-002"]) == ("pass", "fail")
    assert (code, report["passed"]) == (1, False)


@pytest.mark.spec("CAP-004")
def test_under_strict_a_failing_should_statement_fails_the_run(runs: Runs) -> None:
    code, report = runs["strict"]
    assert verdicts(report)["PRIO-004"] == "fail"
    assert (code, report["passed"], report["strict"]) == (1, False, True)


# -- CAP-003 ----------------------------------------------------------------------------------
@pytest.mark.spec("CAP-003")
@pytest.mark.capability("manual_clock")
def test_the_hub_takes_every_time_from_the_suites_clock(
    hub: Hub, hub_session: HubSession, elapse: Callable[[float], None]
) -> None:
    clock = hub_session.clock
    assert clock is not None
    start = clock.now()
    sent = hub.send("@tester", "w", {}, timeout_seconds=30, expires_in=7 * 86_400)
    elapse(86_400)
    claim = hub.claim()
    event = hub.publish("e", {}, ttl=10)
    info = hub.register()
    assert claim is not None
    assert sent.created_at == pytest.approx(start, abs=0.001)
    assert sent.expires_at == pytest.approx(start + 7 * 86_400, abs=0.001)
    assert claim.lease_expires_at == pytest.approx(start + 86_400 + 30, abs=0.001)
    assert (event.published_at, info.last_heartbeat) == pytest.approx(
        (start + 86_400, start + 86_400), abs=0.001
    )


@pytest.mark.spec("CAP-003")
@pytest.mark.capability("manual_clock")
def test_a_waiting_call_lets_time_pass_only_through_the_suites_clock(
    hub: Hub, hub_session: HubSession
) -> None:
    clock = hub_session.clock
    assert clock is not None
    hub.subscribe("news")
    sent = hub.send("@bob", "ask", {})
    start, real_start = clock.now(), time.monotonic()
    assert hub.claim(wait=WAIT) is None
    assert hub.events(wait=WAIT) == []
    with refused("deadline_exceeded"):
        hub.wait_reply(sent.id, timeout=WAIT)
    assert clock.now() - start >= 3 * WAIT
    assert time.monotonic() - real_start < WAIT  # three waits passed in less than one
