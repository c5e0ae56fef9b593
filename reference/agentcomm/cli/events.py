"""Events: publish, subscribe, read your own, and tail everyone's for monitoring."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentcomm.cli.common import (
    Session,
    emit,
    emit_found,
    pass_session,
    payload_argument,
    read_payload,
)

if TYPE_CHECKING:
    from agentcomm.api import Hub

FOLLOW_POLL = 0.2
"""Seconds between looks at the event log under ``tail --follow``."""


@click.command()
@click.argument("type")
@payload_argument
@click.option("--ttl", type=float, help="Seconds the event is kept for slow subscribers.")
@pass_session
def publish(session: Session, type: str, payload: str | None, ttl: float | None) -> None:
    """Publish an event of TYPE to every current subscriber."""
    hub = session.hub()
    emit(hub.publish(type, read_payload(hub, payload), ttl=ttl))


@click.command()
@click.argument("types", nargs=-1, required=True)
@pass_session
def subscribe(session: Session, types: tuple[str, ...]) -> None:
    """Receive events of each TYPE published from now on; prints your subscriptions."""
    hub = session.hub()
    for kind in types:
        hub.subscribe(kind)
    emit({"agent": hub.agent_id, "subscriptions": hub.subscriptions()})


@click.command()
@click.argument("types", nargs=-1, required=True)
@pass_session
def unsubscribe(session: Session, types: tuple[str, ...]) -> None:
    """Stop receiving each TYPE; prints your remaining subscriptions."""
    hub = session.hub()
    for kind in types:
        hub.unsubscribe(kind)
    emit({"agent": hub.agent_id, "subscriptions": hub.subscriptions()})


@click.command()
@click.option(
    "--wait",
    type=float,
    default=0.0,
    help="Wait up to this many seconds for an event (default: look once).",
)
@click.option("--limit", type=int, default=100, show_default=True)
@pass_session
def events(session: Session, wait: float, limit: int) -> None:
    """Read your unread events (each once); prints a list (exit 3 if none)."""
    emit_found(session.hub().events(limit=limit, wait=wait))


@click.command()
@click.option("--after", help="Start after this event id [the last --limit events].")
@click.option("--limit", type=int, default=20, show_default=True)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep printing new events, one JSON object per line, until SIGINT/SIGTERM.",
)
@pass_session
def tail(session: Session, after: str | None, limit: int, follow: bool) -> None:
    """Recent events of every type, for monitoring; moves no subscriber's cursor.

    Without --follow prints one JSON list; with it, one event per line.
    """
    hub = session.hub()
    if follow:
        _follow(hub, after, limit)
    else:
        emit(hub.tail_events(after=after, limit=limit))


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
