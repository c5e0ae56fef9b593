"""The ``agentcomm`` group: global options, and agentcomm errors turned into exit codes."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from agentcomm import __version__
from agentcomm.cli import (
    acl,
    admin,
    bench,
    conformance,
    driver,
    events,
    messages,
    registry,
    runtime,
)
from agentcomm.cli.common import Session, report_error
from agentcomm.cli.exits import code_for, table
from agentcomm.errors import AgentCommError
from agentcomm.urls import ENV_AGENT, ENV_URL

EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {row}" for row in table().splitlines())


class HubGroup(click.Group):
    """Maps every AgentCommError to its JSON report and exit code: never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AgentCommError as exc:
            report_error(exc)
            ctx.exit(code_for(exc))


@click.group(cls=HubGroup, epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option("--url", envvar=ENV_URL, metavar="URL",
              help=f"The hub, e.g. sqlite:///agents.db [env {ENV_URL}].")
@click.option("--agent", envvar=ENV_AGENT, metavar="@ID",
              help=f"Act as this agent, e.g. @service.auth [env {ENV_AGENT}].")
@click.version_option(__version__, prog_name="agentcomm")  # as the package metadata
@click.pass_context
def cli(ctx: click.Context, url: str | None, agent: str | None) -> None:
    """How parallel agents talk: every command prints JSON on stdout.

    Payloads are JSON text: an argument, or stdin when it is '-' or left out.
    """
    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE

    ctx.obj = Session(url=url, agent=agent, agent_given=given("agent"), url_given=given("url"))


for module in (admin, messages, events, registry, runtime, bench, conformance, driver,
               acl):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli.main(prog_name="agentcomm")
