"""The ``bench`` marker, and the implementation measured, stored in pytest-benchmark's JSON."""

from __future__ import annotations

from typing import Any

import pytest

import agentcomm
from agentcomm.urls import redact
from agentcomm_conformance.plugin import LEDGER


def pytest_configure(config: pytest.Config) -> None:
    # Declared here too: outside this checkout no pyproject.toml declares it.
    config.addinivalue_line("markers", "bench: a benchmark, timed by pytest-benchmark")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-benchmark, which may be absent
def pytest_benchmark_update_json(
    config: pytest.Config, benchmarks: list[Any], output_json: dict[str, Any]
) -> None:
    ledger = config.stash.get(LEDGER, None)  # none without --impl
    implementation = ledger.implementation if ledger else None
    if implementation is not None:
        implementation = {**implementation, "impl": redact(str(implementation["impl"]))}
    output_json["agentcomm"] = {"version": agentcomm.__version__, "implementation": implementation}
