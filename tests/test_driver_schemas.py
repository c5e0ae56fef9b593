"""Every message of the driver protocol against its JSON Schema (``protocol/schemas``).

``jsonschema`` is not a dependency, so the schemas are checked by ``conforms`` below, a
small validator of exactly the keywords they use (a test keeps them to those keywords).
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path
from typing import Any, cast

import pytest

from agentcomm import AgentCommError, Hub, Outgoing
from agentcomm.driver import HUB_OPS
from agentcomm.wire import RESULT_KINDS
from agentcomm_conformance.driver.process import DriverProcess, Transcript
from agentcomm_conformance.json_form import FORMS
from agentcomm_conformance.resources import DRIVER_SCHEMAS
from agentcomm_conformance.targets.driver import DriverHub
from driver_support import REFERENCE

SCHEMAS = DRIVER_SCHEMAS.path()


KNOWN_KEYWORDS = {
    "$schema",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "minLength",
    "uniqueItems",
    "$ref",
    "allOf",
    "anyOf",
}
JSON_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
    "integer": int,
    "number": (int, float),
}
KIND_SCHEMAS = {
    "message": "message.json",
    "claim": "claim.json",
    "reply": "reply.json",
    "event": "event.json",
    "agent": "agent-info.json",
    "stats": "stats.json",
}


def load(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in {"integer", "number"}:
        return False
    return isinstance(value, JSON_TYPES[name])


def violations(value: Any, schema: Any, at: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema`` (the keywords of KNOWN_KEYWORDS), as paths."""
    found: list[str] = []
    if "$ref" in schema:
        found += violations(value, load(schema["$ref"]), at)
    for part in schema.get("allOf", []):
        found += violations(value, part, at)
    if "anyOf" in schema and all(violations(value, part, at) for part in schema["anyOf"]):
        found.append(f"{at}: {value!r} matches none of {schema['anyOf']}")
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(is_type(value, n) for n in names):
            return [*found, f"{at}: {value!r} is not {types}"]
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        found.append(f"{at}: {value!r} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{at}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, (int, float)) and value < schema.get("minimum", value):
        found.append(f"{at}: {value!r} is below {schema['minimum']}")
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        found.append(f"{at}: {value!r} is too short")
    if isinstance(value, list):
        if schema.get("uniqueItems") and len({json.dumps(v) for v in value}) < len(value):
            found.append(f"{at}: items repeat")
        for i, item in enumerate(value):
            found += violations(item, schema.get("items", {}), f"{at}[{i}]")
    if isinstance(value, dict):
        found += [f"{at}: lacks {k!r}" for k in schema.get("required", []) if k not in value]
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                found += violations(item, properties[key], f"{at}.{key}")
            elif extra is False:
                found.append(f"{at}: has no field {key!r}")
            elif isinstance(extra, dict):
                found += violations(item, extra, f"{at}.{key}")
    return found


def conforms(value: Any, name: str) -> None:
    assert violations(value, load(name)) == [], f"{name}: {value}"


def args_conform(request: dict[str, Any]) -> None:
    """A request's args against op-args.json; those sent tagged are only counted present."""
    if request["op"] == "frob":
        return  # the unknown op sent on purpose
    schema = dict(load("op-args.json")["properties"][request["op"]])
    tagged = set(request.get("nonjson", {}))
    schema["required"] = [r for r in schema["required"] if r not in tagged]
    assert violations(request.get("args", {}), schema) == [], request


def keywords(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(keywords(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key in {"properties"}:
            found |= set().union(*(keywords(v) for v in value.values())) if value else set()
        elif key in {"items", "additionalProperties", "allOf", "anyOf"}:
            found |= keywords(value)
    return found


def test_the_schemas_use_only_keywords_the_structural_check_knows() -> None:
    files = DRIVER_SCHEMAS.files()
    assert len(files) == 15
    for path in files:
        schema = load(path.name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert keywords(schema) <= KNOWN_KEYWORDS, path.name


def test_the_structural_check_rejects_what_the_schemas_forbid() -> None:
    good: dict[str, Any] = {
        "id": 3,
        "ok": False,
        "error": {"code": "stale_lease", "message": "m", "definite": True},
    }
    assert violations(good, load("response-error.json")) == []
    assert violations({**good, "extra": 1}, load("response-error.json")) == [
        "$: has no field 'extra'"
    ]
    assert violations(
        {**good, "error": {**good["error"], "definite": "yes"}}, load("response-error.json")
    ) == ["$.error.definite: 'yes' is not boolean"]
    assert violations({"id": True, "op": "x"}, load("request.json")) == [
        "$.id: True is not integer"
    ]


def test_the_suites_json_form_checks_are_the_record_schemas() -> None:
    """ENV-005's test (agentcomm_conformance.json_form) judges what the schemas say."""
    for kind, name in KIND_SCHEMAS.items():
        properties = load(name)["properties"]
        plain = {
            field: {k: v for k, v in rule.items() if k in {"type", "enum", "$ref"}}
            for field, rule in properties.items()
        }
        assert FORMS[kind] == plain, name
        assert load(name)["required"] == list(properties), name


def test_op_args_lists_every_ops_arguments_and_allows_null_where_the_default_is_none() -> None:
    ops = load("op-args.json")["properties"]
    assert set(ops) == set(HUB_OPS) | {
        "hello",
        "new_hub",
        "open",
        "advance_clock",
        "read_clock",
        "close",
    }
    for name in HUB_OPS:
        parameters = list(inspect.signature(getattr(Hub, name)).parameters.values())[1:]
        schema = ops[name]
        assert list(schema["properties"]) == [p.name for p in parameters], name
        assert schema["required"] == [p.name for p in parameters if p.default is p.empty]
        for p in parameters:
            types = schema["properties"][p.name].get("type", [])
            if p.default is not p.empty:  # SPEC "Null and the defaults"
                assert ("null" in types) == (p.default is None), f"{name}({p.name})"


def session(driver: DriverProcess, tmp_path: Path) -> None:
    """Every op once, results of every kind, and some errors."""
    hub = driver.call("new_hub", workdir=str(tmp_path))["hub"]
    driver.call("open", hub=hub, agent="@alice", now=1_700_000_000.0)
    handle = DriverHub(driver, "@alice")
    alice = cast(Hub, handle)  # Hub's methods, forwarded
    sent = alice.send("@alice", "ask", {"q": 1}, correlation_id="c1", expires_in=60)
    alice.send_many([Outgoing("jobs", "task", i, priority="low") for i in range(3)])
    alice.get(sent.id)
    asked = alice.claim()
    assert asked is not None
    alice.extend(asked.id, asked.token, 10)
    alice.reply(asked.id, asked.token, {"a": 1})
    alice.get_reply(sent.id)
    alice.wait_reply(sent.id, timeout=1)
    claims = alice.claim_many("jobs", limit=3)
    alice.complete(claims[0].id, claims[0].token)
    alice.complete_many([(claims[1].id, claims[1].token)])
    alice.fail(claims[2].id, claims[2].token, "poison", retry=False)
    alice.send("jobs", "task", "back")
    held = alice.claim("jobs")
    assert held is not None
    alice.release(held.id, held.token)
    alice.dead_letters()
    alice.replay(claims[2].id)
    alice.purge_dead()
    alice.subscribe("news")
    alice.publish("news", {"n": 1}, ttl=60)
    alice.events()
    alice.tail_events()
    alice.subscriptions()
    alice.register(capabilities=["ask"], process_id=os.getpid())
    alice.heartbeat(load=1)
    alice.agents()
    handle.advance_clock(400)
    assert driver.call("read_clock") == 1_700_000_400.0
    alice.sweep()
    alice.prune()
    alice.stats()
    alice.unsubscribe("news")
    alice.deregister()
    for refused in (
        lambda: alice.send("@bob", "ask", {"n": float("nan")}),
        lambda: alice.request("@bob", "ask", {}, timeout=1),
        lambda: alice.complete(sent.id, "stale"),
        lambda: driver.call("frob"),
    ):
        with pytest.raises(AgentCommError):
            refused()


def test_every_message_of_a_real_session_matches_its_json_schema(tmp_path: Path) -> None:
    transcript: Transcript = []
    with DriverProcess.start(REFERENCE, timeout=30, name="@alice", transcript=transcript) as driver:
        session(driver, tmp_path)
    ops: dict[int, str] = {}
    kinds_seen: set[str] = set()
    for direction, message in transcript:
        if direction == "request":
            conforms(message, "hello-request.json" if message["op"] == "hello" else "request.json")
            ops[message["id"]] = message["op"]
            args_conform(message)
            continue
        op = ops[message["id"]]
        if not message["ok"]:
            conforms(message, "response-error.json")
            continue
        conforms(message, "hello-response.json" if op == "hello" else "response-ok.json")
        kind, many = RESULT_KINDS.get(op, (None, False))
        result = message["result"]
        if op in HUB_OPS:
            assert violations(result, load("op-results.json")["properties"][op]) == [], op
        if op == "new_hub":
            conforms(result, "new-hub-result.json")
        elif kind is not None and result is not None:
            for record in result if many else [result]:
                conforms(record, KIND_SCHEMAS[kind])
            kinds_seen.add(kind)
    assert kinds_seen == set(KIND_SCHEMAS)
    assert set(ops.values()) == set(HUB_OPS) | {
        "hello",
        "new_hub",
        "open",
        "advance_clock",
        "read_clock",
        "close",
        "frob",
    }
    assert [m["error"]["code"] for d, m in transcript if d == "response" and not m["ok"]] == [
        "invalid_input",
        "deadline_exceeded",
        "stale_lease",
        "unsupported",
    ]
