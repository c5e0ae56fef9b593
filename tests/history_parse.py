"""A history's records (``history.py``) parsed into the tasks, the claim calls and the
finishing calls that ``history_check.py`` judges.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

Record = Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Call:
    who: str
    t0: float
    t1: float
    w0: float
    w1: float

    @classmethod
    def of(cls, r: Record) -> Call:
        return cls(str(r["who"]), float(r["t0"]), float(r["t1"]), float(r["w0"]), float(r["w1"]))


@dataclasses.dataclass(frozen=True)
class Task:
    id: str
    queue: str
    priority: int
    max_retries: int
    timeout: float
    seq: int
    available_at: float
    sent: Call

    @property
    def rank(self) -> tuple[int, int]:
        """ORD-001: higher priority first, then send order."""
        return (-self.priority, self.seq)


@dataclasses.dataclass(frozen=True)
class Grant:
    """One delivery: a task handed out by a claim call under a token."""

    task: str
    token: str
    deadline: float
    retry_count: int
    at: float  # the hub's time of the grant: deadline - timeout (CLAIM-003)
    call: Call


@dataclasses.dataclass(frozen=True)
class ClaimCall:
    queue: str
    limit: int
    grants: tuple[Grant, ...]
    call: Call


@dataclasses.dataclass(frozen=True)
class Finish:
    """A ``complete`` or ``fail`` call and what came of it."""

    op: str
    task: str
    token: str
    ok: bool
    maybe: bool  # refused with an indefinite error: it may have taken effect
    error: str | None
    retry: bool
    status: str | None  # for fail: the new state's status
    retry_count: int | None
    available_at: float | None
    call: Call

    @property
    def finished_task(self) -> bool:
        return self.ok and (self.op == "complete" or self.status == "dead")


@dataclasses.dataclass
class History:
    tasks: dict[str, Task] = dataclasses.field(default_factory=dict)
    claims: list[ClaimCall] = dataclasses.field(default_factory=list)
    finishes: dict[str, list[Finish]] = dataclasses.field(default_factory=lambda: defaultdict(list))
    finals: dict[str, str] = dataclasses.field(default_factory=dict)

    def deliveries(self, task: str) -> list[Grant]:
        return sorted(
            (g for c in self.claims for g in c.grants if g.task == task), key=lambda g: g.at
        )

    def by_token(self, task: str, token: str) -> list[Finish]:
        return [f for f in self.finishes[task] if f.token == token]


def parse(records: Iterable[Record]) -> History:
    """Sends first (claims need the tasks' timeouts), then everything else."""
    ordered = sorted(records, key=lambda r: r["op"] != "send")
    history = History()
    for r in ordered:
        _READERS.get(str(r["op"]), _ignore)(history, r)
    return history


def _read_send(h: History, r: Record) -> None:
    for t in r["tasks"]:
        h.tasks[t["id"]] = Task(
            t["id"],
            t["queue"],
            int(t["priority"]),
            int(t["max_retries"]),
            float(t["timeout"]),
            int(t["seq"]),
            float(t["available_at"]),
            Call.of(r),
        )


def _read_claim(h: History, r: Record) -> None:
    call = Call.of(r)
    grants = tuple(
        Grant(
            c["id"],
            c["token"],
            float(c["lease_expires_at"]),
            int(c["retry_count"]),
            float(c["lease_expires_at"]) - h.tasks[c["id"]].timeout,
            call,
        )
        for c in r.get("claims", ())
    )
    h.claims.append(ClaimCall(str(r["queue"]), int(r["limit"]), grants, call))


def _read_finish(h: History, r: Record) -> None:
    maybe = not r["ok"] and not r.get("definite", True)
    h.finishes[r["id"]].append(
        Finish(
            str(r["op"]),
            r["id"],
            r["token"],
            bool(r["ok"]),
            maybe,
            r.get("error"),
            bool(r.get("retry", False)),
            r.get("status"),
            r.get("retry_count"),
            r.get("available_at"),
            Call.of(r),
        )
    )


def _read_final(h: History, r: Record) -> None:
    h.finals[r["id"]] = str(r["status"])


def _ignore(h: History, r: Record) -> None:
    """``ready`` and ``crash`` lines are for people reading the files."""


_READERS: dict[str, Callable[[History, Record], None]] = {
    "send": _read_send,
    "claim": _read_claim,
    "complete": _read_finish,
    "fail": _read_finish,
    "final": _read_final,
}
