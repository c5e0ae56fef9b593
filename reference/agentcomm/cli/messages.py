"""Messages: send, request/reply, and the claim -> extend -> complete/fail/release cycle."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from agentcomm.api import MAX_BATCH
from agentcomm.cli.batches import ENVELOPE_BYTES, read_claims, read_outgoing
from agentcomm.cli.common import (
    Session,
    claim_json,
    emit,
    emit_found,
    pass_session,
    payload_argument,
    priority_option,
    read_payload,
)
from agentcomm.errors import DeadlineExceeded
from agentcomm.models import DEFAULT_QUEUE, ReplyStatus

if TYPE_CHECKING:
    from agentcomm.api import Hub
    from agentcomm.cli.common import F
    from agentcomm.models import Claim

WAIT_HELP = "Wait up to this many seconds for something to arrive (default: look once)."


@click.command()
@click.argument("to", required=False)
@click.argument("type", required=False)
@payload_argument
@priority_option
@click.option("--timeout-seconds", type=float, help="Lease a claimer gets [hub default].")
@click.option("--max-retries", type=int, help="Redeliveries before dead-lettering.")
@click.option("--correlation-id", help="Your own id for matching, e.g. req_001.")
@click.option("--expires-in", type=float, help="Undelivered after this many seconds.")
@click.option(
    "--jsonl",
    metavar="FILE",
    help="Send one message per line of FILE (- for stdin), all or none; the "
    "arguments and options are the lines' defaults.  Prints their ids.",
)
@pass_session
def send(
    session: Session,
    to: str | None,
    type: str | None,
    payload: str | None,
    priority: str,
    timeout_seconds: float | None,
    max_retries: int | None,
    correlation_id: str | None,
    expires_in: float | None,
    jsonl: str | None,
) -> None:
    """Queue a message of TYPE for TO: an @agent inbox or a queue.

    \b
    agentcomm send TO TYPE PAYLOAD      PAYLOAD is JSON text, or - for stdin
    agentcomm send [TO TYPE] --jsonl -  one JSON object per line: to, type, payload,
                                        and any of the options below by their names

    TO is an agent id such as @service.auth, or a shared queue such as ANY_AVAILABLE.
    """
    hub = session.hub()
    if jsonl is not None:
        if payload is not None:
            raise click.UsageError("give a PAYLOAD or --jsonl, not both")
        given = {
            "to": to,
            "type": type,
            "priority": priority,
            "timeout_seconds": timeout_seconds,
            "max_retries": max_retries,
            "correlation_id": correlation_id,
            "expires_in": expires_in,
        }
        defaults = {k: val for k, val in given.items() if val is not None}
        sent = hub.send_many(read_outgoing(jsonl, defaults, hub.settings))
        emit([m.id for m in sent])
        return
    if to is None or type is None:
        raise click.UsageError("send needs TO and TYPE (or --jsonl FILE)")
    emit(
        hub.send(
            to,
            type,
            read_payload(hub, payload),
            priority=priority,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            correlation_id=correlation_id,
            expires_in=expires_in,
        )
    )


@click.command()
@click.argument("to")
@click.argument("type")
@payload_argument
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the reply; exit 6 when none came.",
)
@priority_option
@click.option("--correlation-id", help="Your own id for matching [a fresh one].")
@pass_session
def request(
    session: Session,
    to: str,
    type: str,
    payload: str | None,
    timeout: float,
    priority: str,
    correlation_id: str | None,
) -> None:
    """Send a request to TO and print its reply.

    The reply's status is success or error; no reply within --timeout exits 6.
    """
    hub = session.hub()
    emit(
        hub.request(
            to,
            type,
            read_payload(hub, payload),
            timeout=timeout,
            priority=priority,
            correlation_id=correlation_id,
        )
    )


NEXT_HELP = (
    "Also claim the next message of the same queue or inbox in the same step, "
    "and print it as claim does (exit 3 if none came; the finish stands)."
)


def next_options(function: F) -> F:
    """``--next`` and its ``--wait`` (SPEC CLAIM-009) for the finishing commands."""
    function = click.option(
        "--wait", type=float, default=0.0, help="With --next: wait up to this many seconds for one."
    )(function)
    return click.option("--next", "claim_next", is_flag=True, help=NEXT_HELP)(function)


def emit_next(claims: list[Claim] | Claim | None) -> None:
    """The next claims of a finishing command with --next: a list, exit 3 when empty."""
    found = claims if isinstance(claims, list) else [] if claims is None else [claims]
    emit_found([claim_json(c) for c in found])


@click.command()
@click.argument("message_id")
@click.argument("token")
@payload_argument
@click.option("--error", "is_error", is_flag=True, help="Reply with status 'error'.")
@next_options
@pass_session
def reply(
    session: Session,
    message_id: str,
    token: str,
    payload: str | None,
    is_error: bool,
    claim_next: bool,
    wait: float,
) -> None:
    """Answer a claimed message (and complete it) with PAYLOAD."""
    hub = session.hub()
    status = ReplyStatus.ERROR if is_error else ReplyStatus.SUCCESS
    answer = read_payload(hub, payload)
    if claim_next:
        emit_next(hub.reply(message_id, token, answer, status=status, claim_next=True, wait=wait))
    else:
        emit(hub.reply(message_id, token, answer, status=status, wait=wait))


@click.command()
@click.option("--wait", type=float, default=0.0, help=WAIT_HELP)
@click.option("--limit", type=int, default=1, show_default=True)
@pass_session
def receive(session: Session, wait: float, limit: int) -> None:
    """Claim messages from your own inbox (exit 3 if none).

    Prints a list of claims: the message fields plus token and lease_expires_at.
    """
    claims = session.hub().claim_many(None, limit=limit, wait=wait)
    emit_found([claim_json(c) for c in claims])


@click.command()
@click.argument("queue", default=DEFAULT_QUEUE)
@click.option("--wait", type=float, default=0.0, help=WAIT_HELP)
@click.option("--limit", type=int, default=1, show_default=True)
@pass_session
def claim(session: Session, queue: str, wait: float, limit: int) -> None:
    """Claim tasks from QUEUE [ANY_AVAILABLE] (exit 3 if none).

    Prints a list of claims: the message fields plus token and lease_expires_at.
    """
    claims = session.hub().claim_many(queue, limit=limit, wait=wait)
    emit_found([claim_json(c) for c in claims])


@click.command()
@click.argument("message_id")
@click.argument("token")
@click.option("--seconds", type=float, help="New lease length [the message's timeout].")
@pass_session
def extend(session: Session, message_id: str, token: str, seconds: float | None) -> None:
    """Renew the lease on a claimed message."""
    emit(claim_json(session.hub().extend(message_id, token, seconds)))


@click.command()
@click.argument("claims", nargs=-1, required=True, metavar="ID TOKEN [ID TOKEN]... | -")
@next_options
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --next: how many next messages to claim.",
)
@pass_session
def complete(
    session: Session, claims: tuple[str, ...], claim_next: bool, wait: float, limit: int
) -> None:
    """Finish claimed messages without a reply: all of them, or none if one is refused.

    Give ID TOKEN pairs, or - to read the claims that claim/receive printed from stdin.
    One pair prints {"id": ..., "status": "completed"}; more, or -, print a list of them.
    With --next, prints the next claims instead, as claim does.
    """
    hub = session.hub()
    pairs = _pairs(hub, claims)
    following = hub.complete_many(pairs, claim_next=limit if claim_next else 0, wait=wait)
    if claim_next:
        emit_next(following)
        return
    done = [{"id": message_id, "status": "completed"} for message_id, _ in pairs]
    emit(done[0] if claims != ("-",) and len(done) == 1 else done)


def _pairs(hub: Hub, claims: tuple[str, ...]) -> list[tuple[str, str]]:
    if claims == ("-",):
        return read_claims(MAX_BATCH * (hub.settings.max_payload_bytes + ENVELOPE_BYTES))
    if "-" in claims or len(claims) % 2:
        raise click.UsageError("complete takes ID TOKEN pairs, or - alone for stdin")
    return list(zip(claims[::2], claims[1::2], strict=True))


@click.command()
@click.argument("message_id")
@click.argument("token")
@click.option("--reason", required=True, help="Why; kept as the dead letter's last_error.")
@click.option("--no-retry", is_flag=True, help="Dead-letter at once (a poison message).")
@next_options
@pass_session
def fail(
    session: Session,
    message_id: str,
    token: str,
    reason: str,
    no_retry: bool,
    claim_next: bool,
    wait: float,
) -> None:
    """Give a claimed message up: retried after a backoff, or dead-lettered."""
    hub = session.hub()
    if claim_next:
        emit_next(
            hub.fail(message_id, token, reason, retry=not no_retry, claim_next=True, wait=wait)
        )
    else:
        emit(hub.fail(message_id, token, reason, retry=not no_retry, wait=wait))


@click.command()
@click.argument("message_id")
@click.argument("token")
@next_options
@pass_session
def release(session: Session, message_id: str, token: str, claim_next: bool, wait: float) -> None:
    """Hand a claimed message back untouched (pending at once, no retry counted)."""
    hub = session.hub()
    if claim_next:
        emit_next(hub.release(message_id, token, claim_next=True, wait=wait))
    else:
        emit(hub.release(message_id, token, wait=wait))


@click.command()
@click.argument("message_id")
@pass_session
def get(session: Session, message_id: str) -> None:
    """Print a message as it stands now."""
    emit(session.hub().get(message_id))


@click.command("get-reply")
@click.argument("request_id")
@click.option("--wait", type=float, default=0.0, help=WAIT_HELP)
@pass_session
def get_reply(session: Session, request_id: str, wait: float) -> None:
    """Print the reply to REQUEST_ID (null and exit 3 when there is none yet)."""
    try:
        found = session.hub().wait_reply(request_id, timeout=wait)
    except DeadlineExceeded:
        found = None
    emit_found(found)


COMMANDS = (send, request, reply, receive, claim, extend, complete, fail, release, get, get_reply)
