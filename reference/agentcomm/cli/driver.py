"""``agentcomm driver``: the reference hubs behind the conformance driver protocol."""

from __future__ import annotations

import sys

import click

from agentcomm.cli.common import Session, pass_session


@click.command()
@click.option(
    "--url",
    "template",
    metavar="URL",
    help="Hub URL template: new_hub keeps its options and puts the hub file in the "
    "suite's directory, e.g. sqlite:///hub.db?backoff_base=0.1 (default: the "
    "global --url).",
)
@click.option(
    "--clock",
    type=click.Choice(["system", "manual"]),
    default="system",
    show_default=True,
    help="manual: declare manual_clock; each handle's clock moves only on "
    "advance_clock from the suite.",
)
@pass_session
def driver(session: Session, template: str | None, clock: str) -> None:
    """Serve the driver protocol (DRIVER.md) on stdin/stdout, JSON lines.

    The conformance suite starts one such process per agent: e.g.
    `agentcomm conformance --impl "driver:agentcomm driver --url sqlite: --clock manual"`.
    Logs go to stderr.  `agentcomm conformance --docs` says where DRIVER.md is.
    """
    from agentcomm.driver import serve

    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    code = serve(sys.stdin.buffer, protocol_out, template or session.require_url(), clock)
    raise click.exceptions.Exit(code)


COMMANDS = (driver,)
