"""The session's wire format (see ``agentcomm.shell``): requests in, responses out."""

from __future__ import annotations

import dataclasses
import os
import re

MAGIC = b"ac1"
MAX_ARGUMENTS = 4096
MAX_REQUEST = 256 * 1024 * 1024
"""Bytes one request may take: far above any payload limit, short of exhausting memory."""
STDIN_FLAGS = {b"-": "none", b"t": "terminal", b"d": "data"}
CALL_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")


class FrameError(ValueError):
    """What came in is not a session request: the stream cannot be trusted after it."""


@dataclasses.dataclass(frozen=True)
class Request:
    call: str
    argv: list[str]
    stdin: bytes | None  # forwarded stdin (an argument was '-'), else None
    terminal: bool  # the caller's stdin is a terminal


class FrameReader:
    """Splits the bytes read from ``requests`` into requests, however they arrive."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._fields: list[bytes] = []

    def feed(self, data: bytes) -> list[Request]:
        self._buffer += data
        if len(self._buffer) + sum(map(len, self._fields)) > MAX_REQUEST:
            raise FrameError(f"a request is over {MAX_REQUEST} bytes")
        found, start = [], 0
        while (end := self._buffer.find(0, start)) >= 0:
            self._fields.append(bytes(self._buffer[start:end]))
            start = end + 1
            request = self._complete()
            if request is not None:
                found.append(request)
        del self._buffer[:start]
        if (
            not self._fields
            and len(self._buffer) > len(MAGIC)
            and not self._buffer.startswith(MAGIC + b"\0")
        ):
            raise FrameError(f"not an agentcomm session request: {bytes(self._buffer[:40])!r}")
        return found

    def _complete(self) -> Request | None:
        fields = self._fields
        if len(fields) < 4:
            if fields[0] != MAGIC:
                raise FrameError(f"not an agentcomm session request: {bytes(fields[0][:40])!r}")
            return None
        call, count, flag = _header(fields)
        needed = 4 + count + (flag == b"d") + 1
        if len(fields) < needed:
            return None
        if fields[needed - 1] != fields[1]:
            raise FrameError(f"request {call!r} does not end with its id: cut short?")
        argv = [os.fsdecode(arg) for arg in fields[4 : 4 + count]]
        stdin = fields[4 + count] if flag == b"d" else None
        self._fields = []
        return Request(call, argv, stdin, flag == b"t")


def _header(fields: list[bytes]) -> tuple[str, int, bytes]:
    magic, call, count, flag = fields[:4]
    if magic != MAGIC:
        raise FrameError(f"not an agentcomm session request: {magic[:40]!r}")
    if not CALL_ID.fullmatch(call):
        raise FrameError(f"call id {call[:40]!r} is not [A-Za-z0-9._-]{{1,64}}")
    if not count.isdigit() or int(count) > MAX_ARGUMENTS:
        raise FrameError(f"argument count {count[:40]!r} is not a number up to {MAX_ARGUMENTS}")
    if flag not in STDIN_FLAGS:
        raise FrameError(f"stdin flag {flag[:40]!r} is not one of - t d")
    return call.decode(), int(count), flag


def response(call: str, code: int, out: bytes, err: bytes) -> bytes:
    return b"%s %d %d %d\n%s%s" % (call.encode(), code, len(out), len(err), out, err)


SIGN_OF_LIFE = b"\n"
READY = b"ready\n"
