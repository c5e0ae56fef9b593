"""How ``agentcomm`` reads its command line (argparse): global options and the environment,
usage errors that name the argument at fault, options between positionals, bounded
numbers, and what goes on to pytest."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from agentcomm.cli.app import split_command
from agentcomm.cli.command import Command, invoke
from agentcomm.cli.common import Session
from agentcomm.cli.values import Number
from agentcomm_conformance.bench.progress import progress_bar
from cli_runner import invoke as agentcomm


def test_an_option_on_the_command_line_is_given_one_from_the_environment_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENTCOMM_URL", "sqlite:///env.db")
    monkeypatch.setenv("AGENTCOMM_AGENT", "@env")
    from_env = Session.from_options(None, None)
    assert (from_env.url, from_env.agent) == ("sqlite:///env.db", "@env")
    assert not from_env.url_given and not from_env.agent_given
    given = Session.from_options("sqlite:///cli.db", "@cli")
    assert (given.url, given.agent, given.url_given, given.agent_given) == (
        "sqlite:///cli.db",
        "@cli",
        True,
        True,
    )
    monkeypatch.setenv("AGENTCOMM_URL", "")  # empty is unset, as click had it
    assert Session.from_options(None, None).url is None


@pytest.mark.parametrize(
    ("argv", "split"),
    [
        (["--url", "u", "--agent", "@a", "send", "--url", "x"], (4, "send", ["--url", "x"])),
        (["--url=u", "stats"], (1, "stats", [])),
        (["--version"], (1, None, [])),
        (["conformance", "--", "-k", "x"], (0, "conformance", ["--", "-k", "x"])),
    ],
)
def test_the_global_options_end_at_the_command_name(
    argv: list[str], split: tuple[int, str | None, list[str]]
) -> None:
    head, name, rest = split_command(argv)
    assert (len(head), name, rest) == split


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["send", "@b", "t", "{}", "--priority", "urgent"], "argument --priority"),
        (["complete", "1", "t", "--limit", "0"], "argument --limit: 0 is not in the range x>=1"),
        (["send", "@b", "t", "{}", "--max-retries", "many"], "argument --max-retries"),
        (["send", "@b", "t", "{}", "--prio", "high"], "--prio"),  # no abbreviations
        (["fail", "1", "t"], "--reason"),
        (["claim", "q", "extra"], "extra"),
        (["bogus"], "'bogus'"),
    ],
)
def test_a_usage_error_exits_2_naming_the_argument_at_fault(args: list[str], named: str) -> None:
    result = agentcomm(["--url", "sqlite:///never-opened.db", *args])
    assert result.exit_code == 2
    assert named in result.stderr and "usage: agentcomm" in result.stderr
    assert result.stdout == ""


def test_options_may_come_between_the_positional_arguments() -> None:
    seen: list[argparse.Namespace] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        for name in ("to", "type", "payload"):
            parser.add_argument(name, nargs="?")
        parser.add_argument("--priority")

    command = Command("send", "", configure, lambda session, args: seen.append(args))
    argv = ["@b", "--priority", "high", "t", "-"]
    assert invoke(command, Session(None, None), argv, "agentcomm send") == 0
    assert vars(seen[0]) == {"to": "@b", "type": "t", "payload": "-", "priority": "high"}


def test_unknown_options_and_what_follows_the_double_dash_go_on_to_pytest() -> None:
    seen: list[argparse.Namespace] = []

    def configure(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--impl")

    command = Command(
        "conformance", "", configure, lambda s, args: seen.append(args), passes_on="pytest_args"
    )
    argv = ["-x", "--impl", "sqlite:", "--", "--impl", "-k", "claims"]
    assert invoke(command, Session(None, None), argv, "agentcomm conformance") == 0
    assert seen[0].impl == "sqlite:"
    assert seen[0].pytest_args == ("-x", "--impl", "-k", "claims")


@pytest.mark.parametrize(
    ("number", "described", "admitted", "refused"),
    [
        (Number(int, low=1), "x>=1", ["1", "7"], ["0", "-1", "1.5"]),
        (Number(int, low=1, high=64), "1<=x<=64", ["1", "64"], ["0", "65"]),
        (Number(float, low=0, above=True), "x>0", ["0.001", "3"], ["0", "-2", "nan?"]),
        (Number(float, low=0.05), "x>=0.05", ["0.05"], ["0.01"]),
    ],
)
def test_a_number_is_checked_against_its_range_and_describes_it(
    number: Number, described: str, admitted: list[str], refused: list[str]
) -> None:
    assert str(number) == described
    for text in admitted:
        assert number(text) == float(text)
    for text in refused:
        with pytest.raises(argparse.ArgumentTypeError):
            number(text)


def test_help_shows_defaults_and_ranges() -> None:
    result = agentcomm(["complete", "--help"])
    assert result.exit_code == 0
    assert "[default: 1; x>=1]" in " ".join(result.stdout.split())


def test_the_version_is_printed_on_stdout() -> None:
    result = agentcomm(["--version"])
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.startswith("agentcomm, version ")


def test_an_error_from_the_hub_is_one_json_line_on_stderr(tmp_path: Path) -> None:
    result = agentcomm(["--url", f"sqlite:///{tmp_path}/missing.db", "stats"])
    assert result.exit_code == 4
    assert json.loads(result.stderr)["error"] == "not_found"


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_is_drawn_on_a_terminal_only() -> None:
    terminal = _Terminal()
    with progress_bar(200, "throughput", quiet=False, stream=terminal) as advance:
        for _ in range(200):
            advance(1)
    drawn = terminal.getvalue()
    assert drawn.count("\r") == 101  # once per percent, not once per count
    assert drawn.rstrip().endswith("200/200")
    for quiet, stream in ((True, _Terminal()), (False, io.StringIO())):
        with progress_bar(10, "latency", quiet=quiet, stream=stream) as advance:
            advance(10)
        assert stream.getvalue() == ""


def test_one_process_runs_many_commands_with_the_parsers_it_built_once(tmp_path: Path) -> None:
    """A shell session parses every call with the same parsers: a usage error, a --help or
    intermixed options leave nothing behind for the next call."""
    url = f"sqlite:///{tmp_path}/hub.db"
    assert agentcomm(["--url", url, "init"]).exit_code == 0
    base = ["--url", url, "--agent", "@a"]
    assert agentcomm([*base, "send", "@b", "t", "{}", "--priority", "urgent"]).exit_code == 2
    assert agentcomm([*base, "send", "--help"]).exit_code == 0
    sent = [agentcomm([*base, "send", "@b", "--priority", "high", "t", f"[{i}]"]) for i in (1, 2)]
    assert [r.exit_code for r in sent] == [0, 0]
    assert [json.loads(r.stdout)["priority"] for r in sent] == ["high", "high"]
    plain = agentcomm([*base, "send", "@b", "t", "[3]"])
    assert json.loads(plain.stdout)["priority"] == "normal"  # no option stays set
    claims = [agentcomm(["--url", url, "--agent", "@b", "claim", "@b"]) for _ in range(3)]
    assert [json.loads(c.stdout)[0]["payload"] for c in claims] == [[1], [2], [3]]
