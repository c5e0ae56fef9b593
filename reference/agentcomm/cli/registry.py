"""The agent registry: register, heartbeat, deregister, and who is alive."""

from __future__ import annotations

import os

import click

from agentcomm.cli.common import Session, emit, pass_session


@click.command()
@click.option(
    "--capability",
    "capabilities",
    multiple=True,
    help="A message type this agent handles (repeatable).",
)
@click.option(
    "--pid",
    type=int,
    default=None,
    help="Process to report [the caller of this command: your bash loop].",
)
@click.option("--max-concurrent", type=int, default=5, show_default=True)
@click.option("--ttl", type=float, help="Alive while the last heartbeat is younger [hub default].")
@pass_session
def register(
    session: Session,
    capabilities: tuple[str, ...],
    pid: int | None,
    max_concurrent: int,
    ttl: float | None,
) -> None:
    """Enter this agent in the registry as active, with a heartbeat now."""
    # The parent pid: the script that runs this command is the agent, not this process.
    process_id = os.getppid() if pid is None else pid
    emit(
        session.hub().register(
            capabilities=capabilities, process_id=process_id, max_concurrent=max_concurrent, ttl=ttl
        )
    )


@click.command()
@click.option("--load", type=int, help="How many messages this agent is working on.")
@pass_session
def heartbeat(session: Session, load: int | None) -> None:
    """Prove this agent alive now (exit 4 if it never registered)."""
    emit(session.hub().heartbeat(load=load))


@click.command()
@pass_session
def deregister(session: Session) -> None:
    """Mark this agent inactive (a clean exit); its inbox waits for its return."""
    hub = session.hub()
    hub.deregister()
    emit({"agent": hub.agent_id, "status": "inactive"})


@click.command()
@click.option("--alive", is_flag=True, help="Only agents whose heartbeat is recent.")
@pass_session
def agents(session: Session, alive: bool) -> None:
    """The registry, with each agent's seconds since its last heartbeat."""
    emit(session.hub().agents(alive_only=alive))


COMMANDS = (register, heartbeat, deregister, agents)
