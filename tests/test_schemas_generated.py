"""The driver protocol's per-op schemas are derived (agentcomm_conformance.protocol_schemas):
the checked-in files are what the generator makes, the generator refuses what its rules
cannot express, and a hub's results fit op-results.json."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from agentcomm import Hub, ManualClock, Outgoing, connect
from agentcomm.ops import OPS
from agentcomm.wire import to_wire
from agentcomm_conformance import protocol_schemas
from agentcomm_conformance.protocol_schemas import generated, op_args, op_results, render
from agentcomm_conformance.resources import DRIVER_SCHEMAS

SCHEMAS = DRIVER_SCHEMAS.path()


def load(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def test_the_checked_in_schemas_are_what_the_generator_makes() -> None:
    for name, schema in generated().items():
        found = (SCHEMAS / name).read_text(encoding="utf-8") if (SCHEMAS / name).exists() else ""
        assert found == render(schema), (
            f"protocol/schemas/{name} is not what agentcomm/ops.py and the Hub signatures "
            "give: run scripts/gen_schemas.py"
        )


def test_the_derived_schemas_are_valid_draft_2020_12_schemas() -> None:
    for schema in generated().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_op_args_names_every_op_of_the_table_after_the_protocols_own() -> None:
    assert list(op_args()["properties"]) == [*protocol_schemas.CONTROL_ARGS, *OPS]
    assert list(op_results()["properties"]) == list(OPS)


# -- what the rules cannot express is refused ------------------------------------------------------
class NoneNotTheDefault(Hub):
    def send(self, to: str | None = "@x") -> Any:  # type: ignore[override]
        raise NotImplementedError


class UnknownAnnotation(Hub):
    def send(self, to: bytes) -> Any:  # type: ignore[override]
        raise NotImplementedError


class ReturnsOtherThanTheTable(Hub):
    def stats(self) -> Outgoing:  # type: ignore[override]
        raise NotImplementedError


@pytest.mark.parametrize(
    ("hub", "make", "error"),
    [
        (NoneNotTheDefault, op_args, "None exactly when None is its default"),
        (UnknownAnnotation, op_args, "no JSON form is known for the annotation 'bytes'"),
        (ReturnsOtherThanTheTable, op_results, "ops.py says it returns stats"),
    ],
)
def test_the_generator_refuses_a_signature_its_rules_cannot_express(
    monkeypatch: pytest.MonkeyPatch, hub: type[Hub], make: Any, error: str
) -> None:
    monkeypatch.setattr(protocol_schemas, "Hub", hub)
    with pytest.raises(ValueError, match=error):
        make()


# -- a hub's results fit op-results.json -----------------------------------------------------------
@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    clock = ManualClock(start=1_700_000_000.0)
    with connect(f"sqlite:///{tmp_path}/hub.db", agent="@alice", create=True, clock=clock) as made:
        yield made


def results_of_every_op(alice: Hub) -> Iterator[tuple[str, Any]]:
    """Every op once (``request`` aside: in one thread no one answers it; it returns what
    ``wait_reply`` does), some finishing ops with ``claim_next``."""
    sent = alice.send("@alice", "ask", {"q": 1})
    yield "send", sent
    yield "send_many", alice.send_many([Outgoing("jobs", "task", i) for i in range(6)])
    yield "get", alice.get(sent.id)
    yield "get_reply", alice.get_reply(sent.id)
    asked = alice.claim()
    yield "claim", asked
    assert asked is not None
    yield "extend", alice.extend(asked.id, asked.token, 10)
    yield "reply", alice.reply(asked.id, asked.token, {"a": 1})
    yield "wait_reply", alice.wait_reply(sent.id, timeout=1)
    one, two, three, four = alice.claim_many("jobs", limit=4)
    yield "claim_many", [one, two, three, four]
    yield "complete", alice.complete(one.id, one.token)
    yield "complete_many", alice.complete_many([(two.id, two.token)], claim_next=1)
    yield "fail", alice.fail(three.id, three.token, "poison", retry=False)
    yield "release", alice.release(four.id, four.token, claim_next=True)
    yield "dead_letters", alice.dead_letters()
    yield "replay", alice.replay(three.id)
    yield "purge_dead", alice.purge_dead()
    alice.subscribe("news")
    yield "subscribe", None  # it returns nothing
    yield "publish", alice.publish("news", {"n": 1})
    yield "events", alice.events()
    yield "tail_events", alice.tail_events()
    yield "subscriptions", alice.subscriptions()
    alice.unsubscribe("news")
    yield "unsubscribe", None  # it returns nothing
    yield "register", alice.register(capabilities=["ask"])
    yield "heartbeat", alice.heartbeat(load=1)
    yield "agents", alice.agents()
    yield "sweep", alice.sweep()
    yield "prune", alice.prune()
    yield "stats", alice.stats()
    alice.deregister()
    yield "deregister", None  # it returns nothing


def test_every_ops_result_fits_its_op_results_schema(hub: Hub) -> None:
    registry: Registry[Any] = Registry().with_resources(
        (path.name, Resource.from_contents(load(path.name))) for path in DRIVER_SCHEMAS.files()
    )
    results = load("op-results.json")["properties"]
    seen = set()
    for op, result in results_of_every_op(hub):
        validator = jsonschema.Draft202012Validator(results[op], registry=registry)
        validator.validate(to_wire(result))
        seen.add(op)
    assert seen == set(OPS) - {"request"}
    assert results["request"] == results["wait_reply"]
