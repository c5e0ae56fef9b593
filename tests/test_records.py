"""The records a hub returns (``agentcomm.record.Record``) behave as frozen dataclasses do:
what a caller relies on when it keeps, compares, copies, pickles or changes one."""

from __future__ import annotations

import copy
import pickle
from typing import Any, ClassVar

import pytest

from agentcomm import AgentInfo, Claim, HubSettings, Message, Outgoing, Priority, Status
from agentcomm.errors import ConfigurationError
from agentcomm.models import as_json
from agentcomm.record import Record


def message(**changes: object) -> Message:
    fields: dict[str, object] = {
        "id": "7",
        "from_agent": "@a",
        "to_agent": "@b",
        "type": "greet",
        "payload": {"n": 1},
        "status": Status.PENDING,
        "priority": Priority.NORMAL,
        "created_at": 1.5,
        "timeout_seconds": 30.0,
        "retry_count": 0,
        "max_retries": 3,
    }
    return Message(**{**fields, **changes})  # type: ignore[arg-type]


def test_fields_are_the_annotations_in_order_with_their_defaults() -> None:
    m = message()
    assert Message.fields()[:3] == ("id", "from_agent", "to_agent")
    assert (m.correlation_id, m.available_at, m.reply_id) == (None, 0.0, None)
    assert list(m.as_dict()) == list(Message.fields())


def test_positional_arguments_fill_the_fields_in_order() -> None:
    out = Outgoing("@b", "greet", {"n": 1}, "high")
    assert (out.to, out.type, out.payload, out.priority) == ("@b", "greet", {"n": 1}, "high")
    assert out == Outgoing(to="@b", type="greet", payload={"n": 1}, priority="high")


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((), {"to": "@b", "type": "t"}, "missing 'payload'"),
        (("@b", "t", 1), {"colour": "red"}, "unexpected fields 'colour'"),
        (("@b", "t", 1), {"to": "@c"}, "multiple values for 'to'"),
        (tuple(range(9)), {}, "takes 8 positional arguments but 9 were given"),
    ],
)
def test_wrong_arguments_are_a_type_error_naming_the_field(
    args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    with pytest.raises(TypeError, match=named):
        Outgoing(*args, **kwargs)


def test_a_record_cannot_be_changed_in_place() -> None:
    m = message()
    with pytest.raises(AttributeError, match=r"'status'.*frozen"):
        m.status = Status.COMPLETED  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del m.payload
    assert m.status is Status.PENDING


def test_replace_makes_a_changed_copy_and_checks_it_as_new() -> None:
    m = message()
    done = m.replace(status=Status.COMPLETED, claimed_by="@w")
    assert (done.status, done.claimed_by, done.id) == (Status.COMPLETED, "@w", "7")
    assert m.status is Status.PENDING
    with pytest.raises(ConfigurationError, match="backoff_base"):
        HubSettings().replace(backoff_base=-1.0)  # __post_init__ runs again
    with pytest.raises(TypeError, match="unexpected fields 'colour'"):
        m.replace(colour="red")


def test_equality_and_hashing_are_by_type_and_value() -> None:
    a = AgentInfo("@a", "active", 1.0, 60.0, True, 0.5, capabilities=("x",))
    same = AgentInfo("@a", "active", 1.0, 60.0, True, 0.5, capabilities=("x",))
    assert a == same and hash(a) == hash(same) and len({a, same}) == 1
    assert a != a.replace(current_load=1)
    assert message() != Outgoing("@b", "greet", {"n": 1})
    with pytest.raises(TypeError, match="unhashable"):
        hash(message())  # its payload is a dict, as with a frozen dataclass


def test_repr_names_every_field() -> None:
    shown = repr(Outgoing("@b", "greet", None))
    assert shown.startswith("Outgoing(to='@b', type='greet', payload=None, priority=")
    assert shown.endswith("expires_in=None)")


def test_pickle_and_copy_keep_the_value_and_the_type() -> None:
    claim = Claim(message(), "token-1", 99.0)
    pickled = pickle.loads(pickle.dumps(claim))  # noqa: S301  # our own bytes
    for again in (pickled, copy.copy(claim), copy.deepcopy(claim)):
        assert again == claim and type(again) is Claim and again.id == "7"


def test_a_pattern_matches_fields_by_position() -> None:
    match Claim(message(), "token-1", 99.0):
        case Claim(Message(id=found), token):
            assert (found, token) == ("7", "token-1")
        case _:
            pytest.fail("the claim did not match")


def test_as_json_turns_records_into_plain_values() -> None:
    claim = Claim(message(priority=Priority.HIGH), "token-1", 99.0)
    data = as_json(claim)
    assert data["id"] == "7" and data["token"] == claim.token
    assert data["message"]["priority"] == "high" and data["message"]["status"] == "pending"


def test_a_subclass_keeps_the_fields_and_may_add_its_own() -> None:
    class Tuned(HubSettings):
        label: str = "x"

    tuned = Tuned(backoff_base=2.0)
    assert Tuned.fields() == (*HubSettings.fields(), "label")
    assert (tuned.backoff_base, tuned.label, tuned.backoff(1)) == (2.0, "x", 4.0)


def test_only_annotated_names_are_fields_and_defaults_stay_with_their_field() -> None:
    class Counted(Record):
        seen: ClassVar[int] = 0
        name: str
        size: int = 1

    class Renamed(Counted):
        size = 5  # no annotation: not a new default, as with dataclasses

    renamed: Any = Renamed  # mypy reads `size = 5` as a new default; Python does not
    assert Counted.fields() == Renamed.fields() == ("name", "size")
    assert renamed("x").size == 1 and Renamed.size == 5


def test_declarations_dataclasses_refuses_are_refused() -> None:
    with pytest.raises(TypeError, match=r"Misordered\.b has no default but follows 'a'"):

        class Misordered(Record):
            a: int = 0
            b: int  # type: ignore[misc]  # mypy refuses it too

    with pytest.raises(TypeError, match="mutable default"):

        class Shared(Record):
            items: list[int] = []  # noqa: RUF012  # the mistake this test makes on purpose


def test_an_unchecked_record_is_the_same_value_as_a_constructed_one() -> None:
    made = message(correlation_id="c-1", payload="hashable")
    unchecked = Message._unchecked(dict(made.as_dict()))
    assert unchecked == made and hash(unchecked) == hash(made)
    assert repr(unchecked) == repr(made)
    assert pickle.loads(pickle.dumps(unchecked)) == made  # noqa: S301  # our own bytes
    assert unchecked.replace(status=Status.DEAD) == made.replace(status=Status.DEAD)
    with pytest.raises(AttributeError, match="frozen"):
        unchecked.status = Status.DEAD  # type: ignore[misc]


def test_a_record_that_checks_its_values_has_no_unchecked_form() -> None:
    values = HubSettings().as_dict()
    values["busy_timeout"] = -1.0  # HubSettings refuses this when constructed
    with pytest.raises(TypeError, match="HubSettings checks its values"):
        HubSettings._unchecked(values)
