"""The Redis hub opened with a wrong URL: a wrong password, no server, or a server older
than the hub needs, each refused naming the URL but never its password.
"""

from __future__ import annotations

import io
import socketserver
from collections.abc import Callable, Iterator

import pytest

from agentcomm import BackendUnavailable, ConfigurationError, connect
from agentcomm.urls import redact
from agentcomm_conformance.servers import RedisServer, free_port, redis_url
from redis_fault_support import PASSWORDS, PREFIX
from support import served


@pytest.mark.redis
def test_a_wrong_password_is_a_configuration_error_naming_the_url_but_no_password(
    start: Callable[..., RedisServer],
) -> None:
    server = start(password=PASSWORDS["server"])
    url = f"{server.url_for(password=PASSWORDS['wrong'])}?prefix={PREFIX}"
    with pytest.raises(ConfigurationError) as refused:
        connect(url, create=True)
    message = str(refused.value)
    assert redact(url) in message
    assert PASSWORDS["wrong"] not in message
    assert PASSWORDS["server"] not in message


def test_a_port_where_no_server_listens_is_backend_unavailable_naming_the_url() -> None:
    url = f"{redis_url(free_port())}?reconnect_attempts=1&connect_timeout=1"
    with pytest.raises(BackendUnavailable) as unreachable:
        connect(url, create=True)
    assert unreachable.value.definite is True
    assert redact(url) in str(unreachable.value)


class OldRedisHandler(socketserver.StreamRequestHandler):
    """Speaks just enough RESP to pass for Redis 5.0.14: INFO tells that version, anything
    else (AUTH, CLIENT SETINFO...) is answered OK."""

    def handle(self) -> None:
        while words := read_command(self.rfile):
            self.wfile.write(old_answer(words))


def read_command(rfile: io.BufferedIOBase) -> list[bytes]:
    """One command, an array of bulk strings; ``[]`` once the client hangs up."""
    header = rfile.readline()
    if not header.startswith(b"*"):
        return []
    words = []
    for _ in range(int(header[1:])):
        size = int(rfile.readline()[1:])
        words.append(rfile.read(size + 2)[:-2])
    return words


def old_answer(words: list[bytes]) -> bytes:
    if words[0].upper() != b"INFO":
        return b"+OK\r\n"
    text = b"# Server\r\nredis_version:5.0.14\r\nredis_mode:standalone\r\n"
    return b"$%d\r\n%s\r\n" % (len(text), text)


class OldRedisServer(socketserver.ThreadingTCPServer):
    daemon_threads = True


@pytest.fixture
def old_redis_port() -> Iterator[int]:
    """A fake Redis 5.0.14 on a free loopback port, served from a thread."""
    yield from served(OldRedisServer(("127.0.0.1", 0), OldRedisHandler))


def test_a_server_older_than_the_hub_needs_is_a_configuration_error_naming_the_version(
    old_redis_port: int,
) -> None:
    url = f"redis://:{PASSWORDS['old']}@127.0.0.1:{old_redis_port}/0?prefix={PREFIX}"
    with pytest.raises(ConfigurationError) as too_old:
        connect(url, create=True)
    message = str(too_old.value)
    assert redact(url) in message
    assert PASSWORDS["old"] not in message
    assert "5.0.14" in message
    assert "7.0 or later" in message
