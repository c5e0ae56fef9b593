"""The ``agentcomm`` command line's help and exit codes: every error is its exit code and
a JSON report on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentcomm import errors
from agentcomm.api import Hub
from agentcomm.cli import exits
from cli_support import Run, agentcomm, err, out
from cli_support import run as run  # fixtures, imported by name
from cli_support import url as url


def test_help_lists_every_exit_code_as_the_docstring_does(run: Run) -> None:
    result = run("--help", base=())
    assert result.exit_code == 0
    for row in exits.table().splitlines():
        assert " ".join(row.split()) in " ".join(result.stdout.split())
    codes = [int(row.split()[0]) for row in exits.table().splitlines()]
    assert codes == list(range(12))


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.AgentCommError("x"), 1),
        (errors.NotFound("x"), 4),
        (errors.Conflict("x"), 5),
        (errors.StaleLease("x"), 5),
        (errors.AlreadyFinished("x"), 5),
        (errors.DeadlineExceeded("x"), 6),
        (errors.BackendUnavailable("x"), 7),
        (errors.CorruptStore("x"), 7),
        (errors.InvalidInput("x"), 8),
        (errors.ConfigurationError("x"), 9),
    ],
)
def test_every_agentcomm_error_becomes_its_exit_code_and_a_json_report(
    run: Run, monkeypatch: pytest.MonkeyPatch, error: errors.AgentCommError, code: int
) -> None:
    def fail(self: Hub) -> None:
        raise error

    monkeypatch.setattr(Hub, "stats", fail)
    report = err(run("stats"), code)
    assert report == {"error": error.code, "message": "x", "definite": error.definite}


def test_no_url_exits_9_naming_the_option_and_the_variable(run: Run) -> None:
    report = err(run("stats", base=()), 9)
    assert "--url" in report["message"] and "AGENTCOMM_URL" in report["message"]


def test_no_agent_exits_9_naming_the_option_and_the_variable(run: Run) -> None:
    report = err(run("send", "@b", "t", "{}"), 9)
    assert "--agent" in report["message"] and "AGENTCOMM_AGENT" in report["message"]


def test_an_unknown_option_is_a_usage_error_exit_2(run: Run) -> None:
    assert run("send", "--bogus").exit_code == 2


def test_a_file_that_is_not_a_hub_exits_7(run: Run, tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    report = err(run("stats", base=("--url", f"sqlite:///{junk}")), 7)
    assert report["error"] == "corrupt_store"


def test_a_payload_that_is_not_json_exits_8(run: Run) -> None:
    report = err(run("send", "@b", "t", "{not json", agent="@a"), 8)
    assert "not valid JSON" in report["message"]


def test_the_url_comes_from_the_environment_when_not_given(run: Run, url: str) -> None:
    sent = out(
        run("send", "@b", "t", "1", base=(), env={"AGENTCOMM_URL": url, "AGENTCOMM_AGENT": "@a"})
    )
    assert sent["from_agent"] == "@a"


def test_agent_run_refuses_an_id_that_contradicts_the_agent_option(run: Run) -> None:
    report = err(run("agent", "run", "@one", agent="@two"), 9)
    assert "@one" in report["message"] and "@two" in report["message"]


def test_python_dash_m_runs_the_command_line() -> None:
    done = agentcomm("--help")
    assert done.returncode == 0 and b"Exit codes:" in done.stdout
