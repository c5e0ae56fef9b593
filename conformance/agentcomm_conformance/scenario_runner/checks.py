"""Scenario expectations: each says in words what it found when it does not hold."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcomm_conformance.scenario_runner.behave import read_runs
from agentcomm_conformance.scenario_runner.format import EXPECTATION_KINDS

if TYPE_CHECKING:
    from agentcomm_conformance.scenario_runner.play import Play


def fill(value: Any, n: int) -> Any:
    """``{n}`` in any string of ``value`` becomes the message's number within its send."""
    if isinstance(value, str):
        return value.replace("{n}", str(n))
    if isinstance(value, list):
        return [fill(v, n) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, n) for k, v in value.items()}
    return value


def first_mismatch(play: Play, expectations: list[dict[str, Any]]) -> str | None:
    """The first expectation that does not hold now, said in words; None when all hold."""
    for expectation in expectations:
        kind = next(k for k in expectation if k in EXPECTATION_KINDS)
        found = CHECKS[kind](play, expectation)
        if found is not None:
            return found
    return None


def _message(play: Play, want: dict[str, Any]) -> str | None:
    for label, message_id, _n in play.members(want["message"]):
        message = play.monitor.get(message_id)
        got = {
            "status": message.status.value,
            "retry_count": message.retry_count,
            "claimed_by": message.claimed_by,
        }
        for field in ("status", "retry_count", "claimed_by"):
            if field in want and got[field] != want[field]:
                said = {
                    "status": "is {}",
                    "retry_count": "has retry_count {}",
                    "claimed_by": "is claimed by {}",
                }[field]
                return (
                    f"message {label} {said.format(_text(got[field]))}, expected "
                    f"{_text(want[field])}"
                )
        part = want.get("last_error_contains")
        if part is not None and part not in (message.last_error or ""):
            return (
                f"message {label} has last_error {message.last_error!r}, expected it to "
                f"contain {part!r}"
            )
    return None


def _reply(play: Play, want: dict[str, Any]) -> str | None:
    for label, message_id, n in play.members(want["reply"]):
        reply = play.monitor.get_reply(message_id)
        if not want.get("exists", True):
            if reply is not None:
                return f"message {label} has a reply from {reply.from_agent}, expected none"
            continue
        if reply is None:
            return f"message {label} has no reply"
        problem = reply_problem(label, reply, want, n)
        if problem:
            return problem
    return None


def reply_problem(label: str, reply: Any, want: dict[str, Any], n: int) -> str | None:
    if "payload" in want and reply.payload != fill(want["payload"], n):
        return (
            f"the reply to {label} is {json.dumps(reply.payload)}, expected "
            f"{json.dumps(fill(want['payload'], n))}"
        )
    if "status" in want and reply.status.value != want["status"]:
        return f"the reply to {label} has status {reply.status.value}, expected {want['status']}"
    if "from" in want and reply.from_agent != want["from"]:
        return f"the reply to {label} is from {reply.from_agent}, expected {want['from']}"
    return None


def _dead_letters(play: Play, want: dict[str, Any]) -> str | None:
    expected = [
        (mid, letter.get("reason_contains"))
        for letter in want["dead_letters"]
        for _label, mid, _n in play.members(letter["message"])
    ]
    found = play.monitor.dead_letters(limit=1000)
    if [m.id for m in found] != [mid for mid, _ in expected]:
        return (
            f"the dead letters are {_listed([m.id for m in found], play.message_name)}, "
            f"expected {_listed([mid for mid, _ in expected], play.message_name)}"
        )
    for message, (_mid, reason) in zip(found, expected, strict=True):
        if reason is not None and reason not in (message.last_error or ""):
            return (
                f"dead letter {play.message_name(message.id)} has reason "
                f"{message.last_error!r}, expected it to contain {reason!r}"
            )
    return None


def _received(play: Play, want: dict[str, Any]) -> str | None:
    agent = want["received"]
    for kind in ("messages", "events"):
        if kind not in want:
            continue
        got = [
            r["id"]
            for r in read_runs(str(play.runs))
            if r["agent"] == agent and r["kind"] == kind[:-1]
        ]
        name: Callable[[str], str]
        if kind == "messages":
            expected = [mid for ref in want[kind] for _l, mid, _n in play.members(ref)]
            name = play.message_name
        else:
            expected = [play.events[ref] for ref in want[kind]]
            name = play.event_name
        if got != expected:
            return (
                f"{agent} received {kind} {_listed(got, name)}, expected {_listed(expected, name)}"
            )
    return None


def _runs(play: Play, want: dict[str, Any]) -> str | None:
    by = {a for ref in want.get("by", []) for a in play.agent_ids(ref)}
    runs = [r for r in read_runs(str(play.runs)) if r["kind"] == "message"]
    for label, message_id, _n in play.members(want["runs"]):
        mine = [r for r in runs if r["id"] == message_id and (not by or r["agent"] in by)]
        if len(mine) != want["count"]:
            who = f" by {', '.join(sorted(by))}" if by else ""
            return f"message {label} was handled {len(mine)} times{who}, expected {want['count']}"
        starts = [r["at"] for r in mine]
        gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
        # The loader allows no more bounds than gaps (count - 1).
        for i, (gap, least) in enumerate(zip(gaps, want.get("gaps_at_least", []), strict=False)):
            if gap < least:
                return (
                    f"message {label}: run {i + 2} started {gap:.3f} s after run {i + 1}, "
                    f"expected at least {least} s"
                )
    return None


def _agent(play: Play, want: dict[str, Any]) -> str | None:
    entries = {a.agent_id: a for a in play.monitor.agents()}
    for agent in play.agent_ids(want["agent"]):
        state = play.agents.state(agent)
        if "process" in want and state != want["process"]:
            return f"agent {agent}'s process is {state}, expected {want['process']}"
        entry = entries.get(agent)
        if entry is None and ("alive" in want or "status" in want):
            return f"agent {agent} is not in the registry"
        if entry is not None and "alive" in want and entry.alive != want["alive"]:
            return (
                f"agent {agent} is {'alive' if entry.alive else 'not alive'} (last "
                f"heartbeat {entry.seconds_since_heartbeat:.2f} s ago, ttl "
                f"{entry.heartbeat_ttl:g} s), expected alive: {want['alive']}"
            )
        if entry is not None and "status" in want and entry.status != want["status"]:
            return f"agent {agent} has status {entry.status}, expected {want['status']}"
    return None


def _depth(play: Play, want: dict[str, Any]) -> str | None:
    target = want["depth"]
    depths = play.monitor.stats().depths.get(target, {})
    for status, count in want.items():
        if status != "depth" and depths.get(status, 0) != count:
            return f"{target} holds {depths.get(status, 0)} {status} messages, expected {count}"
    return None


def _text(value: Any) -> str:
    """A value as a case file writes it: strings bare, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def _listed(ids: list[str], name: Callable[[str], str]) -> str:
    return "[" + ", ".join(name(i) for i in ids) + "]"


CHECKS: dict[str, Callable[[Play, dict[str, Any]], str | None]] = {
    "message": _message,
    "reply": _reply,
    "dead_letters": _dead_letters,
    "received": _received,
    "runs": _runs,
    "agent": _agent,
    "depth": _depth,
}
