"""Messages: send, request/reply, and the claim -> extend -> complete/fail/release cycle."""

from __future__ import annotations

import click

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

WAIT_HELP = "Wait up to this many seconds for something to arrive (default: look once)."


@click.command()
@click.argument("to")
@click.argument("type")
@payload_argument
@priority_option
@click.option("--timeout-seconds", type=float, help="Lease a claimer gets [hub default].")
@click.option("--max-retries", type=int, help="Redeliveries before dead-lettering.")
@click.option("--correlation-id", help="Your own id for matching, e.g. req_001.")
@click.option("--expires-in", type=float, help="Undelivered after this many seconds.")
@pass_session
def send(session: Session, to: str, type: str, payload: str | None, priority: str,
         timeout_seconds: float | None, max_retries: int | None, correlation_id: str | None,
         expires_in: float | None) -> None:
    """Queue a message of TYPE for TO: an @agent inbox or a queue.

    TO is an agent id such as @service.auth, or a shared queue such as ANY_AVAILABLE.
    """
    hub = session.hub()
    message = hub.send(to, type, read_payload(hub, payload), priority=priority,
                       timeout_seconds=timeout_seconds, max_retries=max_retries,
                       correlation_id=correlation_id, expires_in=expires_in)
    emit(message)


@click.command()
@click.argument("to")
@click.argument("type")
@payload_argument
@click.option("--timeout", type=float, default=30.0, show_default=True,
              help="Seconds to wait for the reply; exit 6 when none came.")
@priority_option
@click.option("--correlation-id", help="Your own id for matching [a fresh one].")
@pass_session
def request(session: Session, to: str, type: str, payload: str | None, timeout: float,
            priority: str, correlation_id: str | None) -> None:
    """Send a request to TO and print its reply.

    The reply's status is success or error; no reply within --timeout exits 6.
    """
    hub = session.hub()
    emit(hub.request(to, type, read_payload(hub, payload), timeout=timeout,
                     priority=priority, correlation_id=correlation_id))


@click.command()
@click.argument("message_id")
@click.argument("token")
@payload_argument
@click.option("--error", "is_error", is_flag=True, help="Reply with status 'error'.")
@pass_session
def reply(session: Session, message_id: str, token: str, payload: str | None,
          is_error: bool) -> None:
    """Answer a claimed message (and complete it) with PAYLOAD."""
    hub = session.hub()
    status = ReplyStatus.ERROR if is_error else ReplyStatus.SUCCESS
    emit(hub.reply(message_id, token, read_payload(hub, payload), status=status))


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
@click.argument("message_id")
@click.argument("token")
@pass_session
def complete(session: Session, message_id: str, token: str) -> None:
    """Finish a claimed message without a reply."""
    session.hub().complete(message_id, token)
    emit({"id": message_id, "status": "completed"})


@click.command()
@click.argument("message_id")
@click.argument("token")
@click.option("--reason", required=True, help="Why; kept as the dead letter's last_error.")
@click.option("--no-retry", is_flag=True, help="Dead-letter at once (a poison message).")
@pass_session
def fail(session: Session, message_id: str, token: str, reason: str, no_retry: bool) -> None:
    """Give a claimed message up: retried after a backoff, or dead-lettered."""
    emit(session.hub().fail(message_id, token, reason, retry=not no_retry))


@click.command()
@click.argument("message_id")
@click.argument("token")
@pass_session
def release(session: Session, message_id: str, token: str) -> None:
    """Hand a claimed message back untouched (pending at once, no retry counted)."""
    emit(session.hub().release(message_id, token))


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


COMMANDS = (send, request, reply, receive, claim, extend, complete, fail, release, get,
            get_reply)
