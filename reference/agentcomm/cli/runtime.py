"""Long-running commands: ``agent run`` (the design's loop) and ``demo`` (its use cases)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from agentcomm import validation as v
from agentcomm.agent import AgentConfig, AgentRunner, parse_handler, stop_on_signals
from agentcomm.cli.common import Session, emit, pass_session
from agentcomm.cli.exits import ERROR


@click.group("agent")
def agent() -> None:
    """Run an agent: the design's infinite loop as one command."""


@agent.command()
@click.argument("agent_id")
@click.option(
    "--handler",
    "handlers",
    multiple=True,
    metavar="TYPE=CMD",
    help="Run CMD for messages of TYPE: payload on stdin, stdout is the reply "
    "(exit 65: dead-letter, other non-zero: retry). Repeatable.",
)
@click.option(
    "--on-event",
    "on_events",
    multiple=True,
    metavar="TYPE=CMD",
    help="Subscribe to TYPE and run CMD for each event, payload on stdin.",
)
@click.option(
    "--queue",
    "queues",
    multiple=True,
    help="Also take tasks from this shared queue, e.g. ANY_AVAILABLE. Repeatable.",
)
@click.option(
    "--capability",
    "capabilities",
    multiple=True,
    help="Advertise more than the handler types. Repeatable.",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds between heartbeats.",
)
@click.option(
    "--max-messages", type=click.IntRange(min=1), help="Stop after handling this many messages."
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    help="Stop after this many seconds without a message or event.",
)
@click.option(
    "--ready-file",
    metavar="PATH",
    help="Once registered and subscribed, write the 'started' log line to PATH "
    "(a FIFO is written into; a file appears whole).",
)
@pass_session
def run(
    session: Session,
    agent_id: str,
    handlers: tuple[str, ...],
    on_events: tuple[str, ...],
    queues: tuple[str, ...],
    capabilities: tuple[str, ...],
    heartbeat: float,
    max_messages: int | None,
    idle_exit: float | None,
    ready_file: str | None,
) -> None:
    """Run AGENT_ID until SIGTERM/SIGINT: claim, dispatch to handlers, reply.

    CMD is split like a shell would (shlex) but never run by one. Logs go to stderr,
    one JSON line per message; stdout gets a summary when the agent stops.  The first
    log line, {"log": "started", ...}, comes once the agent is registered and subscribed:
    events published from then on reach it (so does --ready-file).

    \b
    Handlers get the payload (JSON) on stdin and, in the environment, AGENTCOMM_URL
    and AGENTCOMM_AGENT, and for a message AGENTCOMM_MESSAGE_ID, AGENTCOMM_FROM,
    AGENTCOMM_TO, AGENTCOMM_TYPE, AGENTCOMM_CORRELATION_ID, AGENTCOMM_PRIORITY,
    AGENTCOMM_RETRY_COUNT, AGENTCOMM_MAX_RETRIES; for an event AGENTCOMM_EVENT_ID,
    AGENTCOMM_EVENT_TYPE, AGENTCOMM_PUBLISHER, AGENTCOMM_PUBLISHED_AT.
    """
    config = AgentConfig(
        handlers=dict(parse_handler(h) for h in handlers),
        event_handlers=dict(parse_handler(h, event=True) for h in on_events),
        queues=tuple(v.check_target(q) for q in queues),
        capabilities=tuple(v.check_message_type(c) for c in capabilities),
        heartbeat_every=heartbeat,
        max_messages=max_messages,
        idle_exit=idle_exit,
        url=session.require_url(),
        ready_file=ready_file,
    )
    hub = session.hub(agent=agent_id)
    with stop_on_signals() as stop:
        summary = AgentRunner(hub, config, stop).run()
    emit(dataclasses.asdict(summary))


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run in this directory (kept) instead of a fresh temporary one.",
)
@click.option("--keep", is_flag=True, help="Keep the temporary directory afterwards.")
def demo(workdir: Path | None, keep: bool) -> None:
    """Run the design's three use cases with real agent processes.

    The agents share a fresh SQLite hub in a temporary directory (or --dir).

    Prints a JSON summary; a report goes to stderr. Exits 1 if a use case failed.
    """
    from agentcomm.demo import run_demo

    result = run_demo(workdir, keep=keep)
    emit(result)
    if not result["ok"]:
        raise click.exceptions.Exit(ERROR)


COMMANDS = (agent, demo)
