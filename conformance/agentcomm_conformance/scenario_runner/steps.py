"""What each kind of scenario step does (``scenarios/README.md``), to one ``Play``."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentcomm import errors
from agentcomm_conformance.scenario_runner.checks import fill, first_mismatch, reply_problem
from agentcomm_conformance.scenario_runner.fleet import poll_until
from agentcomm_conformance.scenario_runner.format import StepFailed

if TYPE_CHECKING:
    from agentcomm_conformance.scenario_runner.play import Play


def _send(play: Play, args: dict[str, Any]) -> None:
    options = {
        k: args[k]
        for k in ("priority", "timeout_seconds", "max_retries", "expires_in")
        if k in args
    }
    handle = play.handle(args["as"])
    play.messages[args["name"]] = [
        handle.send(args["to"], args["type"], fill(args["payload"], n), **options).id
        for n in range(1, args.get("repeat", 1) + 1)
    ]


def _request(play: Play, args: dict[str, Any]) -> None:
    options = {k: args[k] for k in ("priority", "correlation_id") if k in args}
    handle = play.handle(args["as"])
    try:
        reply = handle.request(
            args["to"], args["type"], fill(args["payload"], 1), timeout=args["timeout"], **options
        )
    except errors.DeadlineExceeded as exc:
        play.messages[args["name"]] = [_named_request(play, args, exc)]
        if args.get("raises") != "DeadlineExceeded":
            raise StepFailed(f"no reply within {args['timeout']} s: {exc}") from None
        if exc.definite:
            raise StepFailed(
                "DeadlineExceeded says it is definite; a request may still be "
                "handled after its requester stopped waiting"
            ) from None
        return
    play.messages[args["name"]] = [reply.request_id]
    if "raises" in args:
        raise StepFailed(f"got a reply, expected {args['raises']}: {reply.payload!r}")
    problem = reply_problem(repr(args["name"]), reply, args.get("reply", {}), 1)
    if problem:
        raise StepFailed(problem)


def _named_request(play: Play, args: dict[str, Any], exc: Exception) -> str:
    """The request's id, which DeadlineExceeded's message must name (SPEC REQ-006)."""
    for word in dict.fromkeys(re.findall(r"[\w.:\-]+", str(exc))):
        with contextlib.suppress(errors.AgentCommError):
            found = play.monitor.get(word)
            if (found.to_agent, found.type, found.from_agent) == (
                args["to"],
                args["type"],
                args["as"],
            ):
                return found.id
    raise StepFailed(f"DeadlineExceeded does not name the request's id: {exc}")


def _publish(play: Play, args: dict[str, Any]) -> None:
    options = {"ttl": args["ttl"]} if "ttl" in args else {}
    event = play.handle(args["as"]).publish(args["type"], fill(args["payload"], 1), **options)
    play.events[args["name"]] = event.id


def _subscribe(play: Play, args: dict[str, Any]) -> None:
    play.handle(args["as"]).subscribe(args["type"])


def _replay(play: Play, args: dict[str, Any]) -> None:
    for _label, message_id, _n in play.members(args["message"]):
        play.monitor.replay(message_id)


def _sweep(play: Play, _args: dict[str, Any]) -> None:
    play.monitor.sweep()


def _wait_until(play: Play, expectations: list[dict[str, Any]]) -> None:
    poll_until(lambda: first_mismatch(play, expectations), "the expectations to hold")


def _expect(play: Play, expectations: list[dict[str, Any]]) -> None:
    mismatch = first_mismatch(play, expectations)
    if mismatch is not None:
        raise StepFailed(mismatch)


STEPS: dict[str, Callable[[Play, Any], None]] = {
    "send": _send,
    "request": _request,
    "publish": _publish,
    "subscribe": _subscribe,
    "replay": _replay,
    "sweep": _sweep,
    "start": lambda play, refs: play.agents.start(refs),
    "stop": lambda play, refs: play.agents.stop(refs),
    "kill": lambda play, refs: play.agents.kill(refs),
    "wait_until": _wait_until,
    "expect": _expect,
}
