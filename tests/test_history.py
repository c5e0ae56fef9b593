"""The history checker of ``tests/history.py``, fed hand-written histories.

Each bad history breaks one promise and must be reported as exactly that violation; the
good ones, including a crash, a lapse and a refused stale worker, must pass clean.  A
checker that reports nothing would pass ``test_workloads.py``; these show it can fail.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from history import Recorder, load
from history_check import Kind, Violation, check

WALL = 1_700_000_000.0  # wall time = WALL + monotonic time in these stories
CALL = 0.01  # how long each call takes


class Story:
    """A history written by hand: ``at`` is when a call begins, in seconds."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.seq = itertools.count()
        self.tokens = itertools.count()
        self.timeouts: dict[str, float] = {}

    def _call(self, op: str, who: str, at: float, **fields: Any) -> None:
        self.records.append(
            {
                "op": op,
                "who": who,
                "t0": at,
                "t1": at + CALL,
                "w0": WALL + at,
                "w1": WALL + at + CALL,
                **fields,
            }
        )

    def send(
        self,
        *tasks: str,
        at: float = 0.0,
        priority: int = 1,
        max_retries: int = 1,
        timeout: float = 10.0,
    ) -> None:
        self.timeouts.update(dict.fromkeys(tasks, timeout))
        self._call(
            "send",
            "producer",
            at,
            ok=True,
            tasks=[
                {
                    "id": t,
                    "queue": "q",
                    "priority": priority,
                    "max_retries": max_retries,
                    "timeout": timeout,
                    "seq": next(self.seq),
                    "available_at": WALL + at,
                }
                for t in tasks
            ],
        )

    def claim(
        self,
        who: str,
        at: float,
        *tasks: str,
        limit: int = 1,
        retry_counts: tuple[int, ...] = (),
        granted: float | None = None,
    ) -> str:
        token = f"token{next(self.tokens)}"
        counts = retry_counts or (0,) * len(tasks)
        when = WALL + at if granted is None else WALL + granted
        self._call(
            "claim",
            who,
            at,
            ok=True,
            queue="q",
            limit=max(limit, len(tasks)),
            claims=[
                {
                    "id": t,
                    "token": token,
                    "retry_count": n,
                    "lease_expires_at": when + self.timeouts[t],
                }
                for t, n in zip(tasks, counts, strict=True)
            ],
        )
        return token

    def complete(
        self,
        who: str,
        task: str,
        token: str,
        at: float,
        *,
        ok: bool = True,
        error: str | None = None,
    ) -> None:
        self._call("complete", who, at, id=task, token=token, ok=ok, error=error, definite=True)

    def fail(
        self,
        who: str,
        task: str,
        token: str,
        at: float,
        *,
        status: str = "pending",
        retry_count: int = 1,
        retry: bool = True,
        backoff: float = 0.05,
    ) -> None:
        self._call(
            "fail",
            who,
            at,
            id=task,
            token=token,
            ok=True,
            retry=retry,
            status=status,
            retry_count=retry_count,
            available_at=WALL + at + backoff,
        )

    def final(self, task: str, status: str) -> None:
        self.records.append({"op": "final", "who": "producer", "id": task, "status": status})


def kinds(found: list[Violation]) -> set[Kind]:
    return {v.kind for v in found}


# -- clean histories ----------------------------------------------------------------------------


def test_two_workers_sharing_tasks_cleanly_break_no_promise() -> None:
    s = Story()
    s.send("a", "b")
    s.complete("@w1", "a", s.claim("@w1", 1, "a"), 2)
    s.complete("@w2", "b", s.claim("@w2", 1.005, "b"), 2)  # concurrent with @w1's claim
    s.final("a", "completed")
    s.final("b", "completed")
    assert check(s.records) == []


def test_a_crash_a_lapse_a_retry_and_a_refused_stale_worker_break_no_promise() -> None:
    s = Story()
    s.send("slow", max_retries=1, timeout=1.0)
    s.send("orphan", max_retries=0, timeout=1.0)
    late = s.claim("@w1", 0.5, "slow")  # @w1 works past its deadline
    s.claim("@w3", 0.5, "orphan")  # and @w3 is killed holding this one
    s.complete("@w2", "slow", s.claim("@w2", 2, "slow", retry_counts=(1,)), 2.5)
    s.complete("@w1", "slow", late, 3, ok=False, error="stale_lease")
    s.final("slow", "completed")
    s.final("orphan", "dead")
    assert check(s.records) == []


def test_a_poison_task_dead_at_once_and_a_retried_one_break_no_promise() -> None:
    s = Story()
    s.send("poison", "flaky", max_retries=2)
    s.fail("@w1", "poison", s.claim("@w1", 1, "poison"), 2, status="dead", retry=False)
    s.fail("@w1", "flaky", s.claim("@w1", 3, "flaky"), 4, retry_count=1)
    s.complete("@w2", "flaky", s.claim("@w2", 5, "flaky", retry_counts=(1,)), 6)
    s.final("poison", "dead")
    s.final("flaky", "completed")
    assert check(s.records) == []


def test_a_claim_racing_a_send_is_given_the_benefit_of_the_doubt() -> None:
    s = Story()
    s.send("low", priority=0)
    s.send("high", at=1.0, priority=2)  # sent while the claim below runs
    s.complete("@w1", "low", s.claim("@w1", 1.005, "low"), 2)
    s.complete("@w1", "high", s.claim("@w1", 3, "high"), 4)
    s.final("low", "completed")
    s.final("high", "completed")
    assert check(s.records) == []


# -- each broken promise, reported as itself ----------------------------------------------------


def test_a_task_granted_while_its_lease_is_live_is_two_live_claims() -> None:
    s = Story()
    s.send("a", timeout=10.0)
    s.claim("@w1", 0, "a")
    s.complete("@w2", "a", s.claim("@w2", 5, "a", retry_counts=(1,)), 6)
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.TWO_LIVE_CLAIMS}


def test_two_accepted_completes_are_a_double_completion() -> None:
    s = Story()
    s.send("a", timeout=1.0)
    first = s.claim("@w1", 0, "a")
    second = s.claim("@w2", 2, "a", retry_counts=(1,))
    s.complete("@w2", "a", second, 3)
    s.complete("@w1", "a", first, 3.5)  # the stale holder's complete, wrongly accepted
    s.final("a", "completed")
    assert Kind.DOUBLE_COMPLETION in kinds(check(s.records))
    assert Kind.STALE_COMPLETE_ACCEPTED in kinds(check(s.records))


def test_a_task_left_processing_is_lost() -> None:
    s = Story()
    s.send("a", "b")
    s.claim("@w1", 1, "a")
    s.final("a", "processing")  # and "b" is never observed at the end
    assert [(v.kind, v.task) for v in check(s.records)] == [(Kind.LOST, "a"), (Kind.LOST, "b")]


def test_a_task_completed_by_nobody_is_lost() -> None:
    s = Story()
    s.send("a")
    s.complete("@w1", "a", s.claim("@w1", 1, "a"), 2, ok=False, error="stale_lease")
    s.final("a", "completed")
    assert Kind.LOST in kinds(check(s.records))


def test_a_complete_accepted_after_the_deadline_is_a_stale_complete() -> None:
    s = Story()
    s.send("a", timeout=1.0)
    s.complete("@w1", "a", s.claim("@w1", 0, "a"), 2)  # nobody else claimed it meanwhile
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.STALE_COMPLETE_ACCEPTED}


def test_a_delivery_beyond_the_budget_is_retries_past_max() -> None:
    s = Story()
    s.send("a", max_retries=0, timeout=1.0)
    s.claim("@w1", 0, "a")
    s.complete("@w2", "a", s.claim("@w2", 2, "a", retry_counts=(1,)), 3)
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.RETRIES_PAST_MAX}


def test_a_failure_at_the_budget_retried_again_is_retries_past_max() -> None:
    s = Story()
    s.send("a", max_retries=0)
    s.fail("@w1", "a", s.claim("@w1", 0, "a"), 1, status="pending", retry_count=1)
    s.final("a", "pending")
    assert kinds(check(s.records)) == {Kind.RETRIES_PAST_MAX, Kind.LOST}


def test_a_task_dead_before_its_budget_is_spent_is_dead_too_early() -> None:
    s = Story()
    s.send("a", max_retries=2, timeout=1.0)
    s.claim("@w1", 0, "a")  # one lapse, and then dead
    s.final("a", "dead")
    assert kinds(check(s.records)) == {Kind.DEAD_TOO_EARLY}


def test_a_second_delivery_without_its_retry_counted_is_miscounted() -> None:
    s = Story()
    s.send("a", timeout=1.0)
    s.claim("@w1", 0, "a")
    s.complete("@w2", "a", s.claim("@w2", 2, "a", retry_counts=(0,)), 3)
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.RETRY_MISCOUNTED}


def test_a_lower_priority_task_claimed_first_is_a_priority_inversion() -> None:
    s = Story()
    s.send("low", priority=0)
    s.send("high", priority=2)
    s.complete("@w1", "low", s.claim("@w1", 1, "low"), 2)
    s.complete("@w1", "high", s.claim("@w1", 3, "high"), 4)
    s.final("low", "completed")
    s.final("high", "completed")
    assert [(v.kind, v.task) for v in check(s.records)] == [(Kind.PRIORITY_INVERSION, "high")]


def test_a_later_task_of_equal_priority_claimed_first_is_a_priority_inversion() -> None:
    s = Story()
    s.send("first")
    s.send("second")
    s.complete("@w1", "second", s.claim("@w1", 1, "second"), 2)
    s.complete("@w1", "first", s.claim("@w1", 3, "first"), 4)
    s.final("first", "completed")
    s.final("second", "completed")
    assert [(v.kind, v.task) for v in check(s.records)] == [(Kind.PRIORITY_INVERSION, "first")]


def test_an_empty_claim_while_a_task_waits_is_a_priority_inversion() -> None:
    s = Story()
    s.send("a")
    s.claim("@w1", 1)  # nothing, though "a" was there all along
    s.complete("@w1", "a", s.claim("@w1", 3, "a"), 4)
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.PRIORITY_INVERSION}


def test_a_retried_task_in_backoff_may_wait_behind_a_worse_one() -> None:
    s = Story()
    s.send("high", priority=2, max_retries=1)
    s.send("low", priority=0)
    s.fail("@w1", "high", s.claim("@w1", 1, "high"), 2, backoff=5.0)
    s.complete("@w1", "low", s.claim("@w1", 3, "low"), 4)  # "high" is not available yet
    s.complete("@w1", "high", s.claim("@w1", 8, "high", retry_counts=(1,)), 9)
    s.final("high", "completed")
    s.final("low", "completed")
    assert check(s.records) == []


def test_a_task_granted_after_its_completion_returned_is_claimed_after_finish() -> None:
    s = Story()
    s.send("a")
    s.complete("@w1", "a", s.claim("@w1", 0, "a"), 1)
    s.claim("@w2", 3, "a", retry_counts=(1,))
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.CLAIMED_AFTER_FINISH}


def test_refusing_a_live_lease_or_answering_already_finished_wrongly_is_reported() -> None:
    s = Story()
    s.send("a", "b", timeout=10.0)
    s.complete("@w1", "a", s.claim("@w1", 0, "a"), 1, ok=False, error="stale_lease")
    b = s.claim("@w2", 0, "b", retry_counts=(0,))
    s.complete("@w2", "b", b, 20, ok=False, error="already_finished")  # it finished nothing
    s.final("a", "pending")
    s.final("b", "dead")
    found = [(v.kind, v.task) for v in check(s.records) if v.kind is Kind.WRONG_REFUSAL]
    assert found == [(Kind.WRONG_REFUSAL, "a"), (Kind.WRONG_REFUSAL, "b")]


def test_a_grant_dated_outside_its_claim_call_is_reported() -> None:
    s = Story()
    s.send("a")
    s.complete("@w1", "a", s.claim("@w1", 1, "a", granted=0.5), 2)
    s.final("a", "completed")
    assert kinds(check(s.records)) == {Kind.LEASE_OUTSIDE_CALL}


# -- the recorder -------------------------------------------------------------------------------


def test_recorded_lines_load_back_and_a_line_cut_by_a_kill_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "w.jsonl"
    recorder = Recorder(path, "@w1")
    assert (
        recorder.timed("claim", lambda: 7, lambda n: {"claims": [], "n": n}, queue="q", limit=1)
        == 7
    )
    recorder.close()
    with path.open("a", encoding="utf-8") as file:
        file.write('{"op": "complete", "who": "@w1", "t0"')  # SIGKILL mid-line
    (record,) = load([path])
    assert (record["op"], record["who"], record["ok"], record["n"]) == ("claim", "@w1", True, 7)
    assert record["t0"] <= record["t1"] and record["w0"] <= record["w1"]
