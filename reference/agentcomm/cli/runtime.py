"""Long-running commands: ``agent run`` (the design's loop) and ``demo`` (its use cases)."""

from __future__ import annotations

import dataclasses

from agentcomm import validation as v
from agentcomm.agent import AgentConfig, AgentRunner, parse_handler, stop_on_signals
from agentcomm.cli.command import command, group
from agentcomm.cli.common import Session, emit
from agentcomm.cli.exits import ERROR, OK
from agentcomm.cli.values import Number, directory

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

POSITIVE = Number(float, low=0, above=True)


def _run_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("agent_id")
    parser.add_argument(
        "--handler",
        dest="handlers",
        action="append",
        default=[],
        metavar="TYPE=CMD",
        help="Run CMD for messages of TYPE: payload on stdin, stdout is the reply "
        "(exit 65: dead-letter, other non-zero: retry). Repeatable.",
    )
    parser.add_argument(
        "--on-event",
        dest="on_events",
        action="append",
        default=[],
        metavar="TYPE=CMD",
        help="Subscribe to TYPE and run CMD for each event, payload on stdin.",
    )
    parser.add_argument(
        "--queue",
        dest="queues",
        action="append",
        default=[],
        help="Also take tasks from this shared queue, e.g. ANY_AVAILABLE. Repeatable.",
    )
    parser.add_argument(
        "--capability",
        dest="capabilities",
        action="append",
        default=[],
        help="Advertise more than the handler types. Repeatable.",
    )
    _run_limits(parser)


def _run_limits(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--heartbeat",
        type=POSITIVE,
        default=10.0,
        help="Seconds between heartbeats.  [default: %(default)s; %(type)s]",
    )
    parser.add_argument(
        "--max-messages",
        type=Number(int, low=1),
        help="Stop after handling this many messages.  [%(type)s]",
    )
    parser.add_argument(
        "--idle-exit",
        type=POSITIVE,
        help="Stop after this many seconds without a message or event.  [%(type)s]",
    )
    parser.add_argument(
        "--ready-file",
        metavar="PATH",
        help="Once registered and subscribed, write the 'started' log line to PATH "
        "(a FIFO is written into; a file appears whole).",
    )


@command(_run_arguments)
def run(session: Session, args: Namespace) -> None:
    """Run AGENT_ID until SIGTERM/SIGINT: claim, dispatch to handlers, reply.

    CMD is split like a shell would (shlex) but never run by one. Logs go to stderr,
    one JSON line per message; stdout gets a summary when the agent stops.  The first
    log line, {"log": "started", ...}, comes once the agent is registered and subscribed:
    events published from then on reach it (so does --ready-file).

    Handlers get the payload (JSON) on stdin and, in the environment, AGENTCOMM_URL
    and AGENTCOMM_AGENT, and for a message AGENTCOMM_MESSAGE_ID, AGENTCOMM_FROM,
    AGENTCOMM_TO, AGENTCOMM_TYPE, AGENTCOMM_CORRELATION_ID, AGENTCOMM_PRIORITY,
    AGENTCOMM_RETRY_COUNT, AGENTCOMM_MAX_RETRIES; for an event AGENTCOMM_EVENT_ID,
    AGENTCOMM_EVENT_TYPE, AGENTCOMM_PUBLISHER, AGENTCOMM_PUBLISHED_AT.
    """
    config = AgentConfig(
        handlers=dict(parse_handler(h) for h in args.handlers),
        event_handlers=dict(parse_handler(h, event=True) for h in args.on_events),
        queues=tuple(v.check_target(q) for q in args.queues),
        capabilities=tuple(v.check_message_type(c) for c in args.capabilities),
        heartbeat_every=args.heartbeat,
        max_messages=args.max_messages,
        idle_exit=args.idle_exit,
        url=session.require_url(),
        ready_file=args.ready_file,
    )
    hub = session.hub(agent=args.agent_id)
    with stop_on_signals() as stop:
        summary = AgentRunner(hub, config, stop).run()
    emit(dataclasses.asdict(summary))


agent = group("agent", "Run an agent: the design's infinite loop as one command.", run)


def _demo_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        dest="workdir",
        type=directory,
        metavar="DIRECTORY",
        help="Run in this directory (kept) instead of a fresh temporary one.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the temporary directory afterwards."
    )


@command(_demo_options)
def demo(session: Session, args: Namespace) -> int:
    """Run the design's three use cases with real agent processes.

    The agents share a fresh SQLite hub in a temporary directory (or --dir).

    Prints a JSON summary; a report goes to stderr. Exits 1 if a use case failed.
    """
    from agentcomm.demo import run_demo

    result = run_demo(args.workdir, keep=args.keep)
    emit(result)
    return OK if result["ok"] else ERROR


COMMANDS = (agent, demo)
