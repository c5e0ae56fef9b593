"""Every way a run can go wrong ends in a verdict with its reason, never a traceback.

Each test runs ``agentcomm conformance`` as a user does, against a scripted bad driver or
a bad ``--impl``, and reads what the user gets: the exit code, the terminal, and the
report files, which are always written.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PYTHON = shlex.quote(sys.executable)
ONE_TEST = "test_claim_returns_none_when_nothing_is_claimable"  # CLAIM-001, one claim

# A driver that is the reference driver until its first 'claim', where it misbehaves.
MISBEHAVING = """\
import json, os, sys, time
from agentcomm.driver import Driver

driver = Driver("sqlite:", "manual", sys.stderr)
for line in sys.stdin.buffer:
    request = json.loads(line)
    if request.get("op") == "claim":
        MODE
    sys.stdout.buffer.write(driver.respond(line))
    sys.stdout.flush()
    if driver.closed:
        break
"""
MODES = {
    "garbage": "print('INFO: claiming from the queue', flush=True)",
    "crash": "sys.stderr.write('fatal: the store went away\\n'); sys.exit(3)",
    "hang": "time.sleep(3600)",
    "error": (
        "sys.stderr.write('claim failed: no such column correlation_id\\n')\n"
        "        print(json.dumps({'id': request['id'], 'ok': False, 'error': {"
        "'code': 'internal', 'message': 'OperationalError: table agent_responses has no "
        "column named correlation_id', 'definite': False}}), flush=True)\n"
        "        continue"
    ),
}


class Run:
    """One ``agentcomm conformance`` run: its exit code, terminal output and report."""

    def __init__(self, done: subprocess.CompletedProcess[str], report_dir: Path) -> None:
        self.code = done.returncode
        self.terminal = done.stdout + done.stderr
        self.report: dict[str, Any] = json.loads((report_dir / "report.json").read_text())
        self.markdown = (report_dir / "report.md").read_text()

    def verdicts(self) -> dict[str, str]:
        return {s["id"]: s["verdict"] for s in self.report["statements"]}

    def reason(self, statement: str) -> str:
        return str(next(s["reason"] for s in self.report["statements"] if s["id"] == statement))


def conformance(tmp_path: Path, impl: str, *pytest_args: str) -> Run:
    report_dir = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "agentcomm.cli",
            "conformance",
            "--impl",
            impl,
            "--report-dir",
            str(report_dir),
            "--",
            "-p",
            "no:randomly",
            *pytest_args,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    run = Run(done, report_dir)
    assert "Traceback" not in run.terminal, run.terminal
    assert (report_dir / "junit.xml").exists()
    return run


def script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# -- the implementation cannot be run: one verdict, one paragraph ------------------------------
def stopped_at_start(run: Run, said: str) -> None:
    assert run.code == 1
    assert run.verdicts()["CAP-001"] == "fail" and said in run.reason("CAP-001")
    assert set(run.verdicts().values()) == {"fail", "unknown"}
    assert "could not be started or broke the handshake" in run.reason("CLAIM-001")
    assert run.report["stopped"]["kind"] == "start" and not run.report["passed"]
    assert "nothing was run, because the implementation could not be started" in run.terminal
    assert said in run.terminal and said in run.markdown


def test_a_driver_that_does_not_exist_fails_cap_001_and_nothing_else_is_judged(
    tmp_path: Path,
) -> None:
    run = conformance(tmp_path, f"driver:{tmp_path / 'no-such-driver'}")
    stopped_at_start(run, "could not be started from")
    assert "No such file or directory" in run.reason("CAP-001")


def test_a_log_line_on_stdout_at_hello_is_quoted_in_the_verdict(tmp_path: Path) -> None:
    # Its log line goes to stderr before the stray one to stdout: once the suite has read
    # the stray line, the log line is certainly there to quote.
    driver = script(
        tmp_path,
        "chatty.sh",
        "#!/bin/sh\necho 'loading config' >&2\necho 'my-hub 2.3 starting up'\ncat > /dev/null\n",
    )
    run = conformance(tmp_path, f"driver:{driver}")
    stopped_at_start(
        run,
        "wrote a line that is not JSON while 'hello' (request 0) was due: 'my-hub 2.3 starting up'",
    )
    assert "| loading config" in run.reason("CAP-001")  # the tail of its stderr


def test_a_driver_speaking_another_protocol_version_gets_a_verdict_naming_both(
    tmp_path: Path,
) -> None:
    hello = {
        "id": 0,
        "ok": True,
        "result": {
            "protocol": 2,
            "implementation": {"name": "future", "version": "9"},
            "kind": "other",
            "capabilities": [],
        },
    }
    answer = shlex.quote(json.dumps(hello))
    driver = script(tmp_path, "future.sh", f"#!/bin/sh\nread line\necho {answer}\ncat >/dev/null\n")
    run = conformance(tmp_path, f"driver:{driver}")
    stopped_at_start(run, "speaks protocol 2; this suite speaks protocol 1")


@pytest.mark.parametrize(
    ("impl", "said"),
    [
        ("foo", "is not a hub URL"),
        ("python:no_such_module:factory", "No module named 'no_such_module'"),
    ],
    ids=["not-a-target", "no-module"],
)
def test_an_impl_that_cannot_be_used_is_a_configuration_error_with_every_statement_unknown(
    tmp_path: Path, impl: str, said: str
) -> None:
    run = conformance(tmp_path, impl)
    assert run.code == 9, run.terminal
    assert set(run.verdicts().values()) == {"unknown"}
    assert run.report["stopped"]["kind"] == "configuration" and said in run.terminal
    assert "--impl cannot be used" in run.reason("CAP-001")


def test_the_plugin_run_by_pytest_without_impl_is_a_usage_error_with_its_report(
    tmp_path: Path,
) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not the checkout's: no impl there
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "agentcomm_conformance.plugin",
            "--pyargs",
            "agentcomm_conformance.suite",
            "-k",
            ONE_TEST,
            f"--conformance-report={tmp_path / 'report'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout
    assert "no implementation under test: pass --impl" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["stopped"]["kind"] == "configuration"


# -- the driver misbehaves during a test: that test's statements fail, with the reason ----------
@pytest.mark.parametrize(
    ("mode", "said"),
    [
        (
            "garbage",
            "wrote a line that is not JSON while 'claim' (request 2) was due: "
            "'INFO: claiming from the queue'",
        ),
        (
            "crash",
            "exited with code 3 before answering 'claim' (request 2)\n  its stderr ends "
            "with:\n    | agentcomm driver: hello",
        ),
        ("hang", "did not answer 'claim' (request 2) within 1 s; it was killed"),
        (
            "error",
            "answered 'claim' (request 2) with error 'internal': OperationalError: table "
            "agent_responses has no column named correlation_id",
        ),
    ],
)
def test_a_driver_misbehaving_mid_run_fails_the_statement_under_test_with_its_reason(
    tmp_path: Path, mode: str, said: str
) -> None:
    driver = script(tmp_path, "bad_driver.py", MISBEHAVING.replace("MODE", MODES[mode]))
    run = conformance(
        tmp_path, f"driver:{PYTHON} {driver}", "--driver-timeout", "1", "-k", ONE_TEST
    )
    assert run.code == 1
    assert run.verdicts()["CLAIM-001"] == "fail"
    reason = run.reason("CLAIM-001")
    assert reason.startswith("test_claims.py:") and said in reason
    assert said.splitlines()[0] in run.markdown and said in run.terminal
    if mode in {"crash", "error"}:
        assert (
            "fatal: the store went away" if mode == "crash" else "no such column correlation_id"
        ) in reason  # its stderr, quoted


# -- what the report says about statements nothing judged ------------------------------------------
def test_a_selection_that_matches_nothing_exits_3_and_reports_every_statement_unknown(
    tmp_path: Path,
) -> None:
    run = conformance(tmp_path, "sqlite:", "-k", "no_such_test")
    assert run.code == 3
    assert set(run.verdicts().values()) == {"unknown"}
    assert "no test of it was selected" in run.reason("CLAIM-002")


def test_every_unknown_statement_has_its_reason_in_report_md(tmp_path: Path) -> None:
    run = conformance(tmp_path, "sqlite:", "-k", "redis or test_claims or live_publish")
    assert run.code == 0
    reasons = {s["id"]: s["reason"] for s in run.report["statements"] if s["verdict"] == "unknown"}
    assert reasons["COMPAT-006"] == "not applicable to a hub of kind 'sqlite'"
    assert reasons["REG-001"].startswith("not run: no test of it was selected")
    assert all(reasons.values())
    for statement, reason in reasons.items():
        assert f"- **{statement}** (" in run.markdown and reason in run.markdown


def test_prio_004_without_manual_clock_is_unknown_with_that_reason_not_a_failure(
    tmp_path: Path,
) -> None:
    """Its test needs the suite's clock to let 30 days pass; PRIO-004 names no capability."""
    system = f"driver:{PYTHON} -m agentcomm.cli driver --url sqlite: --clock system"
    run = conformance(tmp_path, system, "-k", "counters_never_decrease")
    assert run.code == 0
    assert run.verdicts()["PRIO-004"] == "unknown"
    assert run.reason("PRIO-004") == (
        "cannot be judged without capability 'manual_clock', which is not declared"
    )
