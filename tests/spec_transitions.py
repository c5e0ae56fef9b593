"""The transitions of the spec's model, one pure function per statement it cites.

Each takes a message's record (``spec_records.py``) and returns a ``Change``: the record it
becomes and the lifetime counters that move (PRIO-004); ``lease_refusal`` says which error
LEASE-003 makes a lease operation raise.  ``SpecModel`` (``spec_model.py``) applies them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agentcomm import AlreadyFinished, NotFound, StaleLease, Status
from spec_records import UNKNOWN, Backoff, Change, ModelMessage


def settle(
    m: ModelMessage, now: float, reason: str, policy: Backoff, epoch: int, token: str | None = None
) -> Change:
    """RETRY-001/002: back to pending after a backoff while retries remain, else dead.

    ``token`` is the holder's when it failed the message itself (its token then finishes
    the message, LEASE-003); None for a lapse, whose holder is merely stale."""
    if m.retry_count < m.max_retries:
        again = dataclasses.replace(
            m,
            status=Status.PENDING,
            retry_count=m.retry_count + 1,
            last_error=reason,
            available_at=now + policy.delay(m.retry_count),
            **_no_lease(),
        )
        return Change(again, {"failed": 1, "retried": 1})
    return bury(m, reason, epoch, token)


def bury(m: ModelMessage, reason: str, epoch: int, token: str | None) -> Change:
    """RETRY-001 at the budget's end, RETRY-003: dead with the reason; a request is
    answered by the hub in the same step (REQ-007)."""
    answer = m.is_request() and m.reply_id is None
    dead = dataclasses.replace(
        m,
        status=Status.DEAD,
        last_error=reason,
        dead_epoch=epoch,
        finish_token=token,
        token=None,
        lease_expires_at=None,
        reply_id=UNKNOWN if answer else m.reply_id,
    )
    return Change(dead, {"failed": 1, "dead": 1}, m.claimed_by if answer else None)


def expire(m: ModelMessage) -> Change:
    """EXP-001: an overdue pending message expires."""
    return Change(dataclasses.replace(m, status=Status.EXPIRED, **_no_lease()), {"expired": 1})


def grant(m: ModelMessage, agent: str, token: str, now: float) -> Change:
    """CLAIM-003: processing, claimed by the caller, leased for its timeout."""
    leased = dataclasses.replace(
        m,
        status=Status.PROCESSING,
        claimed_by=agent,
        token=token,
        finish_token=None,
        lease_expires_at=now + m.timeout_seconds,
        deliveries=m.deliveries + 1,
    )
    return Change(leased)


def finish(m: ModelMessage, token: str, reply_id: str | None = None) -> Change:
    """LEASE-001, REQ-003: completed by the holder, once."""
    done = dataclasses.replace(
        m,
        status=Status.COMPLETED,
        finish_token=token,
        token=None,
        lease_expires_at=None,
        reply_id=reply_id,
    )
    return Change(done, {"completed": 1})


def release(m: ModelMessage, now: float) -> Change:
    """LEASE-005: pending at once, retry count and last error kept, no delivery spent."""
    back = dataclasses.replace(
        m, status=Status.PENDING, available_at=now, deliveries=m.deliveries - 1, **_no_lease()
    )
    return Change(back)


def replay(m: ModelMessage, now: float) -> Change:
    """DLQ-002: pending now, fresh budget, no deadline, same place in claim order."""
    again = dataclasses.replace(
        m,
        status=Status.PENDING,
        retry_count=0,
        available_at=now,
        expires_at=None,
        last_error=UNKNOWN,
        dead_epoch=None,
        finish_token=None,
        deliveries=0,
        **_no_lease(),
    )
    return Change(again)


def _no_lease() -> dict[str, Any]:
    return {"claimed_by": None, "token": None, "lease_expires_at": None}


def lease_refusal(m: ModelMessage | None, token: str, now: float) -> type[Exception] | None:
    """LEASE-003's fixed order: NotFound, StaleLease, AlreadyFinished, StaleLease."""
    if m is None:
        return NotFound
    if token not in (m.token, m.finish_token):
        return StaleLease
    if m.status in (Status.COMPLETED, Status.DEAD, Status.EXPIRED):
        return AlreadyFinished
    if m.status is not Status.PROCESSING or m.lapsed(now):
        return StaleLease
    return None
