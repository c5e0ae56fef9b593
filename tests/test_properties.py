"""Properties over generated inputs (Hypothesis): payloads and claim order.

One hub serves every example of a test; each example works in a queue of its own, so
examples cannot see each other (hence the function-scoped fixture is safe to share).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentcomm import Hub, Outgoing, Priority

SHARED_HUB = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
queues = (f"q{i}" for i in itertools.count())

# Any text Python can encode as UTF-8: NUL, quotes, '|', newlines, astral planes.
texts = st.text(st.characters(exclude_categories=["Cs"]))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


@SHARED_HUB
@given(payload=json_values)
def test_any_json_payload_comes_back_exactly_as_sent(hub: Hub, payload: Any) -> None:
    queue = next(queues)
    sent = hub.send(queue, "data", payload)
    claim = hub.claim(queue)
    assert claim is not None
    for seen in (sent.payload, hub.get(sent.id).payload, claim.message.payload):
        # Compared as JSON text too, so -0.0 and 0.0 (equal as numbers) stay apart.
        assert seen == payload
        assert json.dumps(seen, sort_keys=True) == json.dumps(payload, sort_keys=True)


@SHARED_HUB
@given(
    levels=st.lists(st.sampled_from(list(Priority)), min_size=1, max_size=30),
    batch=st.integers(min_value=1, max_value=8),
)
def test_claims_come_highest_priority_first_then_in_send_order(
    hub: Hub, levels: list[Priority], batch: int
) -> None:
    queue = next(queues)
    sent = hub.send_many([Outgoing(queue, "task", i, level) for i, level in enumerate(levels)])
    expected = [m.id for m in sorted(sent, key=lambda m: (-m.priority, int(m.payload)))]
    claimed: list[str] = []
    while claims := hub.claim_many(queue, limit=batch):
        claimed.extend(c.id for c in claims)
    assert claimed == expected
