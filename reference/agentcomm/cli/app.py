"""The ``agentcomm`` group: global options, and agentcomm errors turned into exit codes.

Subcommands are loaded on first use (click's lazy group pattern): ``agentcomm send``
imports the messages module and the hub its URL names, not the agent runtime, the
benchmarks, the conformance suite or a Redis client.  Other packages add commands through
the entry-point group ``agentcomm.commands`` (the suite's package adds ``conformance``
and ``bench``): this package never imports them, and looks them up only for a name that
is not its own.
"""

from __future__ import annotations

import importlib
from typing import Any

import click
from click.core import ParameterSource

from agentcomm import __version__
from agentcomm.cli.common import HubOpener, Session, report_error, show_warnings_as_json
from agentcomm.cli.exits import code_for, table
from agentcomm.errors import AgentCommError
from agentcomm.urls import ENV_AGENT, ENV_URL

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {row}" for row in table().splitlines())

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
"""The entry-point group of commands from other packages: name = "module:command"."""


class HubGroup(click.Group):
    """Loads subcommands lazily, and maps every AgentCommError to its JSON report and
    exit code: never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from importlib.metadata import entry_points  # 10-20 ms: only for --help

        return sorted({*HOME, *(e.name for e in entry_points(group=PLUGINS))})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = HOME.get(cmd_name)
        if module is None:
            from importlib.metadata import entry_points  # only for a name not our own

            found = entry_points(group=PLUGINS, name=cmd_name)
            return next((e.load() for e in found), None)
        commands: tuple[click.Command, ...] = importlib.import_module(
            f"agentcomm.cli.{module}"
        ).COMMANDS
        return next(c for c in commands if c.name == cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentCommError as exc:
            report_error(exc)
            ctx.exit(code_for(exc))


@click.group(cls=HubGroup, epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option(
    "--url",
    envvar=ENV_URL,
    metavar="URL",
    help=f"The hub, e.g. sqlite:///agents.db [env {ENV_URL}].",
)
@click.option(
    "--agent",
    envvar=ENV_AGENT,
    metavar="@ID",
    help=f"Act as this agent, e.g. @service.auth [env {ENV_AGENT}].",
)
@click.version_option(__version__, prog_name="agentcomm")  # not read from metadata: slow
@click.pass_context
def cli(ctx: click.Context, url: str | None, agent: str | None) -> None:
    """How parallel agents talk: every command prints JSON on stdout.

    Payloads are JSON text: an argument, or '-' to read it from stdin.
    """

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE

    # A shell session passes the hubs it keeps open (agentcomm.shell.server) as ``obj``.
    opener: HubOpener | None = ctx.obj
    ctx.obj = Session(
        url=url, agent=agent, agent_given=given("agent"), url_given=given("url"), opener=opener
    )


def main() -> None:
    show_warnings_as_json()
    cli.main(prog_name="agentcomm")
