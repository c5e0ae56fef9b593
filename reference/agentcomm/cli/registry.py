"""The agent registry: register, heartbeat, deregister, and who is alive."""

from __future__ import annotations

import os

from agentcomm.cli.command import command
from agentcomm.cli.common import Session, emit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace


def _register_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--capability",
        dest="capabilities",
        action="append",
        default=[],
        help="A message type this agent handles (repeatable).",
    )
    parser.add_argument(
        "--pid",
        type=int,
        default=None,
        help="Process to report [the caller of this command: your bash loop].",
    )
    parser.add_argument("--max-concurrent", type=int, default=5, help="[default: %(default)s]")
    parser.add_argument(
        "--ttl", type=float, help="Alive while the last heartbeat is younger [hub default]."
    )


@command(_register_options)
def register(session: Session, args: Namespace) -> None:
    """Enter this agent in the registry as active, with a heartbeat now."""
    # The parent pid: the script that runs this command is the agent, not this process.
    process_id = os.getppid() if args.pid is None else args.pid
    emit(
        session.hub().register(
            capabilities=tuple(args.capabilities),
            process_id=process_id,
            max_concurrent=args.max_concurrent,
            ttl=args.ttl,
        )
    )


def _heartbeat_options(parser: ArgumentParser) -> None:
    parser.add_argument("--load", type=int, help="How many messages this agent is working on.")


@command(_heartbeat_options)
def heartbeat(session: Session, args: Namespace) -> None:
    """Prove this agent alive now (exit 4 if it never registered)."""
    emit(session.hub().heartbeat(load=args.load))


@command()
def deregister(session: Session, args: Namespace) -> None:
    """Mark this agent inactive (a clean exit); its inbox waits for its return."""
    hub = session.hub()
    hub.deregister()
    emit({"agent": hub.agent_id, "status": "inactive"})


def _agents_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--alive", action="store_true", help="Only agents whose heartbeat is recent."
    )


@command(_agents_options)
def agents(session: Session, args: Namespace) -> None:
    """The registry, with each agent's seconds since its last heartbeat."""
    emit(session.hub().agents(alive_only=args.alive))


COMMANDS = (register, heartbeat, deregister, agents)
