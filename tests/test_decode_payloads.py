"""A batch's payloads are read back in one parse (``validation.decode_payloads``), as the
messages ``send_many`` returns carry them: each must come out as it would alone."""

from __future__ import annotations

import json

from agentcomm import validation as v

TEXTS = [
    '{"n":1,"text":"a, b], [c"}',
    "[1,[2,[3]],{}]",
    '"\\u00e9t\\u00e9 \\ud83d\\ude00 \\",\\""',
    "-0.5e-3",
    "null",
    "true",
    '{"":{"":[]}}',
]


def test_a_batch_of_payloads_reads_back_as_each_does_alone() -> None:
    assert v.decode_payloads(TEXTS) == [json.loads(t) for t in TEXTS]
    assert v.decode_payloads(TEXTS[:1]) == [json.loads(TEXTS[0])]


def test_a_payload_at_the_nesting_limit_is_read_back_within_a_batch() -> None:
    """The batch's array nests one level deeper than its deepest payload: a payload that
    can just be read alone must still be read when it comes with others."""

    def nested(depth: int) -> str:
        return "[" * depth + "]" * depth

    depth = 1
    while True:  # the deepest payload this stack can read alone
        try:
            v.decode_payloads([nested(depth + 1)])
        except RecursionError:
            break
        depth += 1
    deepest = nested(depth)
    assert v.decode_payloads([deepest, "1"]) == [json.loads(deepest), 1]
