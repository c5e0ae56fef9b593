"""Bad input the Python API alone can pass: values of Python types that JSON has no form
for.  The grammar and limits every hub shares (SPEC LIMIT) are checked by the conformance
suite (conformance/agentcomm_conformance/suite/test_limits.py)."""

from __future__ import annotations

import pytest

from agentcomm import Hub, InvalidInput
from support import HubFactory


def test_a_bytes_agent_id_raises_invalid_input_naming_it(hubs: HubFactory) -> None:
    with pytest.raises(InvalidInput, match="agent id") as caught:
        hubs(b"@a")
    assert "b'@a'" in str(caught.value)


def test_purge_dead_refuses_a_bare_string_of_ids(hub: Hub) -> None:
    for _ in range(2):
        hub.send("@tester", "w", {})
        claim = hub.claim()
        assert claim is not None
        hub.fail(claim.id, claim.token, "x", retry=False)
    with pytest.raises(InvalidInput):
        hub.purge_dead("12")
    assert len(hub.dead_letters()) == 2


def test_register_refuses_a_bare_string_of_capabilities(hub: Hub) -> None:
    with pytest.raises(InvalidInput, match="capabilities"):
        hub.register(capabilities="validate_token")
    assert hub.agents() == []


MIB = 1024 * 1024


def test_a_payload_over_the_limit_is_refused_with_its_exact_size(hub: Hub) -> None:
    exact = r"payload is 1048577 bytes \(1\.00 MiB\), limit 1048576 bytes"
    with pytest.raises(InvalidInput, match=exact):
        hub.send("@bob", "data", "x" * (MIB - 1))  # with its quotes, one byte over


@pytest.mark.parametrize("payload", [{1, 2}, object(), b"bytes"], ids=["set", "object", "bytes"])
def test_python_values_without_a_json_form_are_refused(hub: Hub, payload: object) -> None:
    with pytest.raises(InvalidInput, match="payload"):
        hub.send("@bob", "data", payload)


def test_a_payload_nested_too_deeply_to_serialise_is_refused(hub: Hub) -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        hub.send("@bob", "data", deep)
