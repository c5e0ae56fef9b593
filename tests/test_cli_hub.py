"""The ``agentcomm`` commands that make and keep a hub: ``init``, ``dead-letters``,
``stats``, ``sweep`` and ``purge``."""

from __future__ import annotations

from pathlib import Path

from agentcomm.cli import exits
from cli_support import Run, err, out
from cli_support import run as run  # fixtures, imported by name
from cli_support import url as url


# -- init ------------------------------------------------------------------------------------
def test_init_creates_a_hub_and_prints_its_url(run: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    info = out(run("init", base=("--url", url)))
    assert info["url"] == url and info["backend"] == "sqlite"
    assert (tmp_path / "new.db").exists()
    assert out(run("stats", base=("--url", url)))["agents_known"] == 0


def test_a_missing_hub_is_not_created_by_other_commands(run: Run, tmp_path: Path) -> None:
    err(run("stats", base=("--url", f"sqlite:///{tmp_path / 'typo.db'}")), 4)
    assert not (tmp_path / "typo.db").exists()
    [row] = [r for r in exits.table().splitlines() if r.split()[0] == "4"]
    assert "no hub at --url" in row  # the table says what the missing hub gets


# -- running the hub -------------------------------------------------------------------------
def test_dead_letters_can_be_listed_replayed_and_purged(run: Run) -> None:
    ids = [out(run("send", "@b", "t", "{}", agent="@a"))["id"] for _ in range(3)]
    for claim in out(run("receive", "--limit", "3", agent="@b")):
        out(run("fail", claim["id"], claim["token"], "--reason", "poison", "--no-retry"))
    assert [m["id"] for m in out(run("dead-letters", "list"))] == ids
    [replayed] = out(run("dead-letters", "replay", ids[0]))
    assert (replayed["status"], replayed["retry_count"]) == ("pending", 0)
    assert run("dead-letters", "purge").exit_code == 2  # no ids needs --all
    assert out(run("dead-letters", "purge", ids[1])) == {"purged": 1}
    assert out(run("dead-letters", "purge", "--all")) == {"purged": 1}
    assert out(run("dead-letters", "list")) == []


def test_replaying_a_live_message_is_a_conflict_exit_5(run: Run) -> None:
    sent = out(run("send", "@b", "t", "{}", agent="@a"))
    assert err(run("dead-letters", "replay", sent["id"]), 5)["error"] == "conflict"


def test_stats_show_depths_counters_and_agents(run: Run) -> None:
    run("send", "@b", "t", "{}", agent="@a")
    run("send", "ANY_AVAILABLE", "t", "{}", agent="@a")
    run("register", agent="@b")
    stats = out(run("stats"))
    assert stats["depths"]["@b"]["pending"] == stats["depths"]["ANY_AVAILABLE"]["pending"] == 1
    assert stats["counters"]["sent"] == 2
    assert (stats["agents_alive"], stats["agents_known"]) == (1, 1)


def test_sweep_and_purge_print_counts(run: Run) -> None:
    assert out(run("sweep")) == {"changed": 0}
    assert all(isinstance(n, int) for n in out(run("purge")).values())
