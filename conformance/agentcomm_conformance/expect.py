"""Assertions the suite shares.  Errors are judged by their ``code`` (ERR-001), so an
implementation need not raise agentcomm's own classes, only errors that carry the codes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Claim, Hub

PARENTS = {
    "stale_lease": "conflict",
    "already_finished": "conflict",
    "corrupt_store": "backend_unavailable",
}


@dataclasses.dataclass
class Refusal:
    """What the refused call raised, filled in when the block ends."""

    error: BaseException | None = None

    @property
    def message(self) -> str:
        return str(self.error)

    @property
    def definite(self) -> bool | None:
        return getattr(self.error, "definite", None)


@contextlib.contextmanager
def refused(code: str) -> Iterator[Refusal]:
    """The block must raise an error whose ``code`` is ``code`` or one of its subcodes."""
    refusal = Refusal()
    try:
        yield refusal
    except Exception as exc:
        refusal.error = exc
        got = getattr(exc, "code", None)
        if got != code and PARENTS.get(str(got)) != code:
            raise AssertionError(
                f"expected an error with code {code!r}, got "
                f"{type(exc).__name__} (code {got!r}): {exc}"
            ) from exc
        return
    raise AssertionError(f"expected an error with code {code!r}; nothing was raised")


LONG = 100
"""SPEC LIMIT-005: a value longer than this is never quoted whole."""
NOTHING: Any = object()


def names(message: str, *terms: str, value: Any = NOTHING) -> None:
    """SPEC LIMIT-005's rule, and only it: ``message`` names the parameter (contains one
    of ``terms`` as a word) or quotes ``value`` (its text; its JSON spelling if it is not
    a string; a long string by its beginning and its length, never whole)."""
    long = isinstance(value, str) and len(value) > LONG
    if long:
        assert value not in message, f"the message quotes a {len(value)}-character value whole"
    if any(
        re.search(rf"(?<![A-Za-z0-9_]){re.escape(t)}(?![A-Za-z0-9_])", message, re.I) for t in terms
    ):
        return
    if long and value[:10] in message and str(len(value)) in message:
        return
    if not long and value is not NOTHING and _quoted(value) and _quoted(value) in message:
        return
    shown = "" if value is NOTHING else f", nor quotes the value {_quoted(value) or value!r}"
    raise AssertionError(
        f"the error message {message!r} names neither the parameter "
        f"({' or '.join(terms)}){shown} (SPEC LIMIT-005)"
    )


def _quoted(value: Any) -> str:
    """A value's text as LIMIT-005 means it: a string itself, anything else as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return ""  # no JSON spelling: only the parameter's name can name it
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return ""


def claimed(worker: Hub, source: str | None = None) -> Claim:
    """The next claim from ``source`` (the worker's inbox by default); fails if none."""
    claim = worker.claim(source)
    assert claim is not None, f"nothing claimable in {source or worker.agent_id}"
    return claim


def depths(hub: Hub) -> dict[str, dict[str, int]]:
    """``stats().depths`` without its zero counts (an absent key means 0)."""
    return {
        target: {k: n for k, n in counts.items() if n}
        for target, counts in hub.stats().depths.items()
        if any(counts.values())
    }


def now_by_message(hub: Hub) -> float:
    """The hub's time, read from a probe message's ``available_at`` (ENV-003).

    For tests that assert on events: the probe adds a message to queue ``clock.probe``."""
    return hub.send("clock.probe", "probe", None).available_at


def now_by_event(hub: Hub) -> float:
    """The hub's time, read from a probe event's ``published_at`` (EVT-001).

    For tests that assert on messages: the probe adds a ``clock.read`` event."""
    return hub.publish("clock.read", None).published_at


def file_of(locator: str) -> Path:
    """The file a ``sqlite:///`` locator names (``sqlite:////abs.db`` -> ``/abs.db``)."""
    parts = urllib.parse.urlsplit(locator)
    path = urllib.parse.unquote(parts.path)[1:]
    if parts.scheme != "sqlite" or parts.netloc or not path:
        pytest.skip(
            f"the hub's locator {locator!r} is not a sqlite:/// URL, so the suite "
            "cannot reach its file"
        )
    return Path(path).absolute()
