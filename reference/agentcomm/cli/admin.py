"""Running a hub: create it, look inside (stats), and clean up (dead letters, sweep, purge)."""

from __future__ import annotations

from agentcomm.cli.command import UsageError, command, group
from agentcomm.cli.common import Session, emit
from agentcomm.urls import parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace


@command()
def init(session: Session, args: Namespace) -> None:
    """Create the hub at --url (or open, and upgrade, an existing one)."""
    hub = session.hub(create=True)
    where = parse(session.require_url())
    emit(
        {
            "url": where.redacted,
            "backend": where.scheme,
            "capabilities": sorted(hub.capabilities),
            "settings": where.settings.as_dict(),
        }
    )


def _list_options(parser: ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=100, help="[default: %(default)s]")


@command(_list_options, name="list")
def list_dead(session: Session, args: Namespace) -> None:
    """Dead letters, oldest first, each with last_error as the reason."""
    emit(session.hub().dead_letters(limit=args.limit))


def _replay_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("message_ids", nargs="+")


@command(_replay_arguments)
def replay(session: Session, args: Namespace) -> None:
    """Return each dead letter to pending with a fresh retry budget (one at a time)."""
    hub = session.hub()
    emit([hub.replay(m) for m in args.message_ids])


def _purge_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("message_ids", nargs="*")
    parser.add_argument(
        "--all", dest="everything", action="store_true", help="Purge every dead letter."
    )


@command(_purge_arguments, name="purge")
def purge_dead(session: Session, args: Namespace) -> None:
    """Delete the named dead letters, or all of them with --all."""
    if args.everything == bool(args.message_ids):
        raise UsageError("name dead letters to purge, or pass --all (not both)")
    purged = session.hub().purge_dead(None if args.everything else list(args.message_ids))
    emit({"purged": purged})


dead_letters = group(
    "dead-letters",
    "Messages that ran out of retries or were failed with --no-retry.",
    list_dead,
    replay,
    purge_dead,
)


@command()
def stats(session: Session, args: Namespace) -> None:
    """Queue depths, counters and agent counts, for monitoring.

    Depths are per target (inbox or queue) and status; counters are lifetime totals
    (sent, completed, failed, dead...); agents are counted alive and known.
    """
    emit(session.hub().stats())


@command()
def sweep(session: Session, args: Namespace) -> None:
    """Retry or dead-letter expired leases and expire overdue messages now."""
    emit({"changed": session.hub().sweep()})


@command()
def purge(session: Session, args: Namespace) -> None:
    """Delete what the retention settings no longer keep; prints counts per kind."""
    emit(session.hub().prune())


@command()
def reconcile(session: Session, args: Namespace) -> None:
    """Hybrid hubs: record in the audit file whatever a crashed agent left unrecorded."""
    from agentcomm.hybrid.hub import HybridHub

    hub = session.hub()
    if not isinstance(hub, HybridHub):
        raise UsageError("only a hybrid:// hub keeps an audit trail to reconcile")
    emit({"recorded": hub.reconcile()})


COMMANDS = (init, dead_letters, stats, sweep, purge, reconcile)
