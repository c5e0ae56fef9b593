"""The checker of the histories ``history.py`` records: every broken promise it can prove.

``check`` reads the merged records and returns every ``Violation`` it can prove; a history
it cannot decide (concurrent calls whose order is unknown) is given the benefit of the
doubt.

Assumptions: one task per message, every task sent through the recorded producer, no
``release``, ``replay``, ``extend`` or expiry in the workload; the hubs run on the
system clock.  Times from the hub (a grant's time is its lease deadline minus the task's
timeout, CLAIM-003) are compared with a tolerance of ``EPSILON``.

What is checked, per task:

* lost: at the end it is neither completed nor dead, or its end contradicts the history
  (completed though no complete was accepted; dead though one was);
* two live claims: a grant while an earlier grant's lease was certainly live: before its
  deadline and before its holder's finishing call began (CLAIM-002);
* double completion: two accepted completes (LEASE-001);
* stale complete accepted: a complete or fail accepted though its call began at or after
  the lease deadline, or after the task had been granted to another token (LEASE-002);
* claimed after finish: granted after a call that finished it had returned;
* wrong refusal: a refusal of a lease certainly live, or ``already_finished`` to a token
  that finished nothing (LEASE-003);
* retries past max, retry miscounted, dead too early: the k-th delivery carries
  ``retry_count`` k; at most ``max_retries`` + 1 deliveries; a failure retries exactly
  while the budget lasts; dead only at the budget's end or by ``fail(retry=False)``
  (RETRY-001/003);
* priority inversion: a claim returned a task ranked below (lower priority, or equal
  priority sent later) a task of its queue that was *certainly claimable for the whole
  claim call*, or returned fewer than it asked for while such a task waited (ORD-001,
  PRIO-001).  Certainly claimable: its latest return to pending (its send, or a ``fail``
  that retried it) returned before the claim began, its ``available_at`` was no later
  than the claim's start, and its next claim did not begin until this one had returned.
  A return to pending by a lapsed lease is never counted: when the hub settled it is
  not observable;
* lease outside call: a grant whose time is not within its claim call, which would make
  every time comparison above meaningless.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Iterable, Iterator, Sequence

from history_parse import Call, ClaimCall, Finish, Grant, History, Record, Task, parse

EPSILON = 0.001  # seconds of slack on the hub's times (float rounding, text round trips)
FINISHED = ("completed", "dead")


class Kind(str, enum.Enum):
    LOST = "lost"
    TWO_LIVE_CLAIMS = "two live claims"
    DOUBLE_COMPLETION = "double completion"
    STALE_COMPLETE_ACCEPTED = "stale complete accepted"
    CLAIMED_AFTER_FINISH = "claimed after finish"
    WRONG_REFUSAL = "wrong refusal"
    RETRIES_PAST_MAX = "retries past max"
    RETRY_MISCOUNTED = "retry miscounted"
    DEAD_TOO_EARLY = "dead too early"
    PRIORITY_INVERSION = "priority inversion"
    LEASE_OUTSIDE_CALL = "lease outside call"


@dataclasses.dataclass(frozen=True)
class Violation:
    kind: Kind
    task: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind.value}: task {self.task}: {self.detail}"


def check(records: Iterable[Record]) -> list[Violation]:
    """Every violation the history proves, task by task, then claim by claim."""
    h = parse(records)
    found: list[Violation] = []
    for task in h.tasks.values():
        for per_task in PER_TASK:
            found += per_task(h, task)
    for claim in h.claims:
        found += priority_inversions(h, claim)
    return found


def lost(h: History, task: Task) -> Iterator[Violation]:
    end = h.finals.get(task.id)
    completes = [f for f in h.finishes[task.id] if f.op == "complete" and (f.ok or f.maybe)]
    if end not in FINISHED:
        yield Violation(Kind.LOST, task.id, f"ends {end or 'unobserved'}, not completed or dead")
    elif end == "completed" and not completes:
        yield Violation(Kind.LOST, task.id, "completed, though no complete was accepted")
    elif end == "dead" and any(f.ok for f in completes):
        yield Violation(Kind.LOST, task.id, "dead, though a complete was accepted")


def double_completion(h: History, task: Task) -> Iterator[Violation]:
    accepted = [f for f in h.finishes[task.id] if f.op == "complete" and f.ok]
    if len(accepted) > 1:
        who = ", ".join(f.call.who for f in accepted)
        yield Violation(Kind.DOUBLE_COMPLETION, task.id, f"completed {len(accepted)} times: {who}")


def two_live_claims(h: History, task: Task) -> Iterator[Violation]:
    grants = h.deliveries(task.id)
    for i, earlier in enumerate(grants):
        live_until = _lease_end(h, earlier)
        for later in grants[i + 1 :]:
            if later.at < live_until - EPSILON:
                yield Violation(
                    Kind.TWO_LIVE_CLAIMS,
                    task.id,
                    f"granted to {later.call.who} at {later.at:.3f} while "
                    f"{earlier.call.who}'s lease was live until {live_until:.3f}",
                )


def _lease_end(h: History, grant: Grant) -> float:
    """When the lease certainly still ran: its deadline, or the start of the first call
    by its holder that may have ended it."""
    ends = [f.call.w0 for f in h.by_token(grant.task, grant.token) if f.ok or f.maybe]
    return min([grant.deadline, *ends])


def stale_finishes_accepted(h: History, task: Task) -> Iterator[Violation]:
    grants = h.deliveries(task.id)
    for grant in grants:
        for f in h.by_token(task.id, grant.token):
            if not f.ok:
                continue
            superseded = [g for g in grants if g.at > grant.at and g.at <= f.call.w0 - EPSILON]
            if f.call.w0 >= grant.deadline + EPSILON or superseded:
                yield Violation(
                    Kind.STALE_COMPLETE_ACCEPTED,
                    task.id,
                    f"{f.op} by {f.call.who} accepted, begun at {f.call.w0:.3f}: "
                    f"lease ended {grant.deadline:.3f}, re-granted "
                    f"{[round(g.at, 3) for g in superseded]}",
                )


def claimed_after_finish(h: History, task: Task) -> Iterator[Violation]:
    ends = [f for f in h.finishes[task.id] if f.finished_task]
    for f in ends:
        for g in h.deliveries(task.id):
            if g.at >= f.call.w1 + EPSILON:
                yield Violation(
                    Kind.CLAIMED_AFTER_FINISH,
                    task.id,
                    f"granted to {g.call.who} at {g.at:.3f}, after {f.op} by "
                    f"{f.call.who} returned at {f.call.w1:.3f}",
                )


def wrong_refusals(h: History, task: Task) -> Iterator[Violation]:
    grants = h.deliveries(task.id)
    for grant in grants:
        mine = h.by_token(task.id, grant.token)
        for f in mine:
            if f.ok or f.maybe:
                continue
            finished_before = any((o.ok or o.maybe) and o.call.t1 < f.call.t0 for o in mine)
            if f.error == "already_finished" and not finished_before:
                yield Violation(
                    Kind.WRONG_REFUSAL,
                    task.id,
                    f"{f.op} by {f.call.who}: already_finished to a token that "
                    f"finished nothing (LEASE-003 says stale_lease)",
                )
            superseded = any(g.at > grant.at and g.at <= f.call.w1 for g in grants)
            if f.call.w1 < grant.deadline - EPSILON and not (finished_before or superseded):
                yield Violation(
                    Kind.WRONG_REFUSAL,
                    task.id,
                    f"{f.op} by {f.call.who} refused ({f.error}) while its lease "
                    f"ran until {grant.deadline:.3f}",
                )


def retries(h: History, task: Task) -> Iterator[Violation]:
    grants = h.deliveries(task.id)
    if len(grants) > task.max_retries + 1:
        yield Violation(
            Kind.RETRIES_PAST_MAX,
            task.id,
            f"{len(grants)} deliveries, max_retries {task.max_retries}",
        )
    for k, grant in enumerate(grants):
        if grant.retry_count != k:
            yield Violation(
                Kind.RETRY_MISCOUNTED,
                task.id,
                f"delivery {k} carries retry_count {grant.retry_count}",
            )
        for f in h.by_token(task.id, grant.token):
            yield from _judge_fail(task, grant, f)
    yield from _dead_too_early(h, task, grants)


def _judge_fail(task: Task, grant: Grant, f: Finish) -> Iterator[Violation]:
    if f.op != "fail" or not f.ok:
        return
    budget_left = grant.retry_count < task.max_retries
    if f.retry and budget_left and f.status != "pending":
        yield Violation(
            Kind.DEAD_TOO_EARLY,
            task.id,
            f"fail at retry {grant.retry_count} of {task.max_retries}: {f.status}",
        )
    if f.retry and not budget_left and f.status != "dead":
        yield Violation(
            Kind.RETRIES_PAST_MAX,
            task.id,
            f"fail at retry {grant.retry_count} of {task.max_retries}: {f.status}",
        )
    if f.status == "pending" and f.retry_count != grant.retry_count + 1:
        yield Violation(
            Kind.RETRY_MISCOUNTED,
            task.id,
            f"fail at retry {grant.retry_count} returned {f.retry_count}",
        )


def _dead_too_early(h: History, task: Task, grants: Sequence[Grant]) -> Iterator[Violation]:
    buried = any(
        (f.ok and f.status == "dead") or (f.op == "fail" and f.maybe) for f in h.finishes[task.id]
    )
    if h.finals.get(task.id) == "dead" and not buried and len(grants) <= task.max_retries:
        yield Violation(
            Kind.DEAD_TOO_EARLY,
            task.id,
            f"dead after {len(grants)} deliveries, max_retries {task.max_retries}",
        )


def leases_within_their_calls(h: History, task: Task) -> Iterator[Violation]:
    for g in h.deliveries(task.id):
        if not g.call.w0 - EPSILON <= g.at <= g.call.w1 + EPSILON:
            yield Violation(
                Kind.LEASE_OUTSIDE_CALL,
                task.id,
                f"granted at {g.at:.3f}, in a call from {g.call.w0:.3f} to {g.call.w1:.3f}",
            )


PER_TASK: tuple[Callable[[History, Task], Iterable[Violation]], ...] = (
    lost,
    double_completion,
    two_live_claims,
    stale_finishes_accepted,
    claimed_after_finish,
    wrong_refusals,
    retries,
    leases_within_their_calls,
)


def priority_inversions(h: History, claim: ClaimCall) -> Iterator[Violation]:
    given = {g.task for g in claim.grants}
    ranks = [h.tasks[g.task].rank for g in claim.grants]
    if ranks != sorted(ranks):
        yield Violation(
            Kind.PRIORITY_INVERSION,
            claim.grants[0].task,
            f"{claim.call.who}'s claim_many came out of order: {sorted(given)}",
        )
    waiting = [
        t
        for t in h.tasks.values()
        if t.queue == claim.queue and t.id not in given and certainly_claimable(h, t, claim.call)
    ]
    worst = max(ranks, default=None)
    for task in waiting:
        if len(claim.grants) < claim.limit or (worst is not None and task.rank < worst):
            yield Violation(
                Kind.PRIORITY_INVERSION,
                task.id,
                f"claimable throughout {claim.call.who}'s claim, which returned "
                f"{sorted(given)} of {claim.limit}",
            )


def certainly_claimable(h: History, task: Task, during: Call) -> bool:
    """Pending and available for the whole of the call ``during`` (module docstring)."""
    grants = h.deliveries(task.id)
    returns: list[tuple[Call, float, Grant | None]] = [
        (task.sent, task.available_at, grants[0] if grants else None)
    ]
    for k, grant in enumerate(grants):
        for f in h.by_token(task.id, grant.token):
            if f.ok and f.status == "pending" and f.available_at is not None:
                following = grants[k + 1] if k + 1 < len(grants) else None
                returns.append((f.call, f.available_at, following))
    return any(
        back.t1 < during.t0
        and available <= during.w0
        and (following is None or following.call.t0 > during.t1)
        for back, available, following in returns
    )
