"""``agentcomm bench --ops``: the cost of each operation, by pytest-benchmark, on any target.

The benchmarks live in ``agentcomm_conformance.benchmarks`` (outside the suite, so a
conformance run never collects them) and open their hubs through the conformance
plugin's fixtures, so ``--impl`` reaches them as it reaches the suite.  pytest-benchmark
does not combine with xdist: the run is always in one process.
"""

from __future__ import annotations

import importlib
import shutil
import tempfile
from pathlib import Path

from agentcomm.errors import ConfigurationError
from agentcomm_conformance.bench.report import free_stem


def run_ops(spec: str, json_stem: str, out_dir: Path, pytest_args: tuple[str, ...]) -> int:
    """Run the benchmarks against ``spec``; pytest's exit code.  Writes pytest-benchmark's
    JSON to ``out_dir/<json_stem>.json``."""
    try:
        importlib.import_module("pytest_benchmark")
    except ImportError:
        raise ConfigurationError(
            "agentcomm bench --ops needs pytest-benchmark: pip install 'agentcomm[bench]'"
        ) from None
    import pytest

    out_dir.mkdir(parents=True, exist_ok=True)
    stored = free_stem(out_dir, json_stem)
    scratch = Path(tempfile.mkdtemp(prefix="agentcomm-bench-ops-"))
    try:
        return int(pytest.main(pytest_arguments(spec, stored, scratch, pytest_args)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def pytest_arguments(spec: str, stored: Path, scratch: Path, extra: tuple[str, ...]) -> list[str]:
    """The benchmarks' directory, not --pyargs, as `agentcomm conformance` does; addopts
    emptied so that the checkout's `-m 'not bench'` does not deselect what was asked for; a
    basetemp of our own, removed afterwards, since pytest keeps its usual one."""
    import agentcomm_conformance.benchmarks as benchmarks
    from agentcomm_conformance.cli.conformance import IN_PROCESS

    return [
        "-p",
        "agentcomm_conformance.plugin",
        str(Path(benchmarks.__file__).parent),
        "--impl",
        spec,
        "-p",
        "no:cacheprovider",
        "-p",
        "no:xdist",
        "-o",
        "addopts=",
        "-m",
        "bench",
        "-q",
        f"--basetemp={scratch / 'pytest'}",
        *IN_PROCESS,
        f"--benchmark-json={stored}.json",
        "--benchmark-columns=median,ops,rounds",
        *extra,
    ]
