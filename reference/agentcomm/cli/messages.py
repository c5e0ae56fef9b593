"""Messages: send, request/reply, and the claim -> extend -> complete/fail/release cycle."""

from __future__ import annotations

from agentcomm.api import MAX_BATCH
from agentcomm.cli.batches import ENVELOPE_BYTES, read_claims, read_outgoing
from agentcomm.cli.command import UsageError, command
from agentcomm.cli.common import (
    Session,
    add_payload,
    add_priority,
    claim_json,
    emit,
    emit_found,
    read_payload,
)
from agentcomm.cli.values import Number
from agentcomm.errors import DeadlineExceeded
from agentcomm.models import DEFAULT_QUEUE, ReplyStatus

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

    from agentcomm.api import Hub
    from agentcomm.models import Claim

WAIT_HELP = "Wait up to this many seconds for something to arrive (default: look once)."
LIMIT_HELP = "[default: %(default)s]"


def _send_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("to", nargs="?")
    parser.add_argument("type", nargs="?")
    add_payload(parser)
    add_priority(parser)
    parser.add_argument("--timeout-seconds", type=float, help="Lease a claimer gets [hub default].")
    parser.add_argument("--max-retries", type=int, help="Redeliveries before dead-lettering.")
    parser.add_argument("--correlation-id", help="Your own id for matching, e.g. req_001.")
    parser.add_argument("--expires-in", type=float, help="Undelivered after this many seconds.")
    parser.add_argument(
        "--jsonl",
        metavar="FILE",
        help="Send one message per line of FILE (- for stdin), all or none; the "
        "arguments and options are the lines' defaults.  Prints their ids.",
    )


@command(_send_arguments)
def send(session: Session, args: Namespace) -> None:
    """Queue a message of TYPE for TO: an @agent inbox or a queue.

    agentcomm send TO TYPE PAYLOAD      PAYLOAD is JSON text, or - for stdin
    agentcomm send [TO TYPE] --jsonl -  one JSON object per line: to, type, payload,
                                        and any of the options below by their names

    TO is an agent id such as @service.auth, or a shared queue such as ANY_AVAILABLE.
    """
    hub = session.hub()
    options = {
        "priority": args.priority,
        "timeout_seconds": args.timeout_seconds,
        "max_retries": args.max_retries,
        "correlation_id": args.correlation_id,
        "expires_in": args.expires_in,
    }
    if args.jsonl is not None:
        if args.payload is not None:
            raise UsageError("give a PAYLOAD or --jsonl, not both")
        given = {"to": args.to, "type": args.type, **options}
        defaults = {k: val for k, val in given.items() if val is not None}
        sent = hub.send_many(read_outgoing(args.jsonl, defaults, hub.settings))
        emit([m.id for m in sent])
        return
    if args.to is None or args.type is None:
        raise UsageError("send needs TO and TYPE (or --jsonl FILE)")
    emit(hub.send(args.to, args.type, read_payload(hub, args.payload), **options))


def _request_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("to")
    parser.add_argument("type")
    add_payload(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        help="Seconds to wait for the reply; exit 6 when none came.  [default: %(default)s]",
    )
    add_priority(parser)
    parser.add_argument("--correlation-id", help="Your own id for matching [a fresh one].")


@command(_request_arguments)
def request(session: Session, args: Namespace) -> None:
    """Send a request to TO and print its reply.

    The reply's status is success or error; no reply within --timeout exits 6.
    """
    hub = session.hub()
    emit(
        hub.request(
            args.to,
            args.type,
            read_payload(hub, args.payload),
            timeout=args.timeout,
            priority=args.priority,
            correlation_id=args.correlation_id,
        )
    )


NEXT_HELP = (
    "Also claim the next message of the same queue or inbox in the same step, "
    "and print it as claim does (exit 3 if none came; the finish stands)."
)


def _message_id_argument(parser: ArgumentParser) -> None:
    parser.add_argument("message_id")


def _claim_arguments(parser: ArgumentParser) -> None:
    _message_id_argument(parser)
    parser.add_argument("token")


def _next_options(parser: ArgumentParser) -> None:
    """``--next`` and its ``--wait`` (SPEC CLAIM-009) for the finishing commands."""
    parser.add_argument("--next", dest="claim_next", action="store_true", help=NEXT_HELP)
    parser.add_argument(
        "--wait", type=float, default=0.0, help="With --next: wait up to this many seconds for one."
    )


def emit_next(claims: list[Claim] | Claim | None) -> None:
    """The next claims of a finishing command with --next: a list, exit 3 when empty."""
    found = claims if isinstance(claims, list) else [] if claims is None else [claims]
    emit_found([claim_json(c) for c in found])


def _reply_arguments(parser: ArgumentParser) -> None:
    _claim_arguments(parser)
    add_payload(parser)
    parser.add_argument(
        "--error", dest="is_error", action="store_true", help="Reply with status 'error'."
    )
    _next_options(parser)


@command(_reply_arguments)
def reply(session: Session, args: Namespace) -> None:
    """Answer a claimed message (and complete it) with PAYLOAD."""
    hub = session.hub()
    status = ReplyStatus.ERROR if args.is_error else ReplyStatus.SUCCESS
    answer = read_payload(hub, args.payload)
    finish = (args.message_id, args.token, answer)
    if args.claim_next:
        emit_next(hub.reply(*finish, status=status, claim_next=True, wait=args.wait))
    else:
        emit(hub.reply(*finish, status=status, wait=args.wait))


def _look_options(parser: ArgumentParser) -> None:
    parser.add_argument("--wait", type=float, default=0.0, help=WAIT_HELP)
    parser.add_argument("--limit", type=int, default=1, help=LIMIT_HELP)


@command(_look_options)
def receive(session: Session, args: Namespace) -> None:
    """Claim messages from your own inbox (exit 3 if none).

    Prints a list of claims: the message fields plus token and lease_expires_at.
    """
    claims = session.hub().claim_many(None, limit=args.limit, wait=args.wait)
    emit_found([claim_json(c) for c in claims])


def _claim_from_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("queue", nargs="?", default=DEFAULT_QUEUE)
    _look_options(parser)


@command(_claim_from_arguments)
def claim(session: Session, args: Namespace) -> None:
    """Claim tasks from QUEUE [ANY_AVAILABLE] (exit 3 if none).

    Prints a list of claims: the message fields plus token and lease_expires_at.
    """
    claims = session.hub().claim_many(args.queue, limit=args.limit, wait=args.wait)
    emit_found([claim_json(c) for c in claims])


def _extend_arguments(parser: ArgumentParser) -> None:
    _claim_arguments(parser)
    parser.add_argument("--seconds", type=float, help="New lease length [the message's timeout].")


@command(_extend_arguments)
def extend(session: Session, args: Namespace) -> None:
    """Renew the lease on a claimed message."""
    emit(claim_json(session.hub().extend(args.message_id, args.token, args.seconds)))


def _complete_arguments(parser: ArgumentParser) -> None:
    parser.add_argument(
        "claims",
        nargs="+",
        metavar="ID TOKEN",
        help="A claim's id and token, as many as you like; or - alone: the claims on stdin.",
    )
    _next_options(parser)
    parser.add_argument(
        "--limit",
        type=Number(int, low=1),
        default=1,
        help="With --next: how many next messages to claim.  [default: %(default)s; %(type)s]",
    )


@command(_complete_arguments)
def complete(session: Session, args: Namespace) -> None:
    """Finish claimed messages without a reply: all of them, or none if one is refused.

    Give ID TOKEN pairs, or - to read the claims that claim/receive printed from stdin.
    One pair prints {"id": ..., "status": "completed"}; more, or -, print a list of them.
    With --next, prints the next claims instead, as claim does.
    """
    hub = session.hub()
    pairs = _pairs(hub, args.claims)
    following = hub.complete_many(
        pairs, claim_next=args.limit if args.claim_next else 0, wait=args.wait
    )
    if args.claim_next:
        emit_next(following)
        return
    done = [{"id": message_id, "status": "completed"} for message_id, _ in pairs]
    emit(done[0] if args.claims != ["-"] and len(done) == 1 else done)


def _pairs(hub: Hub, claims: list[str]) -> list[tuple[str, str]]:
    if claims == ["-"]:
        return read_claims(MAX_BATCH * (hub.settings.max_payload_bytes + ENVELOPE_BYTES))
    if "-" in claims or len(claims) % 2:
        raise UsageError("complete takes ID TOKEN pairs, or - alone for stdin")
    return list(zip(claims[::2], claims[1::2], strict=True))


def _fail_arguments(parser: ArgumentParser) -> None:
    _claim_arguments(parser)
    parser.add_argument(
        "--reason", required=True, help="Why; kept as the dead letter's last_error."
    )
    parser.add_argument(
        "--no-retry", action="store_true", help="Dead-letter at once (a poison message)."
    )
    _next_options(parser)


@command(_fail_arguments)
def fail(session: Session, args: Namespace) -> None:
    """Give a claimed message up: retried after a backoff, or dead-lettered."""
    hub = session.hub()
    finish = (args.message_id, args.token, args.reason)
    retry = not args.no_retry
    if args.claim_next:
        emit_next(hub.fail(*finish, retry=retry, claim_next=True, wait=args.wait))
    else:
        emit(hub.fail(*finish, retry=retry, wait=args.wait))


def _release_arguments(parser: ArgumentParser) -> None:
    _claim_arguments(parser)
    _next_options(parser)


@command(_release_arguments)
def release(session: Session, args: Namespace) -> None:
    """Hand a claimed message back untouched (pending at once, no retry counted)."""
    hub = session.hub()
    if args.claim_next:
        emit_next(hub.release(args.message_id, args.token, claim_next=True, wait=args.wait))
    else:
        emit(hub.release(args.message_id, args.token, wait=args.wait))


@command(_message_id_argument)
def get(session: Session, args: Namespace) -> None:
    """Print a message as it stands now."""
    emit(session.hub().get(args.message_id))


def _get_reply_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("request_id")
    parser.add_argument("--wait", type=float, default=0.0, help=WAIT_HELP)


@command(_get_reply_arguments)
def get_reply(session: Session, args: Namespace) -> None:
    """Print the reply to REQUEST_ID (null and exit 3 when there is none yet)."""
    try:
        found = session.hub().wait_reply(args.request_id, timeout=args.wait)
    except DeadlineExceeded:
        found = None
    emit_found(found)


COMMANDS = (send, request, reply, receive, claim, extend, complete, fail, release, get, get_reply)
