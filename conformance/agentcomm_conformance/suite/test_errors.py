"""One error tree with codes and definite flags, configuration errors, the SQLite file's
errors, and bounded waits (SPEC section ERR).

Errors are judged by their ``code``.  Hub options (ERR-003, ERR-005's ``busy_timeout``) are
set in the hub's locator when it is a URL; ERR-004 and ERR-005 reach the SQLite file through
a ``sqlite:///`` locator, opening other files with the same URL at another path.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentcomm import Hub
from agentcomm_conformance.expect import file_of, refused
from agentcomm_conformance.plugin import HubSession

Agents = Callable[..., Hub]
Opener = Callable[..., Hub]
BATCH = pytest.mark.capability("batch")
HIDDEN = "hunter2-do-not-show"
WAIT = 0.3


def lease_conflict(hub: Hub, twice: bool) -> None:
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    if twice:
        hub.complete(claim.id, claim.token)
        hub.complete(claim.id, claim.token)
    else:
        hub.complete(claim.id, "not-the-token")


# code: (how to provoke it on a fresh hub as @tester, definite)
PROVOKED: dict[str, tuple[Callable[[Hub, Agents], Any], bool]] = {
    "configuration": (lambda h, a: a().send("@bob", "w", {}), True),
    "invalid_input": (lambda h, a: h.send("not a target", "w", {}), True),
    "not_found": (lambda h, a: h.get("no-such-message"), True),
    "conflict": (lambda h, a: h.replay(h.send("@bob", "w", {}).id), True),
    "stale_lease": (lambda h, a: lease_conflict(h, twice=False), True),
    "already_finished": (lambda h, a: lease_conflict(h, twice=True), True),
    "deadline_exceeded": (lambda h, a: h.wait_reply(h.send("@bob", "w", {}).id, timeout=0), False),
}


@pytest.mark.spec("ERR-001", "ERR-002")
@pytest.mark.parametrize("code", PROVOKED)
def test_each_kind_of_error_carries_its_own_code_and_definite_flag(
    hub: Hub, agents: Agents, code: str
) -> None:
    provoke, definite = PROVOKED[code]
    with refused(code) as r:
        provoke(hub, agents)
    assert getattr(r.error, "code", None) == code  # exactly this code, not a related one
    assert r.definite is definite


@pytest.mark.spec("ENV-004", "ERR-001")
@pytest.mark.parametrize(
    "message_id",
    [
        "abc",
        "-1",
        "1.0",
        " 1",
        "1 ",
        "9" * 30,
        "1" * 100,
        "²",
        "\u0661",  # ARABIC-INDIC DIGIT ONE
    ],
)
def test_a_well_formed_id_that_names_no_message_raises_not_found(hub: Hub, message_id: str) -> None:
    hub.send("@tester", "w", {})
    for call in (lambda: hub.get(message_id), lambda: hub.get_reply(message_id)):
        with refused("not_found"):
            call()


@pytest.mark.spec("ERR-002", "ERR-006")
def test_a_request_without_a_reply_ends_with_an_indefinite_deadline_exceeded(hub: Hub) -> None:
    start = time.monotonic()
    with refused("deadline_exceeded") as r:
        hub.request("@bob", "ask", {}, timeout=WAIT)
    assert time.monotonic() - start < WAIT + 5
    assert r.definite is False  # the request may still be answered


# -- ERR-003: hub options in the locator ------------------------------------------------------
def hub_url(session: HubSession) -> str:
    if "://" not in session.locator:
        pytest.skip(
            f"the hub's locator {session.locator!r} is not a hub URL, so the suite "
            "cannot set hub options through it"
        )
    return session.locator


def with_options(url: str, *options: tuple[str, str]) -> str:
    """``url`` with these query options instead of any of the same names."""
    base, _, query = url.partition("?")
    names = {name for name, _ in options}
    kept = [
        (k, v) for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k not in names
    ]
    return f"{base}?{urllib.parse.urlencode([*kept, *options])}"


def opening(session: HubSession, url: str) -> None:
    session.handles.append(session.target.open(url, None, session.clock))


@pytest.mark.spec("ERR-003")
@pytest.mark.parametrize(
    ("options", "named"),
    [
        ([("no_such_option", "1")], "no_such_option"),
        ([("backoff_base", "abc")], "backoff_base"),
        ([("backoff_base", "nan")], "backoff_base"),
        ([("backoff_base", "-1")], "backoff_base"),
        ([("retain_events", "-5")], "retain_events"),
        ([("backoff_base", "10"), ("backoff_max", "5")], "backoff_max"),
        ([("backoff_base", "1"), ("backoff_base", "2")], "backoff_base"),
    ],
    ids=[
        "unknown",
        "not-a-number",
        "nan",
        "negative",
        "negative-retention",
        "max-below-base",
        "given-twice",
    ],
)
def test_a_bad_hub_option_raises_configuration_error_naming_it_at_connect(
    hub_session: HubSession, options: list[tuple[str, str]], named: str
) -> None:
    url = with_options(hub_url(hub_session), *options)
    with refused("configuration") as r:
        opening(hub_session, url)
    assert named in r.message


@pytest.mark.spec("ERR-003")
def test_a_hub_url_without_a_scheme_or_with_an_unknown_one_raises_configuration_error(
    hub_session: HubSession,
) -> None:
    url = hub_url(hub_session)
    for bad, named in (
        (url.split("://", 1)[1], ""),
        ("nosuchscheme://" + url.split("://", 1)[1], "nosuchscheme"),
    ):
        with refused("configuration") as r:
            opening(hub_session, bad)
        assert named in r.message


@pytest.mark.spec("ERR-003")
def test_an_error_never_shows_a_password_from_the_url(hub_session: HubSession) -> None:
    scheme = urllib.parse.urlsplit(hub_url(hub_session)).scheme
    for url in (
        f"nosuchscheme://user:{HIDDEN}@localhost:1/0",
        f"{scheme}://user:{HIDDEN}@localhost:1/0?no_such_option=1",
    ):
        with refused("configuration") as r:
            opening(hub_session, url)
        assert HIDDEN not in r.message and HIDDEN not in repr(r.error)


# -- ERR-004 / ERR-005: the SQLite file --------------------------------------------------------


@pytest.fixture
def open_at(hub_session: HubSession) -> Opener:
    """``open_at(path, agent, *options)``: a handle on the SQLite hub file at ``path``."""
    url = hub_session.locator
    file_of(url)

    def opener(path: Path, agent: str | None = None, *options: str) -> Hub:
        query = "&".join([q for q in [urllib.parse.urlsplit(url).query, *options] if q])
        locator = f"sqlite:///{urllib.parse.quote(str(path))}" + (f"?{query}" if query else "")
        handle = hub_session.target.open(locator, agent, hub_session.clock)
        hub_session.handles.append(handle)
        return handle

    return opener


@pytest.mark.spec("ERR-004", "ERR-002")
def test_opening_a_missing_file_raises_not_found_and_creates_nothing(
    open_at: Opener, tmp_path: Path
) -> None:
    before = sorted(tmp_path.iterdir())
    with refused("not_found") as r:
        open_at(tmp_path / "mistyped.db", "@a")
    assert "mistyped.db" in r.message and r.definite is True
    assert sorted(tmp_path.iterdir()) == before


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 256)  # 64 KiB that no SQLite file starts with


def foreign_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep me');")
    conn.close()


@pytest.mark.spec("ERR-004", "ERR-001", "ERR-002")
@pytest.mark.parametrize(
    "make", [garbage, Path.touch, foreign_database], ids=["garbage", "empty", "foreign-database"]
)
def test_a_file_that_is_not_a_hub_raises_corrupt_store_and_is_left_unchanged(
    open_at: Opener, tmp_path: Path, make: Callable[[Path], None]
) -> None:
    directory = tmp_path / "other"
    directory.mkdir()
    path = directory / "hub.db"
    make(path)
    content = path.read_bytes()
    with refused("corrupt_store") as r:
        open_at(path, "@a")
    assert getattr(r.error, "code", None) == "corrupt_store" and r.definite is True
    assert path.read_bytes() == content
    assert [p.name for p in directory.iterdir()] == ["hub.db"]


@pytest.mark.spec("ERR-004")
def test_a_directory_path_raises_configuration_error(open_at: Opener, tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with refused("configuration"):
        open_at(tmp_path / "dir.db", "@a")


@pytest.mark.spec("ERR-004")
def test_a_hub_of_a_newer_schema_version_raises_configuration_error_untouched(
    hub_session: HubSession, open_at: Opener
) -> None:
    path = file_of(hub_session.locator)
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA user_version = 3")  # the specification's is 2 (COMPAT-001)
        with refused("configuration") as r:
            open_at(path, "@a")
        assert "3" in r.message
        assert db.execute("PRAGMA user_version").fetchone()[0] == 3


@pytest.mark.spec("ERR-005", "ERR-001", "ERR-002")
def test_a_change_that_cannot_take_the_write_lock_fails_definitely_and_writes_nothing(
    hub_session: HubSession, open_at: Opener
) -> None:
    path = file_of(hub_session.locator)
    hub = open_at(path, "@tester", "busy_timeout=0.2")
    hub.send("@tester", "w", "before")
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as locker:
        locker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        for change in (
            lambda: hub.send("@bob", "w", {}),
            lambda: hub.claim(),
            lambda: hub.publish("e", {}),
            lambda: hub.register(),
        ):
            with refused("backend_unavailable") as r:
                change()
            assert getattr(r.error, "code", None) == "backend_unavailable"
            assert r.definite is True
        locker.execute("ROLLBACK")
    depths = {t: {k: n for k, n in d.items() if n} for t, d in hub.stats().depths.items()}
    assert {t: d for t, d in depths.items() if d} == {
        "@tester": {"pending": 1, "pending_normal": 1}
    }
    assert (hub.tail_events(), hub.agents()) == ([], [])
    claim = hub.claim()  # the handle works again once the lock is free
    assert claim is not None and claim.message.payload == "before"


# -- ERR-006: bounded waits -------------------------------------------------------------------
@pytest.mark.spec("ERR-006")
@pytest.mark.parametrize(
    ("call", "empty"),
    [
        (lambda h: h.claim(wait=WAIT), None),
        (lambda h: h.claim("jobs", wait=WAIT), None),
        pytest.param(lambda h: h.claim_many("jobs", wait=WAIT), [], marks=BATCH, id="claim_many"),
        (lambda h: h.events(wait=WAIT), []),
    ],
    ids=["claim-inbox", "claim-queue", "claim_many", "events"],
)
def test_a_wait_that_finds_nothing_returns_its_empty_value_once_the_wait_is_over(
    hub: Hub, call: Callable[[Hub], Any], empty: Any
) -> None:
    hub.subscribe("news")
    start = time.monotonic()
    assert call(hub) == empty
    assert time.monotonic() - start < WAIT + 5


@pytest.mark.spec("ERR-006")
def test_wait_reply_without_a_reply_raises_deadline_exceeded_once_the_wait_is_over(
    hub: Hub,
) -> None:
    sent = hub.send("@bob", "ask", {})
    start = time.monotonic()
    with refused("deadline_exceeded") as r:
        hub.wait_reply(sent.id, timeout=WAIT)
    assert time.monotonic() - start < WAIT + 5
    assert sent.id in r.message
