"""The readiness probe: does this very ``redis-server`` answer, its data loaded?

Apart from ``RedisServer`` because it speaks the Redis protocol on a bare socket (the
package must not need redis-py), which is a concern of its own: a few bytes out, the
replies read until the server hangs up, and what they say about the process.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

from agentcomm_conformance.servers.programs import LOOPBACK

__all__ = ["answers"]


def answers(port: int, pid: int, *, password: str | None, ca_file: Path | None) -> bool:
    """Whether server ``pid`` (not another server on the port) answers on ``port``, loaded.

    ``INFO server`` names the process and, unlike PING, answers while the data is
    still loading; the trailing QUIT makes the server hang up once it has replied.
    """
    commands = [_resp("INFO", "server"), _resp("INFO", "persistence"), _resp("QUIT")]
    if password is not None:
        commands.insert(0, _resp("AUTH", password))
    try:
        with _connection(port, ca_file) as connection:
            connection.sendall(b"".join(commands))
            reply = _read_until_closed(connection)
    except OSError:  # refused, reset, or TLS not up yet
        return False
    return _is_ready(reply, pid)


@contextlib.contextmanager
def _connection(port: int, ca_file: Path | None) -> Iterator[socket.socket]:
    raw = socket.create_connection((LOOPBACK, port), timeout=0.5)
    try:
        if ca_file is None:
            yield raw
        else:
            context = ssl.create_default_context(cafile=str(ca_file))
            with context.wrap_socket(raw, server_hostname=LOOPBACK) as wrapped:
                yield wrapped
    finally:
        raw.close()


def _resp(*words: str) -> bytes:
    """One command in the Redis protocol, safe for any byte in the arguments."""
    encoded = [word.encode() for word in words]
    parts = [b"*%d\r\n" % len(encoded)]
    parts += [b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded]
    return b"".join(parts)


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it hangs up (the socket's timeout bounds each read)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _is_ready(reply: bytes, pid: int) -> bool:
    """Whether a probe's replies show server ``pid`` with its data loaded.

    A user the probe cannot authenticate as (an ACL file that disables the default user)
    gets NOAUTH or NOPERM for INFO: the server answers, which is all that can be known.
    """
    if b"process_id:%d\r\n" % pid in reply:
        return b"\r\nloading:0\r\n" in reply  # not Redis 7's "async_loading:0"
    return reply.startswith((b"-NOAUTH", b"-NOPERM", b"-WRONGPASS"))
