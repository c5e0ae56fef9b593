"""The wheel third parties install, built once as ``python -m build`` builds it: an sdist
of this checkout's files, then the wheel from that sdist.  It must hold every file the
installed suite reads (``agentcomm_conformance.resources``), every file of the package
folders, and the metadata of a published tool; installed on its own, it must find its
files inside itself.

``--no-isolation`` builds with this environment's setuptools and build (the test extra),
so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from importlib import resources
from pathlib import Path

import pytest

import agentcomm
from agentcomm_conformance.resources import PACKAGE, PACKAGED, SCENARIOS, Resource

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("agentcomm", PACKAGE, SCENARIOS)
"""The packages whose folders ship whole; the scenarios' is the checkout's scenarios/."""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sdist and wheel, built from a copy of what a clean clone of this checkout holds."""
    base = tmp_path_factory.mktemp("dist")
    source = base / "source"
    for name in git_files(ROOT):
        if (ROOT / name).is_file():  # a file deleted but not yet staged is not there
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--no-isolation",
            "--outdir",
            str(base / "out"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return base / "out"


def git_files(where: Path) -> list[str]:
    """Tracked files, and new ones not ignored: what the next commit can hold."""
    git = shutil.which("git")
    assert git, "the packaging tests compare the wheel with the files git knows"
    listed = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=where,
        capture_output=True,
        check=True,
        timeout=60,
    )
    return sorted(set(listed.stdout.decode().split("\0")) - {""})


@pytest.fixture(scope="module")
def wheel(dist: Path) -> Path:
    [found] = dist.glob("*.whl")
    return found


@pytest.fixture(scope="module")
def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def in_wheel(resource: Resource) -> list[str]:
    """Where each file of ``resource`` lies in the wheel: its package's folder, by name."""
    root = folder(resource.package)
    prefix = resource.package.replace(".", "/")
    return [f"{prefix}/{path.relative_to(root).as_posix()}" for path in resource.files()]


@pytest.mark.parametrize("name", sorted(PACKAGED))
def test_the_wheel_holds_every_file_the_suite_reads(name: str, names: set[str]) -> None:
    expected = in_wheel(PACKAGED[name])
    assert expected  # a resource that lists nothing would make this test empty
    assert [path for path in expected if path not in names] == []


def folder(package: str) -> Path:
    """Where this environment imports ``package`` from: this checkout (editable install)."""
    return Path(str(resources.files(package)))


def package_files(package: str) -> Iterator[str]:
    """Every file git knows in a package's folder (sub-packages' folders included, unless
    they lie elsewhere), as the wheel names it."""
    prefix = package.replace(".", "/")
    for name in git_files(folder(package)):
        if (folder(package) / name).is_file():
            yield f"{prefix}/{name}"


def test_the_wheel_holds_every_file_of_the_package_folders(names: set[str]) -> None:
    expected = {name for package in PACKAGES for name in package_files(package)}
    assert "agentcomm/sqlite/schema.sql" in expected  # the reference hub reads it
    assert sorted(expected - names) == []
    top = {name.split("/")[0] for name in names}
    assert top == {
        "agentcomm",
        "agentcomm_conformance",
        f"agentcomm-{agentcomm.__version__}.dist-info",
    }


def dist_info(wheel: Path, name: str) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(f"agentcomm-{agentcomm.__version__}.dist-info/{name}").decode()


def test_the_wheel_metadata_is_a_published_tools(wheel: Path) -> None:
    meta = Parser().parsestr(dist_info(wheel, "METADATA"))
    assert meta["Version"] == agentcomm.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta["License-File"] == "LICENSE"
    assert "Permission is hereby granted" in dist_info(wheel, "licenses/LICENSE")
    assert meta["Requires-Python"] == ">=3.10"
    assert {"Framework :: Pytest", "Typing :: Typed"} <= set(meta.get_all("Classifier") or [])
    entry_points = dist_info(wheel, "entry_points.txt")
    assert "[pytest11]\nagentcomm_conformance.plugin = agentcomm_conformance.plugin" in (
        entry_points
    )
    assert "agentcomm = agentcomm.cli:main" in entry_points


def test_the_sdist_holds_the_license_and_the_top_level_scenarios_folder(dist: Path) -> None:
    [sdist] = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1] for m in archive.getmembers() if "/" in m.name}
    assert {
        "LICENSE",
        "pyproject.toml",
        "scenarios/__init__.py",
        "scenarios/schema.json",
        "conformance/agentcomm_conformance/protocol/SPEC.md",
    } <= members
    assert {f"scenarios/cases/{p.name}" for p in PACKAGED["scenario_cases"].files()} <= members


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process that imports agentcomm from the wheel alone (installed
    into a folder that PYTHONPATH puts before this checkout's editable install)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return {**os.environ, "PYTHONPATH": str(target)}


def agentcomm_cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentcomm.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_installed_wheel_finds_its_files_inside_itself(
    installed: dict[str, str], tmp_path: Path
) -> None:
    done = agentcomm_cli(installed, tmp_path, "conformance", "--docs")
    assert done.returncode == 0, done.stderr
    where = json.loads(done.stdout)
    assert where.keys() == PACKAGED.keys()
    site = Path(installed["PYTHONPATH"])
    assert [p for p in where.values() if not Path(p).is_relative_to(site)] == []
    assert all(Path(p).exists() for p in where.values())


def test_the_main_job_from_the_wheel_prints_verdicts_and_no_warnings(
    installed: dict[str, str], tmp_path: Path
) -> None:
    done = agentcomm_cli(installed, tmp_path, "conformance", "--", "-k", "claims")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "| CLAIM-002 | MUST | all | pass |" in done.stdout
    # pytest warns about an entry point's packages imported before it starts, as the
    # command imports agentcomm: nothing of that may reach the user.
    assert "warnings summary" not in done.stdout and "Warning" not in done.stderr
