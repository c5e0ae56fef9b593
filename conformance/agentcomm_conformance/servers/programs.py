"""What a private server needs from this machine: its programs, a free port, a URL.

Apart from the servers because every kind uses them, and because a test swaps them out
(``free_port``, ``redis_server_binary``) here, where the servers look them up.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.parse
from pathlib import Path

LOOPBACK = "127.0.0.1"
FALLBACK_BINARY_DIRS = ("/usr/bin", "/usr/sbin")  # Debian's package, when PATH lacks sbin


def redis_server_binary() -> str | None:
    """The ``redis-server`` to run, or None when this machine has none."""
    return _find_program("redis-server")


def openssl_binary() -> str | None:
    """The ``openssl`` command line tool that makes a TLS server's certificates, or None."""
    return _find_program("openssl")


def _find_program(name: str) -> str | None:
    """``shutil.which``, also looking where Debian installs daemons, which PATH may omit."""
    found = shutil.which(name)
    if found is not None:
        return found
    for directory in FALLBACK_BINARY_DIRS:
        candidate = Path(directory, name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_redis_server() -> str:
    """The ``redis-server`` path for a test that needs one, else skip the test.

    Under CI (``CI=true``) a missing server fails the test instead: CI installs one, so
    its absence there is a broken setup, which a skip would hide.
    """
    return _require_program("redis-server", redis_server_binary())


def require_openssl() -> str:
    """The ``openssl`` path for a TLS test; the policy of ``require_redis_server``."""
    return _require_program("openssl", openssl_binary())


def _require_program(name: str, found: str | None) -> str:
    if found is not None:
        return found
    import pytest  # only here: the module itself must not depend on pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed, and CI=true: CI must provide it", pytrace=False)
    pytest.skip(f"{name} is not installed (Debian: apt-get install {name})")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago.

    The port is released before the caller binds it, so another process may take it in
    between; ``RedisServer`` retries with a new port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def redis_url(
    port: int,
    *,
    tls: bool = False,
    username: str | None = None,
    password: str | None = None,
    db: int = 0,
) -> str:
    """A redis-py URL for a loopback server; credentials are percent-encoded."""
    scheme = "rediss" if tls else "redis"
    credentials = ""
    if username is not None or password is not None:
        user = urllib.parse.quote(username or "", safe="")
        secret = urllib.parse.quote(password or "", safe="")
        credentials = f"{user}:{secret}@" if password is not None else f"{user}@"
    return f"{scheme}://{credentials}{LOOPBACK}:{port}/{db}"


__all__ = [
    "LOOPBACK",
    "free_port",
    "openssl_binary",
    "redis_server_binary",
    "redis_url",
    "require_openssl",
    "require_redis_server",
]
