"""The conformance plugin as a ``pytest11`` entry point: pytest loads it in any project of
an environment that has agentcomm, once, and it stays out of runs that name no
implementation.  Each run is a real pytest process in a project of its own under tmp_path.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

PLUGIN = "agentcomm_conformance.plugin"

UNRELATED_TESTS = """\
import pytest

def test_plain():
    assert 1 + 1 == 2

@pytest.mark.spec("not-a-statement")  # a marker of their own that shares our name
def test_with_their_own_spec_marker():
    pass

def test_their_own_hub_fixture_wins(hub):
    assert hub == "theirs"
"""
UNRELATED_CONFTEST = """\
import pytest

def pytest_configure(config):
    config.addinivalue_line("markers", "spec(name): the requirement a test covers")

@pytest.fixture
def hub():
    return "theirs"
"""
COUNT_REGISTRATIONS = """\
import agentcomm_conformance.plugin as plugin

def test_the_plugin_is_registered_once_under_its_module_name(request):
    names = [n for n, p in request.config.pluginmanager.list_name_plugin() if p is plugin]
    assert names == ["agentcomm_conformance.plugin"]
"""


def pytest_in(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AGENTCOMM_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        env={**clean, **env},
        check=False,
    )


def project(root: Path, **files: str) -> Path:
    root.mkdir()
    for name, text in files.items():
        (root / f"{name}.py").write_text(text, encoding="utf-8")
    return root


def listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


def test_the_distribution_declares_the_plugin_under_its_module_name() -> None:
    found = metadata.distribution("agentcomm").entry_points.select(group="pytest11")
    assert [(e.name, e.value) for e in found] == [(PLUGIN, PLUGIN)]


def test_an_unrelated_project_runs_as_if_the_plugin_were_absent(tmp_path: Path) -> None:
    root = project(tmp_path / "theirs", test_theirs=UNRELATED_TESTS, conftest=UNRELATED_CONFTEST)
    assert "--impl" in pytest_in(root, "--help").stdout  # loaded without being asked
    assert "--impl" not in pytest_in(root, "--help", "-p", f"no:{PLUGIN}").stdout
    without = pytest_in(root, "-q", "-rA", "-p", f"no:{PLUGIN}")  # -q: no header of plugins
    written_without = listing(root)  # other plugins may write (pytest-benchmark does)
    with_plugin = pytest_in(root, "-q", "-rA")
    assert with_plugin.returncode == 0, with_plugin.stdout + with_plugin.stderr
    assert "3 passed" in with_plugin.stdout
    assert _timeless(with_plugin.stdout) == _timeless(without.stdout)
    assert with_plugin.stderr == without.stderr == ""
    assert listing(root) == written_without  # no report, nothing else written


def _timeless(output: str) -> str:
    return re.sub(r"in \d+\.\d+s", "in Ns", output)


@pytest.mark.parametrize("way", ["entry point", "conftest", "-p", "autoload off"])
def test_the_plugin_is_registered_once_however_it_is_named(way: str, tmp_path: Path) -> None:
    files = {"test_count": COUNT_REGISTRATIONS}
    if way in {"conftest", "-p", "autoload off"}:  # as this checkout's conftest.py does
        files["conftest"] = f"pytest_plugins = [{PLUGIN!r}]\n"
    root = project(tmp_path / "counting", **files)
    args = ["-p", PLUGIN] if way == "-p" else []
    env = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"} if way == "autoload off" else {}
    done = pytest_in(root, *args, **env)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
def test_the_installed_suite_runs_with_pyargs_and_no_p_option(tmp_path: Path) -> None:
    root = project(tmp_path / "anywhere")
    done = pytest_in(
        root,
        "--impl",
        "sqlite:",
        "--conformance-report",
        "report",
        "--pyargs",
        "agentcomm_conformance.suite.test_priorities",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"conformance: \d+ pass, 0 fail", done.stdout), done.stdout
    assert (root / "report" / "report.json").is_file()
