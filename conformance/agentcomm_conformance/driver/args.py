"""The suite's requests to a driver: arguments in their JSON form, and how long each may wait.

Apart from the process handling because this is the protocol's encoding, a pure function
of the arguments: what travels as plain JSON, what travels tagged (DRIVER.md), what
cannot travel at all (``Inexpressible``), and the time an op may block by design.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from agentcomm import Hub
from agentcomm.ops import OPS
from agentcomm.record import Record
from agentcomm.wire import is_plain, tag, to_wire

__all__ = ["WAITS", "Inexpressible", "allowance", "encode", "wire_args"]

WAITS = {name: op.waits for name, op in OPS.items() if op.waits is not None}
"""Ops that may block by design, and the argument that bounds them: it adds to the timeout
(a finishing op's ``wait`` for its next claim included, CLAIM-009)."""

MAX_ALLOWANCE = 3600.0


class Inexpressible(ValueError):
    """An argument that has no JSON form, not even a tagged one (bytes, an arbitrary
    object): nothing was sent, and ``DriverHub`` turns this into a skip, not a failure.
    NaN, infinities, lone surrogates and keys that are not strings travel tagged."""


def wire_args(op: str, args: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The arguments that travel as plain JSON, and those that JSON cannot carry (NaN, a
    lone surrogate, a key that is not a string: JSON would turn ``{1: "a"}`` into
    ``{"1": "a"}``, hiding it from the hub that must refuse it) in tagged form."""
    plain: dict[str, Any] = {}
    tagged: dict[str, Any] = {}
    for name, value in args.items():
        wire = _jsonable(value)
        if is_plain(wire):
            plain[name] = wire
            continue
        try:
            tagged[name] = tag(wire)
        except TypeError as exc:
            raise Inexpressible(
                f"argument {name!r} of {op!r} cannot travel to a driver: {exc}"
            ) from None
    return plain, tagged


def _jsonable(value: Any) -> Any:
    """An argument in the shape of JSON: ``Outgoing`` as an object, enums by ``to_wire``;
    sets, tuples and generators as lists (which JSON can carry is ``wire_args``' call)."""
    if isinstance(value, Record):
        return _jsonable(value.as_dict())
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, bytearray)):
        return [_jsonable(v) for v in value]
    return to_wire(value)


def encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request, ensure_ascii=False, allow_nan=False).encode("utf-8") + b"\n"


def allowance(op: str, args: Mapping[str, Any]) -> float:
    """How long ``op`` may block by design: its ``wait`` or ``timeout`` (0 for other ops)."""
    name = WAITS.get(op)
    if name is None:
        return 0.0
    value = args.get(name, inspect.signature(getattr(Hub, op)).parameters[name].default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    try:
        seconds = float(value)
    except OverflowError:  # 10**400: the hub refuses it at once
        return 0.0
    return min(max(0.0, seconds), MAX_ALLOWANCE) if math.isfinite(seconds) else 0.0
