"""Running bash scripts that use the shell library, as real processes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Hub, shell
from support import opening, spawn

DEADLINE = 30.0
BASH = shutil.which("bash") or "/bin/bash"
PRELUDE = 'set -euo pipefail\nsource "$(agentcomm shell-lib)"\n'


def script_env(url: str | None = None, **extra: str) -> dict[str, str]:
    """This environment with this checkout's ``agentcomm`` first on PATH, and no stray hub
    or identity (``url`` becomes AGENTCOMM_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGENTCOMM_", "AC_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if url is not None:
        env["AGENTCOMM_URL"] = url
    return {**env, **extra}


def run_script(body: str, env: dict[str, str], **options: Any) -> subprocess.CompletedProcess[str]:
    """``body`` after the prelude (strict mode, the library sourced), to completion."""
    return subprocess.run(
        [BASH, "-c", PRELUDE + body],
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        check=False,
        **options,
    )


def start_script(body: str, env: dict[str, str], **options: Any) -> subprocess.Popen[str]:
    """``body`` after the prelude, running beside the test; stdout a pipe of lines."""
    return spawn(
        [BASH, "-c", PRELUDE + body],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state == "Z"


def states(pids: list[int]) -> dict[int, str]:
    """What each process is doing, for a failure message."""
    found = {}
    for pid in pids:
        try:
            found[pid] = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            found[pid] = "gone"
    return found


def library_functions() -> dict[str, str]:
    """Each ``ac_NAME() { ac_call COMMAND "$@"; }`` of the library: {function: command}."""
    found = {}
    for line in shell.library().read_text().splitlines():
        name, sep, rest = line.partition("() { ac_call ")
        if sep and name.startswith("ac_"):
            found[name] = rest.split()[0]
    return found


# -- the session tests' hub and environment ------------------------------------------------
@pytest.fixture
def url(live_url: str) -> str:
    return live_url


@pytest.fixture
def env(url: str) -> dict[str, str]:
    return script_env(url)


@pytest.fixture
def hubs(url: str) -> Iterator[Callable[..., Hub]]:
    yield from opening(url)


def lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()
