"""Overdue messages are handed out: a claim ignores ``expires_at``, so a worker back from
an outage answers requests nobody waits for any more."""

from __future__ import annotations

from agentcomm.sqlite.hub import CLAIM, PROBE
from mutants import ClaimHook, Implementation

DEADLINE = "AND (expires_at IS NULL OR expires_at > :now)"
CATCHES = ("EXP-001",)


class ExpiredDelivered(ClaimHook):
    probe_sql = PROBE.replace(DEADLINE, "")
    claim_sql = CLAIM.replace(DEADLINE, "")


assert ExpiredDelivered.probe_sql != PROBE
assert ExpiredDelivered.claim_sql != CLAIM


def implementation() -> Implementation:
    return Implementation(ExpiredDelivered, __name__)
