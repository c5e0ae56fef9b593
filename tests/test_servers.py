"""The private Redis servers of ``agentcomm_conformance.servers``, with real processes.

Each test starts its own ``redis-server`` in its temporary directory, on a free port, and
talks to it with redis-py, as the Redis hub's tests will.  Without a binary they skip,
except under CI (``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.exceptions import (
    AuthenticationError,
    ConnectionError,
    NoPermissionError,
    TimeoutError,
)
from redis.retry import Retry

from agentcomm_conformance import servers
from agentcomm_conformance.servers import FakeRedisServer, RedisServer

ADMIN_WORD = "s3cret: with/odd@chars"  # the default user's password, URL-unfriendly on purpose
ADMIN_WORD_FOR_ACL = "s3cret@admin"  # an ACL file splits at spaces: none in this one
ALICE = "user alice on >alice-pw ~agent:@alice:* +@all"  # may touch only her own keys


@pytest.fixture
def redis_binary() -> str:
    return servers.require_redis_server()


@pytest.fixture
def openssl() -> str:
    return servers.require_openssl()


def client(url: str, **options: Any) -> redis.Redis:
    """A redis-py client that reports a failure at once instead of retrying with backoff."""
    return redis.Redis.from_url(
        url, **{"retry": Retry(NoBackoff(), 0), "socket_timeout": 5, **options}
    )


def test_a_write_survives_kill_9_and_restart(start: Callable[..., RedisServer]) -> None:
    server = start()
    with client(server.url) as before:
        before.set("agent:@alice:inbox", "hello")
    pid = server.pid
    server.kill()
    server.restart()
    assert server.pid != pid
    with client(server.url) as after:
        assert after.get("agent:@alice:inbox") == b"hello"


def test_the_append_only_files_hold_the_write_before_any_restart(
    start: Callable[..., RedisServer],
) -> None:
    server = start()
    with client(server.url) as connection:
        connection.set("durable-key", "value")
    contents = b"".join(path.read_bytes() for path in server.append_only_files())
    assert b"durable-key" in contents


def test_a_password_server_refuses_strangers_and_accepts_the_password(
    start: Callable[..., RedisServer],
) -> None:
    server = start(password=ADMIN_WORD)
    with client(server.url_for()) as stranger, pytest.raises(AuthenticationError):
        stranger.ping()
    with (
        client(server.url_for(password=ADMIN_WORD[::-1])) as guesser,
        pytest.raises(AuthenticationError),
    ):
        guesser.ping()
    with client(server.url) as owner:
        assert owner.ping()


def test_an_acl_line_confines_a_user_to_its_own_keys(start: Callable[..., RedisServer]) -> None:
    server = start(acl_lines=[ALICE])
    with client(server.url_for("alice", "alice-pw")) as alice:
        alice.set("agent:@alice:inbox", "mine")
        with pytest.raises(NoPermissionError):
            alice.set("agent:@bob:inbox", "not mine")


def test_with_an_acl_file_the_password_still_guards_the_default_user(
    start: Callable[..., RedisServer],
) -> None:
    """Redis ignores requirepass once an ACL file is loaded; the server carries it over."""
    server = start(password=ADMIN_WORD_FOR_ACL, acl_lines=[ALICE])
    with client(server.url_for()) as stranger, pytest.raises(AuthenticationError):
        stranger.ping()
    with client(server.url) as admin:
        admin.set("agent:@bob:inbox", "any key")


@pytest.mark.usefixtures("openssl")
def test_a_tls_server_speaks_only_tls(start: Callable[..., RedisServer]) -> None:
    server = start(tls=True)
    assert server.url.startswith("rediss://127.0.0.1:")
    with client(server.url, ssl_ca_certs=str(server.ca_file)) as secure:
        assert secure.ping()
    plain = redis.Redis(
        host="127.0.0.1", port=server.port, retry=Retry(NoBackoff(), 0), socket_timeout=5
    )
    with plain, pytest.raises(ConnectionError):
        plain.ping()


def test_a_paused_server_times_out_and_answers_again_once_resumed(
    start: Callable[..., RedisServer],
) -> None:
    server = start()
    with client(server.url, socket_timeout=0.5) as connection:
        assert connection.ping()
        server.pause()
        with pytest.raises(TimeoutError):
            connection.ping()
        server.resume()
        assert connection.ping()


def test_stop_ends_a_paused_server(start: Callable[..., RedisServer]) -> None:
    server = start()
    server.pause()
    server.stop()
    assert not server.running
    assert not port_accepts(server.port)


def test_a_server_that_cannot_start_says_why(redis_binary: str, tmp_path: Path) -> None:
    server = RedisServer(
        directory=tmp_path,
        binary=redis_binary,
        acl_lines=["user alice on >alice-pw +no-such-command-category"],
    )
    with pytest.raises(RuntimeError, match="exited with status") as failure:
        server.start()
    assert "redis.log" in str(failure.value)
    assert not server.running


def test_a_port_another_server_holds_is_an_error_not_a_false_start(
    start: Callable[..., RedisServer], redis_binary: str, tmp_path: Path
) -> None:
    """The readiness probe checks the answering process is this one, not the neighbour."""
    first = start()
    second = RedisServer(directory=tmp_path / "second", port=first.port, binary=redis_binary)
    with pytest.raises(RuntimeError, match="Address already in use"):
        second.start()


def test_a_chosen_port_taken_meanwhile_is_replaced_by_another(
    redis_binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as squatter:
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = servers.free_port
        monkeypatch.setattr(
            servers.programs, "free_port", lambda: next(ports, None) or real_free_port()
        )
        with RedisServer(directory=tmp_path, binary=redis_binary) as server:
            assert server.port != taken
            with client(server.url) as connection:
                assert connection.ping()


def test_a_fake_server_is_shared_with_other_processes() -> None:
    pytest.importorskip("fakeredis")
    with FakeRedisServer(require_lua=False) as fake:
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import redis, sys; redis.Redis.from_url(sys.argv[1]).set('from', 'child')",
                fake.url,
            ],
            check=True,
            timeout=60,
        )
        with client(fake.url) as connection:
            assert connection.get("from") == b"child"
        port = fake.port
    assert not port_accepts(port)


def test_the_fake_server_runs_lua_when_lupa_is_installed() -> None:
    pytest.importorskip("fakeredis")
    pytest.importorskip("lupa", reason="fakeredis runs Lua only with fakeredis[lua]")
    with FakeRedisServer() as fake, client(fake.url) as connection:
        assert connection.eval("return redis.call('INCR', KEYS[1])", 1, "counter") == 1


def test_a_missing_binary_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers.programs, "redis_server_binary", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        servers.require_redis_server()


def test_a_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers.programs, "redis_server_binary", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must provide it"):
        servers.require_redis_server()


def test_free_port_gives_a_bindable_loopback_port() -> None:
    port = servers.free_port()
    assert port != 6379
    with socket.create_server(("127.0.0.1", port)):
        pass


def test_urls_percent_encode_credentials() -> None:
    assert servers.redis_url(7000) == "redis://127.0.0.1:7000/0"
    assert (
        servers.redis_url(7000, tls=True, password=ADMIN_WORD)
        == "rediss://:s3cret%3A%20with%2Fodd%40chars@127.0.0.1:7000/0"
    )
    assert servers.redis_url(7000, username="alice", password=ADMIN_WORD).startswith(
        "redis://alice:s3cret%3A"
    )


def port_accepts(port: int) -> bool:
    """Whether something accepts connections on the loopback port right now."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except ConnectionRefusedError:
        return False
