"""The conformance suite has teeth (STYLE.md section 6).

Each mutant in ``tests/mutants`` is a reference hub (SQLite or Redis) or the reference
driver with one deliberate defect; the suite runs against it, as a user would run it
(``--impl python:...`` or ``--impl driver:...`` in a subprocess, with ``--statement``
selecting the tests of the statements it names in ``CATCHES`` and a few core ones, or a
broken driver's own selection), and every statement in ``CATCHES`` must come out ``fail``
while some of the core ones pass.  The same tests pass against the reference hub (the suite runs
against it in this very session, and as CI's main job), so a failure here is the mutant's.

The runs are independent subprocesses: outside xdist they all start together, a few at a
time, when the first of these tests asks for its result.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agentcomm_conformance.spec import statements
from agentcomm_conformance.targets import load_target
from mutants import catalogue, impl_of, suite_args

ROOT = Path(__file__).resolve().parents[1]
SUITE = "conformance/agentcomm_conformance/suite"
MUTANTS = catalogue()
JOBS = (os.cpu_count() or 2) + 1  # a run waits on its subprocesses part of the time
CORE = ("MSG-001", "CLAIM-001", "REQ-001", "EVT-001")
"""The basics, run against every mutant too: one broken beyond its defect (one that cannot
even run) fails everything, its CATCHES too, and that is not the suite catching it.  Each
mutant must pass some of them (a defect may well show in one: events listed newest first
break EVT-001's test as well)."""
RUN_TIMEOUT = 900.0
"""Seconds for one whole suite run; a test hung by a mutant is cut at 60 s (pytest-timeout)."""


@dataclasses.dataclass
class SuiteRun:
    impl: str
    returncode: int
    output: str
    report: dict[str, Any] | None
    seconds: float

    def verdicts(self) -> dict[str, str]:
        assert self.report is not None, f"no report.json from {self.impl}:\n{self.tail()}"
        return {s["id"]: s["verdict"] for s in self.report["statements"]}

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def path_with_the_mutants() -> str:
    """PYTHONPATH with ``tests/``, so that other processes import the mutants too."""
    return os.pathsep.join([str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])])


def run_suite(impl: str, workdir: Path, selection: tuple[str, ...] = ()) -> SuiteRun:
    """``python -m pytest SUITE --impl IMPL`` from the checkout, with ``tests/`` importable
    (the suite's racer processes import the mutant too)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_CORE_"))
    }  # this run's own options only
    env["PYTHONPATH"] = path_with_the_mutants()
    command = [
        sys.executable,
        "-m",
        "pytest",
        SUITE,
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        "-o",
        "timeout=60",
        f"--impl={impl}",
        f"--conformance-report={workdir / 'report'}",
        f"--basetemp={workdir / 'tmp'}",
        *selection,
    ]
    start = time.monotonic()
    try:
        done = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:  # its partial output may be bytes even so
        partial = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        returncode, output = -1, f"{exc}\n{partial}"
    report_file = workdir / "report" / "report.json"
    report = json.loads(report_file.read_text("utf-8")) if report_file.exists() else None
    return SuiteRun(impl, returncode, output, report, time.monotonic() - start)


class SuiteRuns:
    """Suite runs by ``--impl``, started in a pool; each starts at most once per session."""

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self.tmp = tmp
        self.pool = ThreadPoolExecutor(JOBS)
        self.started: dict[str, Future[SuiteRun]] = {}

    def start(self, mutant: str) -> Future[SuiteRun]:
        """The run of ``mutant``, started once."""
        if mutant not in self.started:
            workdir = self.tmp.mktemp(mutant)
            self.started[mutant] = self.pool.submit(
                run_suite, impl_of(mutant), workdir, selection_for(mutant)
            )
        return self.started[mutant]

    def result(self, mutant: str) -> SuiteRun:
        return self.start(mutant).result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def selection_for(mutant: str) -> tuple[str, ...]:
    """A mutant's own selection (a broken driver's ``ARGS``), else the tests of the
    statements it must fail and of the core ones (``--statement``): its verdicts on the
    rest would not be checked, and running them all for forty mutants took most of CI."""
    return suite_args(mutant) or ("--statement", ",".join(sorted({*MUTANTS[mutant], *CORE})))


@pytest.fixture(scope="session")
def suite_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SuiteRuns]:
    runs = SuiteRuns(tmp_path_factory)
    if not hasattr(request.config, "workerinput"):  # under xdist each test asks for its own
        for item in request.session.items:
            callspec = getattr(item, "callspec", None)
            if "suite_runs" in getattr(item, "fixturenames", ()) and callspec is not None:
                runs.start(callspec.params["mutant"])
    yield runs
    runs.close()


def test_every_mutant_names_statements_that_apply_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", path_with_the_mutants())  # broken drivers import mutants
    known = statements()
    assert len(MUTANTS) >= 9
    for mutant, catches in MUTANTS.items():
        target = load_target(impl_of(mutant))
        try:
            assert target.kind in {"sqlite", "redis"} and "batch" in target.capabilities
            for statement in catches:
                assert statement in known, f"{mutant}: no statement {statement} in SPEC.md"
                assert known[statement].applies_to(target.kind), (
                    f"{mutant}: {statement} does not apply to a {target.kind} hub"
                )
        finally:
            target.close()


def expected_exit(mutant: str) -> int:
    """1 when a statement the mutant breaks fails the run (MUST, MAY), else 0 (SHOULD)."""
    known = statements()
    return 1 if any(known[s].level != "SHOULD" for s in MUTANTS[mutant]) else 0


@pytest.mark.slow
@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_the_suite_catches_the_mutant(
    mutant: str, suite_runs: SuiteRuns, record_property: Any
) -> None:
    run = suite_runs.result(mutant)
    record_property("seconds", round(run.seconds, 1))
    verdicts = run.verdicts()
    assert run.report is not None and run.report["implementation"]["impl"] == run.impl
    missed = {i: verdicts.get(i) for i in MUTANTS[mutant] if verdicts.get(i) != "fail"}
    assert not missed, (
        f"the suite does not catch {mutant}: these statements should fail "
        f"but are {missed}\n{run.tail()}"
    )
    expected = expected_exit(mutant)
    assert run.returncode == expected, f"exit {run.returncode}, not {expected}:\n{run.tail()}"
    if suite_args(mutant):
        return  # a broken driver's own selection: the core statements are not run
    basics = {i: verdicts.get(i) for i in CORE}
    assert "pass" in basics.values(), f"{mutant} is broken beyond its defect: {basics}"
