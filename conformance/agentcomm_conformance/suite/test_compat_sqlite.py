"""The SQLite hub file: the design's schema, extended (SPEC COMPAT-001..003, COMPAT-005).

The suite reaches the file through the hub's locator, a ``sqlite:///`` URL, and reads it
with Python's ``sqlite3`` as the design's scripts do.  The design's SQL, copied from the
design document unchanged, is in ``sqlite_design.py``; the design's scripts on a hub's
file and a design-era file (COMPAT-004) are in ``test_compat_sqlite_scripts.py``.  The
errors of opening and locking the file are in test_errors.py.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from agentcomm import Hub, Priority, Status
from agentcomm_conformance.expect import file_of
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.suite.sqlite_design import (
    DESIGN_DEBUG_QUERY,
    DESIGN_EVENT,
    DESIGN_SCHEMA,
    DESIGN_TABLES,
    Opener,
    Sql,
)
from agentcomm_conformance.suite.sqlite_design import hub_path as hub_path  # fixture, by name
from agentcomm_conformance.suite.sqlite_design import sql as sql  # fixture, by name
from agentcomm_conformance.targets import Target

ADDED_COLUMNS = {
    "agent_messages": {
        "available_at",
        "lease_token",
        "lease_expires_at",
        "claimed_by",
        "expires_at",
        "last_error",
        "finished_at",
        "dead_order",
    },
    "agent_registry": {"heartbeat_ttl"},
    "agent_subscriptions": {"last_event_id"},
}
INJECTION = "'); DROP TABLE agent_messages; --"


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def epoch(text: str) -> float:
    """A DATETIME column's UTC text ``YYYY-MM-DD HH:MM:SS.sss`` as epoch seconds."""
    when = datetime.datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    return when.replace(tzinfo=datetime.timezone.utc).timestamp()


# -- COMPAT-001 / COMPAT-002: the file and its tables --------------------------------------
@pytest.mark.spec("COMPAT-001")
def test_a_hub_file_the_implementation_creates_is_private_even_under_an_open_umask(
    hub_session: HubSession, conformance_target: Target, tmp_path: Path
) -> None:
    workdir = tmp_path / "fresh"
    workdir.mkdir()
    old = os.umask(0)
    try:
        locator = conformance_target.new_hub(workdir)
        handle = conformance_target.open(locator, "@a", hub_session.clock)
        hub_session.handles.append(handle)
        handle.send("@b", "w", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE(file_of(locator).stat().st_mode) == 0o600


@pytest.mark.spec("COMPAT-001")
def test_an_open_hub_is_in_wal_mode_at_schema_version_2(hub: Hub, sql: Sql) -> None:
    hub.send("@b", "w", {})
    db = sql()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2


@pytest.mark.spec("COMPAT-002")
def test_the_design_tables_keep_every_design_column_and_add_columns_with_defaults(
    hub: Hub, sql: Sql
) -> None:
    """The spec's added columns must be there; an implementation's own may be too."""
    design, db = sqlite3.connect(":memory:"), sql()
    design.executescript(DESIGN_SCHEMA)
    for table in DESIGN_TABLES:
        ours = {row[1]: row for row in db.execute(f"PRAGMA table_info({table})")}
        for row in design.execute(f"PRAGMA table_info({table})"):
            assert ours.pop(row[1])[2:] == row[2:], f"{table}.{row[1]}"  # type, null, default, pk
        missing = ADDED_COLUMNS.get(table, set()) - set(ours)
        assert not missing, f"{table} lacks the added columns {sorted(missing)}"
        no_default = [name for name, r in ours.items() if r[4] is None and r[3]]
        assert not no_default, f"{table}: added columns without a default: {no_default}"
        ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        assert ("AUTOINCREMENT" in ddl.upper()) == (table != "agent_registry")
    assert set(columns(db, "agent_counters")) == {"name", "value"}
    design.close()


@pytest.mark.spec("COMPAT-002", "COMPAT-004")
def test_an_event_inserted_by_the_design_reaches_subscribers(agents: Opener, sql: Sql) -> None:
    tracker = agents("@analytics.tracker")
    tracker.subscribe("user_login")
    sql().execute(DESIGN_EVENT)
    (event,) = tracker.events()
    assert (event.event_type, event.publisher, event.payload["ip"]) == (
        "user_login",
        "@service.auth",
        "192.168.1.1",
    )


# -- COMPAT-003: what the columns mean ------------------------------------------------------
@pytest.mark.spec("COMPAT-003")
def test_to_agent_keeps_the_target_claimed_by_the_claimer_and_priority_its_level(
    agents: Opener, sql: Sql
) -> None:
    boss, worker = agents("@boss"), agents("@worker.1")
    sent = {p: boss.send("jobs", "task", {"p": p.name}, priority=p) for p in Priority}
    claim = worker.claim("jobs")
    assert claim is not None and claim.id == sent[Priority.HIGH].id
    worker.fail(claim.id, claim.token, "again")  # back to pending: to_agent still the queue
    rows = (
        sql()
        .execute(
            "SELECT id, to_agent, priority, status, claimed_by, payload"
            " FROM agent_messages ORDER BY id"
        )
        .fetchall()
    )
    assert [(str(r[0]), r[2]) for r in rows] == [(sent[p].id, int(p)) for p in Priority]
    assert {r[1] for r in rows} == {"jobs"}
    assert [json.loads(r[5]) for r in rows] == [{"p": p.name} for p in Priority]
    claim = worker.claim("jobs")
    assert claim is not None
    row = (
        sql()
        .execute(
            "SELECT to_agent, status, claimed_by FROM agent_messages WHERE id = ?", (int(claim.id),)
        )
        .fetchone()
    )
    assert row == ("jobs", "processing", "@worker.1")


@pytest.mark.spec("COMPAT-003")
def test_statuses_replies_and_cursors_are_stored_as_the_design_reads_them(
    agents: Opener, elapse: Callable[[float], None], sql: Sql
) -> None:
    boss, worker = agents("@boss"), agents("@worker")
    asked = [boss.send("@worker", "ask", {"n": n}, expires_in=60) for n in range(4)]
    boss.send("@worker", "ask", {}, expires_in=0.2)
    boss.send("@idle", "ask", {})
    claims = [c for c in (worker.claim() for _ in asked) if c is not None]
    assert [c.id for c in claims] == [m.id for m in asked]
    ok = worker.reply(claims[0].id, claims[0].token, {"ok": True})
    bad = worker.reply(claims[1].id, claims[1].token, ["no"], status="error")
    worker.fail(claims[2].id, claims[2].token, "poison", retry=False)
    elapse(0.2)
    boss.sweep()
    db = sql()
    for message_id, status in db.execute("SELECT id, status FROM agent_messages"):
        assert status == boss.get(str(message_id)).status.value
    assert {r[0] for r in db.execute("SELECT status FROM agent_messages")} == {
        s.value for s in Status
    }
    for reply, status in ((ok, "success"), (bad, "error")):
        row = db.execute(
            "SELECT m.response_id, r.request_id, r.response_status,"
            " r.response_payload FROM agent_messages m JOIN agent_responses r"
            " ON r.id = m.response_id WHERE m.id = ?",
            (int(reply.request_id),),
        ).fetchone()
        assert row[:3] == (int(reply.id), int(reply.request_id), status)
        assert json.loads(row[3]) == reply.payload
    reader = agents("@reader")
    reader.subscribe("news")
    published = [boss.publish("news", {"n": n}) for n in range(3)]
    assert [e.id for e in reader.events(limit=2)] == [e.id for e in published[:2]]
    cursor = db.execute(
        "SELECT last_event_id FROM agent_subscriptions WHERE agent_id = ?", ("@reader",)
    ).fetchone()[0]
    assert cursor == int(published[1].id)
    payloads = db.execute("SELECT payload FROM agent_events ORDER BY id").fetchall()
    assert [json.loads(p[0]) for p in payloads] == [{"n": n} for n in range(3)]


@pytest.mark.spec("COMPAT-003")
def test_ids_are_the_decimal_text_of_autoincrement_row_ids_never_reused(hub: Hub, sql: Sql) -> None:
    first = hub.send("@tester", "w", 1)
    second = hub.send("@tester", "w", 2)
    assert int(first.id) < int(second.id)
    claim = hub.claim()
    assert claim is not None
    reply = hub.reply(claim.id, claim.token, "r")
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, "x", retry=False)
    assert hub.purge_dead() == 1  # the newest row is gone; its id must not come back
    third = hub.send("@tester", "w", 3)
    events = [hub.publish("e", n) for n in range(2)]
    db = sql()
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_messages ORDER BY id")] == [
        first.id,
        third.id,
    ]
    assert int(third.id) > int(second.id)
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_responses")] == [reply.id]
    assert [str(r[0]) for r in db.execute("SELECT id FROM agent_events ORDER BY id")] == [
        e.id for e in events
    ]
    assert int(events[0].id) < int(events[1].id)


@pytest.mark.spec("COMPAT-003")
def test_design_time_columns_hold_utc_text_and_added_ones_epoch_seconds(hub: Hub, sql: Sql) -> None:
    hub.register()
    hub.subscribe("e")
    sent = hub.send("@tester", "w", {}, expires_in=60)
    claim = hub.claim()
    assert claim is not None
    reply = hub.reply(claim.id, claim.token, {})
    event = hub.publish("e", {}, ttl=60)
    db = sql()
    texts = {
        "agent_messages.created_at": (
            f"created_at FROM agent_messages WHERE id = {sent.id}",
            sent.created_at,
        ),
        "agent_responses.created_at": (
            f"created_at FROM agent_responses WHERE id = {reply.id}",
            reply.created_at,
        ),
        "agent_events.published_at": (
            f"published_at FROM agent_events WHERE id = {event.id}",
            event.published_at,
        ),
        "agent_events.expires_at": (
            f"expires_at FROM agent_events WHERE id = {event.id}",
            event.expires_at,
        ),
        "agent_registry.last_heartbeat": (
            "last_heartbeat FROM agent_registry",
            hub.agents()[0].last_heartbeat,
        ),
    }
    for column, (query, expected) in texts.items():
        text = db.execute(f"SELECT {query}").fetchone()[0]
        assert isinstance(text, str) and epoch(text) == pytest.approx(expected, abs=0.0015), column
    created = db.execute("SELECT created_at FROM agent_subscriptions").fetchone()[0]
    assert epoch(created) == pytest.approx(sent.created_at, abs=5)
    reals = db.execute(
        "SELECT available_at, lease_expires_at, expires_at, finished_at,"
        " typeof(available_at) || typeof(lease_expires_at) || typeof(expires_at)"
        " || typeof(finished_at) FROM agent_messages WHERE id = ?",
        (int(sent.id),),
    ).fetchone()
    assert reals[4] == "real" * 4
    assert reals[:3] == pytest.approx(
        (sent.available_at, claim.lease_expires_at, sent.expires_at), abs=0.0015
    )
    assert reply.created_at - 1 <= reals[3] <= reply.created_at + 1


@pytest.mark.spec("COMPAT-003")
def test_the_design_debug_query_reads_the_heartbeats_the_hub_writes(
    agents: Opener, sql: Sql
) -> None:
    agents("@backend.nodejs").register(process_id=os.getpid())
    agents("@backend.nodejs").heartbeat()
    ((agent, status, _, age),) = sql().execute(DESIGN_DEBUG_QUERY).fetchall()
    assert (agent, status) == ("@backend.nodejs", "active")
    assert -1 < age < 60


# -- COMPAT-005: transactions and bound values ----------------------------------------------
@pytest.mark.spec("COMPAT-005", "MSG-003")
def test_sql_in_values_is_stored_verbatim_and_changes_no_table(hub: Hub, sql: Sql) -> None:
    sent = hub.send("@b", "w", INJECTION)
    event = hub.publish("e", {INJECTION: INJECTION})
    hub.send("@tester", "w", {})
    claim = hub.claim()
    assert claim is not None
    hub.fail(claim.id, claim.token, INJECTION, retry=False)
    db = sql()
    assert (
        json.loads(
            db.execute(
                "SELECT payload FROM agent_messages WHERE id = ?", (int(sent.id),)
            ).fetchone()[0]
        )
        == INJECTION
    )
    assert db.execute(
        "SELECT last_error FROM agent_messages WHERE id = ?", (int(claim.id),)
    ).fetchone() == (INJECTION,)
    assert hub.get(sent.id).payload == INJECTION and hub.get(claim.id).last_error == INJECTION
    assert hub.tail_events()[0].payload == event.payload
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {*DESIGN_TABLES, "agent_counters"} <= tables
    assert db.execute("SELECT count(*) FROM agent_messages").fetchone() == (2,)
