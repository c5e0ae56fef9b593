"""The session's framing (``agentcomm.shell.protocol``): requests however they arrive,
and anything else refused before it can run."""

from __future__ import annotations

import pytest

from agentcomm.shell.protocol import FrameError, FrameReader, Request, response


def frame(call: str, *args: str, stdin: bytes | None = None, flag: str | None = None) -> bytes:
    mark = flag or ("d" if stdin is not None else "-")
    fields = [
        b"ac1",
        call.encode(),
        str(len(args)).encode(),
        mark.encode(),
        *(a.encode() for a in args),
        *([stdin] if stdin is not None else []),
        call.encode(),
    ]
    return b"".join(f + b"\0" for f in fields)


def test_requests_split_anywhere_come_out_whole_and_in_order() -> None:
    data = frame("1.1", "send", "@b", "t", "-", stdin=b'{"a": "\n"}') + frame("1.2", "stats")
    reader = FrameReader()
    found = [r for byte in range(len(data)) for r in reader.feed(data[byte : byte + 1])]
    assert found == [
        Request("1.1", ["send", "@b", "t", "-"], b'{"a": "\n"}', False),
        Request("1.2", ["stats"], None, False),
    ]


def test_empty_arguments_and_a_terminal_are_kept() -> None:
    [request] = FrameReader().feed(frame("x", "", "send", flag="t"))
    assert (request.argv, request.stdin, request.terminal) == (["", "send"], None, True)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", "not an agentcomm session request"),
        (b"ac2\0", "not an agentcomm session request"),
        (b"ac1\0bad id\0" + b"0\0-\0", "call id"),
        (b"ac1\0x\0many\0-\0", "argument count"),
        (b"ac1\0x\0999999\0-\0", "argument count"),
        (b"ac1\0x\0" + b"0\0?\0", "stdin flag"),
        (frame("x", "stats")[:-2] + b"y\0", "does not end with its id"),
    ],
)
def test_what_is_not_a_request_is_refused_before_anything_runs(data: bytes, named: str) -> None:
    with pytest.raises(FrameError, match=named):
        FrameReader().feed(data)


def test_a_response_gives_the_lengths_in_bytes() -> None:
    assert response("7", 3, "é\n".encode(), b"") == b"7 3 3 0\n\xc3\xa9\n"
