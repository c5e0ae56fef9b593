"""Events: publish, subscribe, read your own, and tail everyone's for monitoring."""

from __future__ import annotations

from agentcomm.cli.command import command
from agentcomm.cli.common import Session, add_payload, emit, emit_found, read_payload

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from agentcomm.api import Hub

FOLLOW_POLL = 0.2
"""Seconds between looks at the event log under ``tail --follow``."""


def _publish_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("type")
    add_payload(parser)
    parser.add_argument("--ttl", type=float, help="Seconds the event is kept for slow subscribers.")


@command(_publish_arguments)
def publish(session: Session, args: Namespace) -> None:
    """Publish an event of TYPE to every current subscriber."""
    hub = session.hub()
    emit(hub.publish(args.type, read_payload(hub, args.payload), ttl=args.ttl))


def _types_argument(parser: ArgumentParser) -> None:
    parser.add_argument("types", nargs="+")


@command(_types_argument)
def subscribe(session: Session, args: Namespace) -> None:
    """Receive events of each TYPE published from now on; prints your subscriptions."""
    hub = session.hub()
    for kind in args.types:
        hub.subscribe(kind)
    emit({"agent": hub.agent_id, "subscriptions": hub.subscriptions()})


@command(_types_argument)
def unsubscribe(session: Session, args: Namespace) -> None:
    """Stop receiving each TYPE; prints your remaining subscriptions."""
    hub = session.hub()
    for kind in args.types:
        hub.unsubscribe(kind)
    emit({"agent": hub.agent_id, "subscriptions": hub.subscriptions()})


def _events_options(parser: ArgumentParser) -> None:
    parser.add_argument(
        "--wait",
        type=float,
        default=0.0,
        help="Wait up to this many seconds for an event (default: look once).",
    )
    parser.add_argument("--limit", type=int, default=100, help="[default: %(default)s]")


@command(_events_options)
def events(session: Session, args: Namespace) -> None:
    """Read your unread events (each once); prints a list (exit 3 if none)."""
    emit_found(session.hub().events(limit=args.limit, wait=args.wait))


def _tail_options(parser: ArgumentParser) -> None:
    parser.add_argument("--after", help="Start after this event id [the last --limit events].")
    parser.add_argument("--limit", type=int, default=20, help="[default: %(default)s]")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="Keep printing new events, one JSON object per line, until SIGINT/SIGTERM.",
    )


@command(_tail_options)
def tail(session: Session, args: Namespace) -> None:
    """Recent events of every type, for monitoring; moves no subscriber's cursor.

    Without --follow prints one JSON list; with it, one event per line.
    """
    hub = session.hub()
    if args.follow:
        _follow(hub, args.after, args.limit)
    else:
        emit(hub.tail_events(after=args.after, limit=args.limit))


def _follow(hub: Hub, after: str | None, limit: int) -> None:
    from agentcomm.agent import pause, stop_on_signals  # the runtime only for --follow

    with stop_on_signals() as stop:
        while not stop.requested:
            found = hub.tail_events(after=after, limit=limit)
            for event in found:
                emit(event)
            if found:
                after = found[-1].id
            else:
                pause(stop, FOLLOW_POLL)


COMMANDS = (publish, subscribe, unsubscribe, events, tail)
