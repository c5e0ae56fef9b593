"""``agentcomm driver``: the reference hubs behind the conformance driver protocol."""

from __future__ import annotations

import sys

from agentcomm.cli.command import command
from agentcomm.cli.common import Session

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace


def _driver_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        dest="template",
        metavar="URL",
        help="Hub URL template: new_hub keeps its options and puts the hub file in the "
        "suite's directory, e.g. sqlite:///hub.db?backoff_base=0.1 (default: the "
        "global --url).",
    )
    parser.add_argument(
        "--clock",
        choices=("system", "manual"),
        default="system",
        help="manual: declare manual_clock; each handle's clock moves only on "
        "advance_clock from the suite.  [default: %(default)s]",
    )


@command(_driver_options)
def driver(session: Session, args: Namespace) -> int:
    """Serve the driver protocol (DRIVER.md) on stdin/stdout, JSON lines.

    The conformance suite starts one such process per agent: e.g.
    `agentcomm conformance --impl "driver:agentcomm driver --url sqlite: --clock manual"`.
    Logs go to stderr.  `agentcomm conformance --docs` says where DRIVER.md is.
    """
    from agentcomm.driver import serve

    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the protocol stream
    return serve(sys.stdin.buffer, protocol_out, args.template or session.require_url(), args.clock)


COMMANDS = (driver,)
