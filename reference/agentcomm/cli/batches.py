"""Many messages per call: ``send --jsonl`` reads one message per line, ``complete -``
reads the claims that ``claim``/``receive`` printed.

``send --jsonl`` line format: one JSON object per line (blank lines are skipped)::

    {"to": "ANY_AVAILABLE", "type": "process_batch", "payload": {"batch_id": 7},
     "priority": "high", "timeout_seconds": 60, "max_retries": 2,
     "correlation_id": "req_7", "expires_in": 600}

``payload`` is required (``null`` is a payload); ``to`` and ``type`` may be left out when
given as the command's TO and TYPE; the others default to the command's options.  Every
line is checked before anything is sent, and an error names the line.
"""

from __future__ import annotations

import json

from agentcomm import validation as v
from agentcomm.api import MAX_BATCH, PreparedMessage
from agentcomm.cli.command import UsageError
from agentcomm.cli.common import stdin_stream, stdin_text
from agentcomm.errors import InvalidInput
from agentcomm.models import Outgoing

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import IO, Any

    from agentcomm.settings import HubSettings

FIELDS = (
    "to",
    "type",
    "payload",
    "priority",
    "timeout_seconds",
    "max_retries",
    "correlation_id",
    "expires_in",
)
"""The keys of a ``send --jsonl`` line: ``Outgoing``'s fields, as ``send``'s options."""

ENVELOPE_BYTES = 64 * 1024
"""Room on a line for everything but the payload."""


def read_outgoing(source: str, defaults: dict[str, Any], settings: HubSettings) -> list[Outgoing]:
    """The messages of a JSON lines file (``-``: stdin), each checked, in order."""
    limit = settings.max_payload_bytes + ENVELOPE_BYTES
    if source == "-":
        return _outgoing(stdin_stream(), defaults, settings, limit)
    try:
        with open(source, "rb") as stream:
            return _outgoing(stream, defaults, settings, limit)
    except OSError as exc:
        raise UsageError(f"argument --jsonl: cannot read {source!r}: {exc.strerror}") from None


def _outgoing(
    stream: IO[bytes], defaults: dict[str, Any], settings: HubSettings, limit: int
) -> list[Outgoing]:
    found: list[Outgoing] = []
    for number, raw in enumerate(iter(lambda: stream.readline(limit + 1), b""), start=1):
        if len(raw) > limit:
            raise InvalidInput(f"line {number} is over the limit of {limit} bytes")
        if not raw.strip():
            continue
        if len(found) == MAX_BATCH:
            raise InvalidInput(f"more than {MAX_BATCH} messages: send them in several calls")
        found.append(_line(number, raw, defaults, settings))
    if not found:
        raise InvalidInput("no messages: --jsonl got no lines")
    return found


def _line(number: int, raw: bytes, defaults: dict[str, Any], settings: HubSettings) -> Outgoing:
    try:
        fields = v.parse_payload_text(raw.decode("utf-8"), len(raw))
    except (InvalidInput, UnicodeDecodeError) as exc:
        raise InvalidInput(f"line {number}: {exc}") from None
    if not isinstance(fields, dict):
        raise InvalidInput(f"line {number} is not a JSON object: {raw[:80]!r}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"line {number} has unknown keys {unknown} (known: {', '.join(FIELDS)})")
    merged = {**defaults, **fields}
    missing = [k for k in ("to", "type", "payload") if merged.get(k, ...) is ...]
    if missing:
        raise InvalidInput(f"line {number} names no {' and no '.join(missing)}")
    item = Outgoing(**merged)
    try:
        PreparedMessage(item, settings, 0.0)  # the checks send_many makes, named by line
    except InvalidInput as exc:
        raise InvalidInput(f"line {number}: {exc}") from None
    return item


def read_claims(limit: int) -> list[tuple[str, str]]:
    """(id, token) of each claim on stdin: a claim object, a list of them (as ``claim``
    and ``receive`` print), or one object per line."""
    text = stdin_text(limit, "claims")
    try:
        value = json.loads(text)
        claims = value if isinstance(value, list) else [value]
    except ValueError:
        try:
            claims = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError as exc:
            raise InvalidInput(f"claims on stdin are not JSON: {exc}") from None
    if not claims:
        raise InvalidInput("no claims on stdin")
    return [_id_and_token(claim) for claim in claims]


def _id_and_token(claim: Any) -> tuple[str, str]:
    if not isinstance(claim, dict) or not all(
        isinstance(claim.get(k), str) for k in ("id", "token")
    ):
        raise InvalidInput(f"a claim on stdin has no string id and token: {str(claim)[:80]!r}")
    return claim["id"], claim["token"]
