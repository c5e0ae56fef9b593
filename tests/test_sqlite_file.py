"""The SQLite hub file, beyond what the conformance suite checks through any hub's locator
(conformance/agentcomm_conformance/suite/test_compat_sqlite.py): creation on request, the
WAL's privacy, how corruption, a full disk and missing rights are reported, and the
design's out-of-scale priority.

The SQL below is copied from the design document (``/work/shared/seed``), unchanged.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcomm import (
    DEFAULT_QUEUE,
    BackendUnavailable,
    ConfigurationError,
    CorruptStore,
    ManualClock,
    NotFound,
    Priority,
    Status,
    connect,
)
from cli_runner import invoke

DESIGN_TASK = """
INSERT INTO agent_messages (from_agent, to_agent, message_type, payload, priority)
VALUES ('@coordinator.backend', 'ANY_AVAILABLE', 'process_batch',
        '{"batch_id": "batch_001", "items": 1000}', 5);
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """The file of ``sqlite_url``."""
    return tmp_path / "hub.db"


def test_the_wal_and_shared_memory_files_are_private_to_their_user_too(
    sqlite_url: str, tmp_path: Path
) -> None:
    old = os.umask(0)
    try:
        with connect(sqlite_url, agent="@a", create=True) as hub:
            hub.send("@b", "w", {})
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert {"hub.db-wal", "hub.db-shm"} <= set(modes)
    assert set(modes.values()) == {0o600}


def test_a_corrupt_file_raises_corrupt_store_even_when_creation_is_asked(
    sqlite_url: str, path: Path, tmp_path: Path
) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    path.write_bytes(garbage)
    with pytest.raises(CorruptStore, match=str(path)) as caught:
        connect(sqlite_url, create=True)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == garbage
    assert [p.name for p in tmp_path.iterdir()] == ["hub.db"]


def test_an_empty_file_becomes_a_hub_when_creation_is_asked(sqlite_url: str, path: Path) -> None:
    path.touch()
    with connect(sqlite_url, agent="@a", create=True) as hub:
        assert hub.send("@b", "w", {}).status is Status.PENDING


def test_a_directory_path_raises_configuration_error_even_when_creation_is_asked(
    sqlite_url: str, path: Path
) -> None:
    path.mkdir()
    with pytest.raises(ConfigurationError, match="directory"):
        connect(sqlite_url, create=True)


def test_creating_in_a_missing_directory_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        connect(f"sqlite:///{tmp_path / 'nope' / 'hub.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


def test_a_design_priority_5_task_is_read_as_high_and_served_first(
    sqlite_url: str, path: Path
) -> None:
    with connect(sqlite_url, agent="@coordinator", create=True, clock=ManualClock()) as hub:
        older = hub.send(DEFAULT_QUEUE, "process_batch", {"batch_id": "batch_000"})
        design = sqlite3.connect(path, isolation_level=None)
        design.execute(DESIGN_TASK)
        design.close()
        first, second = hub.claim_many(DEFAULT_QUEUE, limit=2)
        assert (first.message.priority, first.message.payload["batch_id"]) == (
            Priority.HIGH,
            "batch_001",
        )
        assert second.id == older.id


# -- a full disk ----------------------------------------------------------------------------

FILL_UP = """
import json, os, resource, signal, sys
from agentcomm import BackendUnavailable, connect

hub = connect(sys.argv[1], agent="@a")
size = max(os.path.getsize(p) for p in (sys.argv[2], sys.argv[2] + "-wal"))
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 4096, size + 4096))
try:
    hub.send("@a", "big", "x" * 300_000)  # its WAL frames are written at COMMIT
    print(json.dumps("sent"))
except BackendUnavailable as exc:
    print(json.dumps({"definite": exc.definite, "message": str(exc)}))
"""
"""Sends a message whose commit cannot be written: a file may not grow past its size."""


def test_a_commit_whose_wal_write_failed_is_definite_and_left_nothing(
    sqlite_url: str, path: Path
) -> None:
    with connect(sqlite_url, agent="@a", create=True) as hub:
        before = hub.send("@a", "before", {})
    run = subprocess.run(
        [sys.executable, "-c", FILL_UP, sqlite_url, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    failed = json.loads(run.stdout)
    assert failed["definite"] is True, failed
    assert "committing" in failed["message"] and str(path) in failed["message"]
    with connect(sqlite_url, agent="@a") as hub:
        assert [c.id for c in hub.claim_many(limit=5)] == [before.id]  # the big one is absent
        assert hub.send("@a", "after", {}).status is Status.PENDING


@pytest.fixture
def small_disk(shared_dir: Path) -> Iterator[Path]:
    """A 400 KiB file system (tmpfs), as root can mount one; skipped for anyone else."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    if mount is None or umount is None:
        pytest.skip("mount and umount are not installed")
    where = shared_dir / "small"
    where.mkdir()
    made = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"mounting a small tmpfs needs root: {made.stderr.strip()}")
    yield where
    subprocess.run([umount, str(where)], check=True)


def test_sends_that_hit_a_full_disk_are_definite_and_absent_afterwards(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'hub.db'}"
    acknowledged, refused = [], []
    with connect(url, agent="@a", create=True) as hub:
        for n in range(40):  # 40 x 30 KB outgrows 400 KiB
            try:
                acknowledged.append(hub.send("@a", "fill", {"n": n, "pad": "x" * 30_000}).id)
            except BackendUnavailable as exc:
                refused.append(exc)
        assert refused, "the disk never filled up"
        assert all(exc.definite for exc in refused), [str(e) for e in refused]
        assert any("disk is full" in str(exc) for exc in refused)
        reader = sqlite3.connect(small_disk / "hub.db")
        stored = reader.execute("SELECT id FROM agent_messages ORDER BY id").fetchall()
        reader.close()
        assert [str(row[0]) for row in stored] == acknowledged


# -- missing rights and wrong paths -------------------------------------------------------

NOBODY = 65534


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are private to their user)."""
    found = Path(tempfile.mkdtemp(prefix="agentcomm-rights-"))
    found.chmod(0o755)
    yield found
    shutil.rmtree(found, ignore_errors=True)


@contextlib.contextmanager
def without_write_rights(*paths: Path) -> Iterator[None]:
    """Run the block as a user who may read ``paths`` but not write them: as root, the
    block runs as 'nobody' (root's 0644 files and 0755 directories are then read-only);
    as anyone else the paths lose their write bits meanwhile."""
    if os.geteuid() == 0:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
        try:
            yield
        finally:
            os.seteuid(0)
            os.setegid(0)
        return
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
    for p, mode in modes.items():
        p.chmod(mode & ~0o222)
    try:
        yield
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def make_hub(path: Path) -> str:
    """A hub at ``path`` as the design's sqlite3 would leave it: mode 0644, no -wal, -shm."""
    url = f"sqlite:///{path}"
    connect(url, create=True).close()  # closing the last handle removes -wal and -shm
    path.chmod(0o644)
    return url


def run_cli(*args: str) -> tuple[int, str]:
    result = invoke(args)
    return result.exit_code, result.stderr


def test_init_by_a_user_who_may_not_write_the_hub_fails_naming_the_file_and_why(
    shared_dir: Path,
) -> None:
    hub_path = shared_dir / "hub.db"
    url = make_hub(hub_path)
    shared_dir.chmod(0o777)  # others may create -wal and -shm: only the file is not theirs
    run_cli("--url", f"sqlite:///{shared_dir / 'warm.db'}", "init")  # imports, as ourselves
    with without_write_rights(hub_path):
        code, error = run_cli("--url", url, "init")
    assert code == 7, error
    message = json.loads(error)["message"]
    assert str(hub_path) in message and "not writable by this user" in message


def test_a_hub_in_a_directory_the_user_may_not_write_fails_naming_the_directory(
    shared_dir: Path,
) -> None:
    folder = shared_dir / "readonly"
    folder.mkdir()
    url = make_hub(folder / "hub.db")
    (folder / "hub.db").chmod(0o666)  # the file is writable; its directory is not
    with without_write_rights(folder), pytest.raises(BackendUnavailable) as refused:
        connect(url, agent="@a").send("@a", "w", {})
    assert refused.value.definite is True
    assert f"directory {str(folder)!r} is not writable" in str(refused.value)


def test_a_dangling_symlink_is_named_with_where_it_points(tmp_path: Path) -> None:
    link, target = tmp_path / "hub.db", tmp_path / "gone" / "hub.db"
    link.symlink_to(target)
    with pytest.raises(ConfigurationError) as creating:
        connect(f"sqlite:///{link}", create=True)
    with pytest.raises(NotFound) as opening:
        connect(f"sqlite:///{link}")
    for error in (creating.value, opening.value):
        assert str(link) in str(error) and f"symbolic link to {str(target)!r}" in str(error)
