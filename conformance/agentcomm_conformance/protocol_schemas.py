"""The driver protocol's per-op schemas, derived rather than written: ``op-args.json`` and
``op-results.json`` (``protocol/schemas/``) come from the table of operations
(``agentcomm/ops.py``) and the signatures of the ``Hub`` methods of the same names.

``scripts/gen_schemas.py`` writes them; tests/test_schemas_generated.py fails when the
checked-in files differ from what ``generated()`` makes.  The rules, per argument:

- its JSON type is its annotation's (``ANNOTATIONS``; an annotation with none is an error);
- it is required when it has no default;
- ``null`` may stand for it exactly when its default is ``None`` (SPEC "Null and the
  defaults"): null means "left out" there, and is refused for any other default.

What a signature cannot say is written here: the protocol's own ops (``CONTROL_ARGS``, no
``Hub`` method has them) and ``REFINEMENTS`` of single arguments.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

from agentcomm import Hub
from agentcomm.models import ReplyStatus
from agentcomm.ops import OPS

__all__ = ["generated", "op_args", "op_results", "render"]

Schema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

ANNOTATIONS: dict[str, Schema] = {
    "str": {"type": "string"},
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "None": {"type": "null"},
    "Any": {},  # a payload: any JSON value
    # An enum travels as its lowercase name; the str (and int) beside it in the
    # annotation are the spellings a caller may use instead of a member.
    "Priority | int | str": {"type": ["string", "integer"]},  # a name, or 0..2
    "ReplyStatus | str": {"type": "string", "enum": [s.value for s in ReplyStatus]},
    # tuple[str, str] travels as a JSON array (a complete_many item: [message_id, token])
    "tuple[str, str]": {"type": "array", "items": {"type": "string"}},
}
"""The JSON form of each annotation a ``Hub`` argument or result has (lists aside)."""

LISTS = re.compile(r"(?:Iterable|Sequence|list)\[(?P<item>.+)\]")

KIND_SCHEMAS = {
    "message": "message.json",
    "claim": "claim.json",
    "reply": "reply.json",
    "event": "event.json",
    "agent": "agent-info.json",
    "stats": "stats.json",
}
"""The schema of each kind of record an op returns (``Op.result``)."""

RECORD_KINDS = {
    "Message": "message",
    "Claim": "claim",
    "Reply": "reply",
    "Event": "event",
    "AgentInfo": "agent",
    "Stats": "stats",
}
"""The kind of each record class a ``Hub`` method's return annotation names."""

REFINEMENTS: dict[tuple[str, str], Schema] = {
    # a count of next claims to take, where the other finishing ops take a flag
    ("complete_many", "claim_next"): {"minimum": 0},
}
"""What a type cannot say about one argument of one op."""

CONTROL_ARGS: dict[str, tuple[Schema, list[str]]] = {
    "hello": ({"protocol": {"type": "integer"}, "suite": {"type": "string"}}, ["protocol"]),
    "new_hub": ({"workdir": {"type": "string"}}, ["workdir"]),
    "open": (
        {
            "hub": {"type": "string"},
            "agent": {"type": ["string", "null"]},
            "now": {"type": "number"},
        },
        ["hub"],
    ),
    "advance_clock": ({"seconds": {"type": "number", "minimum": 0}}, ["seconds"]),
    "read_clock": ({}, []),
    "close": ({}, []),
}
"""The protocol's own ops (DRIVER.md "Lifecycle"): their properties and required names."""

ARGS_DESCRIPTION = (
    "Each property is one op's `args`: its arguments, their JSON types, which are required."
    ' An optional argument whose type list includes "null" may be given as null, meaning the'
    " same as leaving it out (its default is none); any other optional argument takes its"
    " default only when left out, and null for it is refused by the hub with invalid_input"
    ' (SPEC, "Null and the defaults"). The suite also sends wrong values on purpose, to see'
    " the hub refuse them; this schema describes well-formed calls. `payload` is any JSON"
    " value. A `send_many` item has `send`'s arguments; a `complete_many` item is a"
    " [message_id, token] pair."
)

RESULTS_DESCRIPTION = (
    "Each property is the `result` of one hub op's successful response: a record (by its"
    " schema), a list of them, or a plain value; `null` where the op may return nothing."
    " A finishing op called with `claim_next` returns the next Claim (or null; a list of"
    " them for `complete_many`) instead of its usual result."
)


def generated() -> dict[str, Schema]:
    """Every derived schema, by its file name in ``protocol/schemas/``."""
    return {"op-args.json": op_args(), "op-results.json": op_results()}


def render(schema: Schema) -> str:
    """A schema as its file holds it."""
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


# -- arguments ----------------------------------------------------------------------------------
def op_args() -> Schema:
    """op-args.json: every op's ``args``, the protocol's own ops first."""
    control = {name: _object(*spec) for name, spec in CONTROL_ARGS.items()}
    hub = {name: _args_object(name) for name in OPS}
    title = "The arguments of every op (driver protocol 1), by op name"
    return _by_op(title, ARGS_DESCRIPTION, {**control, **hub})


def _args_object(op: str) -> Schema:
    parameters = list(inspect.signature(getattr(Hub, op)).parameters.values())[1:]  # no self
    properties = {p.name: _argument(op, p) for p in parameters}
    return _object(properties, [p.name for p in parameters if p.default is p.empty])


def _argument(op: str, parameter: inspect.Parameter) -> Schema:
    annotation = str(parameter.annotation)
    optional_none = annotation.endswith(" | None")
    if optional_none != (parameter.default is None):
        raise ValueError(
            f"{op}({parameter.name}: {annotation} = {parameter.default!r}): an argument may "
            "be None exactly when None is its default (SPEC 'Null and the defaults')"
        )
    schema = _wire(annotation.removesuffix(" | None"))
    if optional_none:
        schema = _or_null(schema)
    return {**schema, **REFINEMENTS.get((op, parameter.name), {})}


def _wire(annotation: str) -> Schema:
    """The JSON form of a value of this annotation (``None`` aside)."""
    if annotation in ANNOTATIONS:
        return dict(ANNOTATIONS[annotation])
    if annotation == "Outgoing":  # its fields mirror Hub.send's arguments
        return _args_object("send")
    listed = LISTS.fullmatch(annotation)
    if listed:
        return {"type": "array", "items": _wire(listed["item"])}
    raise ValueError(
        f"no JSON form is known for the annotation {annotation!r}: "
        "add it to agentcomm_conformance.protocol_schemas.ANNOTATIONS"
    )


def _or_null(schema: Schema) -> Schema:
    types = schema["type"]
    return {**schema, "type": [*([types] if isinstance(types, str) else types), "null"]}


def _object(properties: Schema, required: list[str]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


# -- results ------------------------------------------------------------------------------------
def op_results() -> Schema:
    """op-results.json: every hub op's ``result``, from its return annotation."""
    results = {name: _result(name) for name in OPS}
    return _by_op(
        "The result of every hub op (driver protocol 1), by op name", RESULTS_DESCRIPTION, results
    )


def _result(op: str) -> Schema:
    """The return annotation's alternatives; the first is the op's usual result, which
    must be what the table says (the others: nothing, or the next claim, CLAIM-009)."""
    annotation = str(inspect.signature(getattr(Hub, op)).return_annotation)
    alternatives = [_returned(part) for part in annotation.split(" | ")]
    usual = _record(OPS[op].result, OPS[op].many)
    if usual is not None and alternatives[0] != usual:
        raise ValueError(
            f"Hub.{op} returns {annotation}, but agentcomm/ops.py says it returns "
            f"{'a list of ' if OPS[op].many else ''}{OPS[op].result}"
        )
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}


def _record(kind: str | None, many: bool) -> Schema | None:
    if kind is None:
        return None
    record = {"$ref": KIND_SCHEMAS[kind]}
    return {"type": "array", "items": record} if many else record


def _returned(annotation: str) -> Schema:
    if annotation in RECORD_KINDS:
        return {"$ref": KIND_SCHEMAS[RECORD_KINDS[annotation]]}
    listed = LISTS.fullmatch(annotation)
    if listed:
        return {"type": "array", "items": _returned(listed["item"])}
    if annotation == "dict[str, int]":  # prune: a count per kind of record
        return {"type": "object", "additionalProperties": {"type": "integer"}}
    return _wire(annotation)


def _by_op(title: str, description: str, properties: Schema) -> Schema:
    return {
        "$schema": DIALECT,
        "title": title,
        "description": description,
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
