"""``agentcomm [--url URL] [--agent @ID] COMMAND [ARGS]``: global options, the command
looked up by name, and agentcomm errors turned into exit codes.

Commands are loaded on first use: ``agentcomm send`` imports the messages module and the
hub its URL names, not the agent runtime, the benchmarks, the conformance suite or a Redis
client, and builds the parser of ``send`` alone (on argparse: with click, a ``send``
executed 11% more instructions).  Other packages add commands through the entry-point group
``agentcomm.commands`` (the suite's package adds ``conformance`` and ``bench``): this
package never imports them, and looks them up only for a name that is not its own.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Sequence

from agentcomm import __version__
from agentcomm.cli.command import Command, HelpFormatter, invoke
from agentcomm.cli.common import HubOpener, Session, report_error, show_warnings_as_json
from agentcomm.cli.exits import ERROR, OK, USAGE, Exit, code_for, table
from agentcomm.errors import AgentCommError
from agentcomm.urls import ENV_AGENT, ENV_URL

MODULES: dict[str, tuple[str, ...]] = {
    "admin": ("init", "dead-letters", "stats", "sweep", "purge", "reconcile"),
    "messages": (
        "send",
        "request",
        "reply",
        "receive",
        "claim",
        "extend",
        "complete",
        "fail",
        "release",
        "get",
        "get-reply",
    ),
    "events": ("publish", "subscribe", "unsubscribe", "events", "tail"),
    "registry": ("register", "heartbeat", "deregister", "agents"),
    "runtime": ("agent", "demo"),
    "shell": ("session", "shell-lib"),
    "driver": ("driver",),
    "acl": ("redis-acl",),
}
"""Which module of ``agentcomm.cli`` holds each subcommand (in its ``COMMANDS``)."""

HOME = {name: module for module, names in MODULES.items() for name in names}
PLUGINS = "agentcomm.commands"
"""The entry-point group of commands from other packages: name = "module:Command"."""
GLOBAL_OPTIONS = ("--url", "--agent")
"""The options before COMMAND that take a value."""
USAGE_LINE = "agentcomm [-h] [--url URL] [--agent @ID] [--version] COMMAND [ARGS]..."
DESCRIPTION = """How parallel agents talk: every command prints JSON on stdout.

Payloads are JSON text: an argument, or '-' to read it from stdin."""


def main() -> None:
    """The ``agentcomm`` script."""
    show_warnings_as_json()
    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:
        print("\nAborted!", file=sys.stderr)
        code = ERROR
    except BrokenPipeError:  # the reader of stdout went away (`| head -1`): no traceback,
        devnull = os.open(os.devnull, os.O_WRONLY)  # and nothing left to flush at exit
        os.dup2(devnull, sys.stdout.fileno())
        code = ERROR
    sys.exit(code)


def run(argv: Sequence[str], *, opener: HubOpener | None = None) -> int:
    """Run ``agentcomm ARGV`` in this process; its exit code.  A shell session passes the
    hubs it keeps open (agentcomm.shell.server) as ``opener``."""
    try:
        return _run(list(argv), opener)
    except SystemExit as exc:  # argparse's, after --help, --version or a usage error
        return exit_code(exc.code)


def exit_code(code: object) -> int:
    """The exit status for ``SystemExit(code)``, as Python itself would make it."""
    if code is None:
        return OK
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message")
    return ERROR


def _run(argv: list[str], opener: HubOpener | None) -> int:
    head, name, rest = split_command(argv)
    top = _top_parser()
    options = top.parse_args(head)
    if name is None:
        if not argv:
            top.print_help(sys.stderr)
            return USAGE
        top.error("no COMMAND given: agentcomm --help lists them")
    command = find_command(name)
    if command is None:
        top.error(f"argument COMMAND: no such command {name!r} (agentcomm --help lists them)")
    session = Session.from_options(options.url, options.agent, opener)
    try:
        with session:
            return invoke(command, session, rest, prog=f"agentcomm {name}")
    except AgentCommError as exc:
        report_error(exc)
        return code_for(exc)
    except Exit as exc:
        return exc.code


def split_command(argv: list[str]) -> tuple[list[str], str | None, list[str]]:
    """(the global options, COMMAND or None, its arguments)."""
    at = 0
    while at < len(argv) and argv[at].startswith("-"):
        at += 2 if argv[at] in GLOBAL_OPTIONS else 1
    if at >= len(argv):
        return argv, None, []
    return argv[:at], argv[at], argv[at + 1 :]


def find_command(name: str) -> Command | None:
    """The command named ``name``: ours (its module imported), else another package's."""
    module = HOME.get(name)
    if module is None:
        from importlib.metadata import entry_points  # 10-20 ms: only for a name not our own

        found: Command | None = next(
            (e.load() for e in entry_points(group=PLUGINS, name=name)), None
        )
        return found
    commands: tuple[Command, ...] = importlib.import_module(f"agentcomm.cli.{module}").COMMANDS
    return next(c for c in commands if c.name == name)


def command_names() -> list[str]:
    """Every command, ours and other packages'."""
    from importlib.metadata import entry_points

    return sorted({*HOME, *(e.name for e in entry_points(group=PLUGINS))})


class _TopParser(argparse.ArgumentParser):
    def format_help(self) -> str:
        """The commands (every module loaded: only for --help) and the exit codes."""
        commands = [c for c in map(find_command, command_names()) if c is not None]
        width = max(len(c.name) for c in commands) + 2
        listed = "\n".join(f"  {c.name:<{width}}{c.summary}" for c in commands)
        codes = "\n".join(f"  {row}" for row in table().splitlines())
        self.epilog = f"Commands:\n{listed}\n\nExit codes:\n{codes}"
        return super().format_help()


@functools.cache  # once per process, as each command's parser
def _top_parser() -> argparse.ArgumentParser:
    parser = _TopParser(
        prog="agentcomm",
        usage=USAGE_LINE,
        description=DESCRIPTION,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument(
        "--url", metavar="URL", help=f"The hub, e.g. sqlite:///agents.db [env {ENV_URL}]."
    )
    parser.add_argument(
        "--agent",
        metavar="@ID",
        help=f"Act as this agent, e.g. @service.auth [env {ENV_AGENT}].",
    )
    version = f"agentcomm, version {__version__}"  # not read from metadata: slow
    parser.add_argument("--version", action="version", version=version)
    return parser
