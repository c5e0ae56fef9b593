"""Running a hub: create it, look inside (stats), and clean up (dead letters, sweep, purge)."""

from __future__ import annotations

import dataclasses

import click

from agentcomm.cli.common import Session, emit, pass_session
from agentcomm.urls import parse


@click.command()
@pass_session
def init(session: Session) -> None:
    """Create the hub at --url (or open, and upgrade, an existing one)."""
    hub = session.hub(create=True)
    where = parse(session.require_url())
    emit(
        {
            "url": where.redacted,
            "backend": where.scheme,
            "capabilities": sorted(hub.capabilities),
            "settings": dataclasses.asdict(where.settings),
        }
    )


@click.group("dead-letters")
def dead_letters() -> None:
    """Messages that ran out of retries or were failed with --no-retry."""


@dead_letters.command("list")
@click.option("--limit", type=int, default=100, show_default=True)
@pass_session
def list_dead(session: Session, limit: int) -> None:
    """Dead letters, oldest first, each with last_error as the reason."""
    emit(session.hub().dead_letters(limit=limit))


@dead_letters.command()
@click.argument("message_ids", nargs=-1, required=True)
@pass_session
def replay(session: Session, message_ids: tuple[str, ...]) -> None:
    """Return each dead letter to pending with a fresh retry budget (one at a time)."""
    hub = session.hub()
    emit([hub.replay(m) for m in message_ids])


@dead_letters.command("purge")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Purge every dead letter.")
@pass_session
def purge_dead(session: Session, message_ids: tuple[str, ...], everything: bool) -> None:
    """Delete the named dead letters, or all of them with --all."""
    if everything == bool(message_ids):
        raise click.UsageError("name dead letters to purge, or pass --all (not both)")
    purged = session.hub().purge_dead(None if everything else list(message_ids))
    emit({"purged": purged})


@click.command()
@pass_session
def stats(session: Session) -> None:
    """Queue depths, counters and agent counts, for monitoring.

    Depths are per target (inbox or queue) and status; counters are lifetime totals
    (sent, completed, failed, dead...); agents are counted alive and known.
    """
    emit(session.hub().stats())


@click.command()
@pass_session
def sweep(session: Session) -> None:
    """Retry or dead-letter expired leases and expire overdue messages now."""
    emit({"changed": session.hub().sweep()})


@click.command()
@pass_session
def purge(session: Session) -> None:
    """Delete what the retention settings no longer keep; prints counts per kind."""
    emit(session.hub().prune())


@click.command()
@pass_session
def reconcile(session: Session) -> None:
    """Hybrid hubs: record in the audit file whatever a crashed agent left unrecorded."""
    from agentcomm.hybrid.hub import HybridHub

    hub = session.hub()
    if not isinstance(hub, HybridHub):
        raise click.UsageError("only a hybrid:// hub keeps an audit trail to reconcile")
    emit({"recorded": hub.reconcile()})


COMMANDS = (init, dead_letters, stats, sweep, purge, reconcile)
