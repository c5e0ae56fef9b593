"""Bash agents: ``shell-lib`` (where the bash library is) and ``session`` (its server)."""

from __future__ import annotations

import os
import shutil
import sys

from agentcomm.cli.command import command
from agentcomm.cli.common import Session, echo
from agentcomm.cli.values import Number, existing_directory

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace


def _shell_lib_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--examples",
        action="store_true",
        help="Print the folder of example scripts instead (the design's use cases).",
    )


@command(_shell_lib_options)
def shell_lib(session: Session, args: Namespace) -> None:
    """Print the path of the bash library, for: source "$(agentcomm shell-lib)".

    source "$(agentcomm shell-lib)"
    ac_open --url sqlite:///agents.db --agent @worker.1
    while tasks=$(ac_claim --wait 30); do ...; ac_complete - <<< "$tasks"; done

    Each ac_COMMAND runs `agentcomm COMMAND` in a session that keeps the hub open: the
    same JSON out, the same exit statuses, at the cost of a pipe round trip.
    """
    from agentcomm import shell

    echo(str(shell.examples() if args.examples else shell.library()))
    if not _on_path():
        echo(
            "agentcomm shell-lib: the library starts sessions with the `agentcomm` "
            "on PATH, which is not this installation's: export "
            f"AGENTCOMM_COMMAND='{sys.executable} -m agentcomm.cli'",
            err=True,
        )


def _on_path() -> bool:
    """Whether the ``agentcomm`` on PATH runs this Python (so this installation)."""
    found = shutil.which("agentcomm")
    if found is None:
        return False
    try:
        with open(found, "rb") as script:
            first = script.readline(4096)
    except OSError:
        return False
    interpreter = os.fsdecode(first.rstrip().removeprefix(b"#!").strip())
    # `python` and `python3` of one environment are one installation: the same directory
    # and the same file (not the file alone: every venv's links lead to its base Python).
    if os.path.dirname(interpreter) != os.path.dirname(sys.executable):
        return False
    try:
        return os.path.samefile(interpreter, sys.executable)
    except OSError:
        return False


def _session_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("directory", type=existing_directory)
    parser.add_argument(
        "--stall",
        type=Number(float, low=0.05),
        default=10.0,
        help="The library's limit for silence; while a command runs, a sign of life "
        "is sent four times as often.  [default: %(default)s; %(type)s]",
    )


@command(_session_arguments)
def session(session: Session, args: Namespace) -> int:
    """Serve the bash library's calls through the FIFOs in DIRECTORY (started by ac_open).

    Runs each call as `agentcomm [--url URL] [--agent @ID] ARGS` would, keeping each
    hub open for the next call.  Ends when the script closes the pipes or is gone.
    """
    from agentcomm import validation as v
    from agentcomm.shell.server import serve
    from agentcomm.urls import parse

    defaults: list[str] = []
    if session.url:  # a wrong URL or id fails ac_open, not the first call
        parse(session.url)
        defaults += ["--url", session.url]
    if session.agent:
        defaults += ["--agent", v.check_agent_id(session.agent)]
    return serve(args.directory, defaults, args.stall)


COMMANDS = (shell_lib, session)
