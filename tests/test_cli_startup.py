"""What one ``agentcomm`` command imports: only what it needs.

A bash loop pays the command's start-up on every call, and most of a call is imports.
These tests run real commands as their own processes and look at ``sys.modules`` when
the command is done: a SQLite command must not load a Redis client, the agent runtime,
the benchmarks, the conformance suite or a command-line library slower than argparse.
(The time itself is a benchmark, not a test.)
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agentcomm.cli.app import HOME, MODULES, command_names, find_command

DEADLINE = 30.0

RECORD = """
import json, runpy, sys
record, sys.argv = sys.argv[1], ["agentcomm", *sys.argv[2:]]
code = 0
try:
    runpy.run_module("agentcomm.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
with open(record, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""

NOT_FOR_SQLITE = ("redis", "fakeredis", "hiredis", "agentcomm.redis", "agentcomm.hybrid")
NOT_FOR_HUB_OPERATIONS = (
    "agentcomm.agent",
    "agentcomm.demo",
    "agentcomm.driver",
    "agentcomm_conformance",  # the suite, the benchmarks and their commands
    "pytest",
    "agentcomm.cli.runtime",
    "importlib.metadata",  # 10-20 ms: looked up only for the suite's commands and --help
    "click",  # the CLI is on argparse: a send on click executed 11% more instructions
    # the records are not dataclasses, and types are for checkers, because these cost a
    # send 34% of its instructions (BENCHMARKS.md, "A CLI call without dataclasses"):
    "dataclasses",
    "inspect",
    "typing",
    "threading",
    # none of these is needed, and each is a sign that a library crept in:
    "asyncio",
    "email",
    "http",
    "logging",
    "typing_extensions",
    "yaml",
    "jsonschema",
)


def loaded(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """(exit code, modules loaded) after running ``agentcomm ARGS`` in a new process."""
    record = tmp_path / "record.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTCOMM_")}
    subprocess.run(
        [sys.executable, "-c", RECORD, str(record), *args],
        env=env,
        capture_output=True,
        timeout=DEADLINE,
        check=False,
    )
    found = json.loads(record.read_text())
    return found["code"], set(found["modules"])


def offenders(modules: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in banned or any(m == b or m.startswith(b + ".") for b in banned)
    )


@pytest.mark.parametrize(
    "args",
    [
        ("send", "@b", "greet", '{"hello": "world"}'),
        ("claim", "--limit", "5"),
        ("publish", "tick", "1"),
        ("stats",),
        ("agents",),
        ("events",),
        ("dead-letters", "list"),
    ],
    ids=lambda args: args[0],
)
def test_a_sqlite_command_loads_no_redis_client_and_no_agent_runtime(
    live_url: str, tmp_path: Path, args: tuple[str, ...]
) -> None:
    code, modules = loaded(tmp_path, "--url", live_url, "--agent", "@a", *args)
    assert code in (0, 3)  # it ran: claim finds nothing (3)
    assert "agentcomm.sqlite.hub" in modules  # the check below looks at a real run
    assert offenders(modules, NOT_FOR_SQLITE + NOT_FOR_HUB_OPERATIONS) == []
    others = {f"agentcomm.cli.{m}" for m in MODULES if m != HOME[args[0]]}
    assert sorted(others & modules) == []  # only the module of the command that runs


def test_the_version_loads_no_hub_at_all(tmp_path: Path) -> None:
    code, modules = loaded(tmp_path, "--version")
    assert code == 0
    assert (
        offenders(
            modules,
            (
                "agentcomm.api",
                "agentcomm.sqlite",
                "agentcomm.models",
                *NOT_FOR_SQLITE,
                *NOT_FOR_HUB_OPERATIONS,
            ),
        )
        == []
    )


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_command_is_found_where_the_lazy_group_looks(module: str) -> None:
    commands = importlib.import_module(f"agentcomm.cli.{module}").COMMANDS
    assert sorted(c.name for c in commands) == sorted(MODULES[module])


def test_help_lists_every_command_of_every_module() -> None:
    listed = command_names()
    own = {name for names in MODULES.values() for name in names}
    assert listed == sorted({*own, "conformance", "bench"})  # those two by entry point
    assert all(find_command(name) is not None for name in listed)
