"""The SQLite hub file, beyond what the conformance suite checks through any hub's locator
(conformance/agentcomm_conformance/suite/test_compat_sqlite.py): creation on request, the
WAL's privacy, how corruption is reported, and the design's out-of-scale priority.

The SQL below is copied from the design document (``/work/shared/seed``), unchanged.
"""

from __future__ import annotations

import os
import random
import sqlite3
import stat
from pathlib import Path

import pytest

from agentcomm import (
    DEFAULT_QUEUE,
    ConfigurationError,
    CorruptStore,
    ManualClock,
    Priority,
    Status,
    connect,
)

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
        sqlite_url: str, tmp_path: Path) -> None:
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
        sqlite_url: str, path: Path, tmp_path: Path) -> None:
    garbage = random.Random(7).randbytes(64 * 1024)
    path.write_bytes(garbage)
    with pytest.raises(CorruptStore, match=str(path)) as caught:
        connect(sqlite_url, create=True)
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)
    assert path.read_bytes() == garbage
    assert [p.name for p in tmp_path.iterdir()] == ["hub.db"]


def test_an_empty_file_becomes_a_hub_when_creation_is_asked(sqlite_url: str,
                                                            path: Path) -> None:
    path.touch()
    with connect(sqlite_url, agent="@a", create=True) as hub:
        assert hub.send("@b", "w", {}).status is Status.PENDING


def test_a_directory_path_raises_configuration_error_even_when_creation_is_asked(
        sqlite_url: str, path: Path) -> None:
    path.mkdir()
    with pytest.raises(ConfigurationError, match="directory"):
        connect(sqlite_url, create=True)


def test_creating_in_a_missing_directory_raises_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="missing"):
        connect(f"sqlite:///{tmp_path / 'nope' / 'hub.db'}", create=True)
    assert list(tmp_path.iterdir()) == []


def test_a_design_priority_5_task_is_read_as_high_and_served_first(sqlite_url: str,
                                                                   path: Path) -> None:
    with connect(sqlite_url, agent="@coordinator", create=True, clock=ManualClock()) as hub:
        older = hub.send(DEFAULT_QUEUE, "process_batch", {"batch_id": "batch_000"})
        design = sqlite3.connect(path, isolation_level=None)
        design.execute(DESIGN_TASK)
        design.close()
        first, second = hub.claim_many(DEFAULT_QUEUE, limit=2)
        assert (first.message.priority, first.message.payload["batch_id"]) == (
            Priority.HIGH, "batch_001")
        assert second.id == older.id
