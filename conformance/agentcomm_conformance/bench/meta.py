"""What a result was measured on: the machine, the versions, the server, the commit.

Figures from a shared machine only compare within one sitting, so the load average at
the start and at the end of a run is stored with them.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.metadata
import os
import platform
import shlex
import shutil
import sqlite3
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import agentcomm
from agentcomm.urls import redact

REDIS_KINDS = ("redis", "hybrid")


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": processor(),
        "load_average_start": load_average(),
    }


def processor() -> str:
    """The CPU's model name where Linux says it; else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (None where the system has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def now_utc() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def command_line(argv: list[str]) -> str:
    """The command as typed, any password in a URL replaced by ``***``."""
    return shlex.join(["agentcomm", *(redact(arg) if "://" in arg else arg for arg in argv[1:])])


def metadata(target: dict[str, Any], kind: str, locator: str) -> dict[str, Any]:
    """Everything but the figures; taken before the run, so the load is the start's."""
    return {
        "agentcomm": agentcomm.__version__,
        "target": target,
        "machine": machine(),
        "redis_server": redis_server(target["impl"], locator) if kind in REDIS_KINDS else None,
        "git": git_commit(),
        "timestamp": now_utc().isoformat(),
        "command": command_line(sys.argv),
    }


def redis_server(impl: str, locator: str) -> dict[str, Any] | None:
    """The server's version by ``INFO`` through the hub's URL; None when that cannot be done
    simply (no redis-py, a locator that is not a URL, a server that refuses INFO)."""
    if impl.startswith("fakeredis"):  # fakeredis answers no INFO; its version is the package's
        return {"implementation": "fakeredis", "version": importlib.metadata.version("fakeredis")}
    parts = urllib.parse.urlsplit(locator)
    if parts.scheme not in {"redis", "rediss", "hybrid"}:
        return None
    scheme = "rediss" if parts.scheme == "rediss" else "redis"
    try:
        return _ask_server(parts._replace(scheme=scheme, query="").geturl())
    except Exception:  # metadata is optional: the figures are what matter
        return None


def _ask_server(url: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        server, persistence = client.info("server"), client.info("persistence")
        return {
            "implementation": "redis",
            "version": server.get("redis_version"),
            "aof_enabled": persistence.get("aof_enabled"),
            "appendfsync": _config(client, "appendfsync"),
        }
    finally:
        client.close()


def _config(client: Any, name: str) -> str | None:
    """One server setting; None when the user may not read it (an ACL-confined agent)."""
    try:
        value = client.config_get(name).get(name)
    except Exception:  # refused: the rest of the metadata still stands
        return None
    return None if value is None else str(value)


def git_commit() -> dict[str, Any] | None:
    """The commit of the checkout agentcomm runs from, and whether it has local changes."""
    git = shutil.which("git")
    if git is None:
        return None
    where = Path(agentcomm.__file__).parent
    try:
        head = _git(git, where, "rev-parse", "HEAD")
        dirty = bool(_git(git, where, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):  # not a checkout (an installed package)
        return None
    return {"commit": head, "dirty": dirty}


def _git(git: str, where: Path, *args: str) -> str:
    done = subprocess.run(
        [git, "-C", str(where), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return done.stdout.strip()
