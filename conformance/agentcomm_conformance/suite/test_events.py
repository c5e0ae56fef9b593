"""Durable publish/subscribe with a cursor per subscriber (SPEC sections EVT, ORD-002, ORD-003)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from agentcomm import Event, Hub
from agentcomm_conformance.plugin import HubSession
from agentcomm_conformance.targets import Target

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]

LIVE_WAIT = 30.0  # seconds for a live message; it comes in milliseconds, even under load
MS = 0.001  # published_at is one of the design's DATETIME columns, kept to the millisecond


def payloads(events: Sequence[Event]) -> list[Any]:
    return [e.payload for e in events]


def hub_now(hub: Hub) -> float:
    """The hub's clock, read through the time it stamps on a message."""
    return hub.send("clock.read", "tick", None).available_at


# -- EVT-001: publish -------------------------------------------------------------------------
@pytest.mark.spec("EVT-001")
def test_publish_records_the_event_stamped_now_even_with_no_subscriber(agents: Agents) -> None:
    alice = agents("@alice")
    before = hub_now(alice)
    lasting = alice.publish("user.login", {"user": "u1"})
    brief = alice.publish("user.login", {"user": "u2"}, ttl=60)
    after = hub_now(alice)
    assert (lasting.event_type, lasting.publisher, lasting.payload) == (
        "user.login",
        "@alice",
        {"user": "u1"},
    )
    assert before - MS <= lasting.published_at <= after + MS
    assert lasting.expires_at is None
    assert brief.expires_at == pytest.approx(brief.published_at + 60, abs=MS)
    assert agents().tail_events() == [lasting, brief]


# -- EVT-002: subscriptions -----------------------------------------------------------------------
@pytest.mark.spec("EVT-002")
def test_events_published_before_subscribing_are_not_delivered(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    publisher.publish("build.done", "before")
    reader.subscribe("build.done")
    publisher.publish("build.done", "after")
    assert payloads(reader.events()) == ["after"]


@pytest.mark.spec("EVT-002")
def test_subscribing_again_keeps_the_cursor_and_unread_events(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("deploy")
    publisher.publish("deploy", 1)
    reader.subscribe("deploy")
    publisher.publish("deploy", 2)
    assert payloads(reader.events(limit=1)) == [1]
    reader.subscribe("deploy")
    assert payloads(reader.events()) == [2]
    assert reader.subscriptions() == ["deploy"]


@pytest.mark.spec("EVT-002")
def test_unsubscribe_drops_unread_events_and_a_new_subscription_starts_at_the_end(
    agents: Agents,
) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("deploy")
    reader.subscribe("audit")
    publisher.publish("deploy", "unread")
    reader.unsubscribe("deploy")
    publisher.publish("deploy", "while away")
    publisher.publish("audit", "kept")
    assert payloads(reader.events()) == ["kept"]
    assert reader.subscriptions() == ["audit"]
    reader.subscribe("deploy")
    publisher.publish("deploy", "after")
    assert payloads(reader.events()) == ["after"]


@pytest.mark.spec("EVT-002")
def test_unsubscribing_from_a_type_never_subscribed_changes_nothing(agents: Agents) -> None:
    reader = agents("@reader")
    reader.subscribe("deploy")
    agents("@publisher").publish("deploy", "unread")
    reader.unsubscribe("never")
    assert reader.subscriptions() == ["deploy"]
    assert payloads(reader.events()) == ["unread"]


@pytest.mark.spec("EVT-002")
def test_subscriptions_are_listed_sorted_per_agent(agents: Agents) -> None:
    reader = agents("@reader")
    for kind in ("zeta", "alpha", "mid.point", "Beta"):
        reader.subscribe(kind)
    agents("@other").subscribe("omega")
    assert reader.subscriptions() == sorted(["zeta", "alpha", "mid.point", "Beta"])


# -- EVT-003: exactly once per subscriber ----------------------------------------------------------
@pytest.mark.spec("EVT-003", "ORD-002")
def test_a_subscriber_gets_each_later_event_once_in_publish_order(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("build.done")
    sent = [publisher.publish("build.done", {"n": i}) for i in range(3)]
    assert reader.events() == sent
    assert reader.events() == []


@pytest.mark.spec("EVT-003")
def test_events_of_types_not_subscribed_are_not_delivered(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("user.login")
    publisher.publish("user.logout", "out")
    publisher.publish("user.login", "in")
    publisher.publish("user.login.failed", "nope")
    assert payloads(reader.events()) == ["in"]


@pytest.mark.spec("EVT-003", "ORD-003")
def test_events_with_a_limit_page_through_without_loss_or_duplication(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("a")
    reader.subscribe("b")
    for i in range(10):
        publisher.publish("a" if i % 3 else "b", i)
    pages = [reader.events(limit=3) for _ in range(5)]
    assert [len(p) for p in pages] == [3, 3, 3, 1, 0]
    assert [p for page in pages for p in payloads(page)] == list(range(10))


@pytest.mark.spec("EVT-003")
def test_each_subscriber_gets_its_own_copy(agents: Agents) -> None:
    one, two, publisher = agents("@reader.1"), agents("@reader.2"), agents("@publisher")
    one.subscribe("deploy")
    two.subscribe("deploy")
    publisher.publish("deploy", "v1")
    assert payloads(one.events()) == ["v1"]
    assert payloads(two.events()) == ["v1"]


@pytest.mark.spec("EVT-003")
def test_handles_of_one_agent_reading_at_once_share_its_cursor(agents: Agents) -> None:
    readers = [agents("@reader") for _ in range(3)]
    readers[0].subscribe("deploy")
    publisher = agents("@publisher")
    sent = [publisher.publish("deploy", i) for i in range(150)]
    got: list[list[Event]] = [[] for _ in readers]
    start = threading.Barrier(len(readers))

    def drain(reader: Hub, into: list[Event]) -> None:
        start.wait()
        for _ in sent:  # bounded: a hub that never runs dry must not hang the suite
            page = reader.events(limit=2)
            if not page:
                return
            into.extend(page)

    threads = [threading.Thread(target=drain, args=pair) for pair in zip(readers, got, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [e.id for events in got for e in events]
    assert sorted(delivered) == sorted(e.id for e in sent) and len(set(delivered)) == 150


@pytest.mark.spec("EVT-003")
def test_events_with_wait_returns_at_once_when_an_event_is_there(agents: Agents) -> None:
    reader = agents("@reader")
    reader.subscribe("deploy")
    agents("@publisher").publish("deploy", "ready")
    before = hub_now(reader)
    assert payloads(reader.events(wait=5)) == ["ready"]
    assert hub_now(reader) - before < 1


@pytest.mark.spec("EVT-003")
def test_events_with_wait_returns_nothing_once_the_wait_has_passed(hub: Hub) -> None:
    hub.subscribe("quiet")
    before = hub_now(hub)
    assert hub.events(wait=0.3) == []
    assert hub_now(hub) - before >= 0.3 - MS


# -- EVT-004: offline subscribers and expiry ----------------------------------------------------
@pytest.mark.spec("EVT-004", "ORD-002")
def test_an_offline_subscriber_catches_up_in_order(agents: Agents) -> None:
    reader = agents("@reader")
    reader.subscribe("build.done")
    reader.close()
    publisher = agents("@publisher")
    for i in range(5):
        publisher.publish("build.done", i)
    assert payloads(agents("@reader").events()) == [0, 1, 2, 3, 4]


@pytest.mark.spec("EVT-004")
@pytest.mark.capability("manual_clock")
def test_a_subscriber_away_for_a_day_still_gets_what_was_published_meanwhile(
    agents: Agents, elapse: Elapse
) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("build.done")
    publisher.publish("build.done", "early")
    elapse(3600)
    publisher.publish("build.done", "late")
    elapse(86_400)  # within retain_events
    assert payloads(reader.events()) == ["early", "late"]


@pytest.mark.spec("EVT-004")
@pytest.mark.parametrize(("age", "delivered"), [(0.2, True), (1.0, False)])
def test_an_event_is_delivered_only_until_its_ttl_passes(
    agents: Agents, elapse: Elapse, age: float, delivered: bool
) -> None:
    reader = agents("@reader")
    reader.subscribe("flash")
    agents("@publisher").publish("flash", "brief", ttl=0.6)
    elapse(age)
    assert payloads(reader.events()) == (["brief"] if delivered else [])


@pytest.mark.spec("EVT-004")
def test_an_expired_event_does_not_hold_back_later_ones(agents: Agents, elapse: Elapse) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("flash")
    publisher.publish("flash", "brief", ttl=0.2)
    publisher.publish("flash", "lasting")
    elapse(0.3)
    assert payloads(reader.events()) == ["lasting"]


@pytest.mark.spec("EVT-003", "EVT-004", "ORD-003")
def test_expired_events_neither_use_up_the_limit_nor_reorder_the_types(
    agents: Agents, elapse: Elapse
) -> None:
    """A hub that looks at only ``limit`` unread events per type returns too few here, or
    hands out ``later`` before the older ``kept``."""
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("flash")
    reader.subscribe("notice")
    for i in range(3):
        publisher.publish("flash", f"brief {i}", ttl=0.2)
    publisher.publish("flash", "kept")
    publisher.publish("notice", "later")
    elapse(0.3)
    assert [payloads(reader.events(limit=1)) for _ in range(3)] == [["kept"], ["later"], []]


@pytest.mark.spec("EVT-003", "EVT-004")
def test_a_read_passing_expired_events_still_fills_its_limit_from_every_type(
    agents: Agents, elapse: Elapse
) -> None:
    """A hub that drops what it read of one type while passing over another type's expired
    events returns ``["kept"]`` here."""
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("flash")
    reader.subscribe("notice")
    publisher.publish("flash", "brief", ttl=0.2)
    publisher.publish("flash", "kept")
    publisher.publish("notice", "later")
    elapse(0.3)
    assert payloads(reader.events(limit=2)) == ["kept", "later"]


@pytest.mark.spec("EVT-004")
@pytest.mark.capability("manual_clock")
def test_an_event_pruned_after_retention_is_never_delivered(agents: Agents, elapse: Elapse) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("audit")
    publisher.publish("audit", "old")
    elapse(604_801)  # past retain_events
    publisher.prune()
    publisher.publish("audit", "new")
    assert payloads(reader.events()) == ["new"]


# -- EVT-005: tail_events ------------------------------------------------------------------------
@pytest.mark.spec("EVT-005", "ORD-002", "ORD-003")
def test_tail_events_shows_events_of_every_type_in_order_without_consuming(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("a")
    sent = [publisher.publish(kind, i) for i, kind in enumerate("abab")]
    monitor = agents()
    assert monitor.tail_events() == sent
    assert payloads(monitor.tail_events(limit=2)) == [2, 3]
    assert payloads(monitor.tail_events(after=sent[1].id)) == [2, 3]
    assert payloads(monitor.tail_events(after=sent[0].id, limit=2)) == [1, 2]
    assert monitor.tail_events(after=sent[3].id) == []
    assert payloads(reader.tail_events()) == [0, 1, 2, 3]  # a subscriber's tail moves no cursor
    assert payloads(reader.events()) == [0, 2]


@pytest.mark.spec("EVT-005", "EXP-004")
def test_tail_events_lists_expired_events_until_prune_deletes_them(
    agents: Agents, elapse: Elapse
) -> None:
    reader, publisher, monitor = agents("@reader"), agents("@publisher"), agents()
    reader.subscribe("flash")
    brief = publisher.publish("flash", "brief", ttl=0.5)
    lasting = publisher.publish("flash", "lasting")
    elapse(0.5)
    assert monitor.tail_events() == [brief, lasting]  # a view of the log
    assert payloads(reader.events()) == ["lasting"]  # delivery skips what expired
    assert monitor.prune()["events"] == 1
    assert monitor.tail_events() == [lasting]


# -- EVT-006: live PUBLISH on Redis ------------------------------------------------------------
@pytest.mark.spec("EVT-006")
def test_a_redis_hub_also_publishes_each_event_live_on_the_designs_channel(
    hub: Hub, hub_session: HubSession, conformance_target: Target
) -> None:
    """The hub's locator must be a ``redis://`` URL; the channel may carry the key prefix."""
    assert "live_publish" in conformance_target.capabilities, "live_publish is not declared"
    redis = pytest.importorskip("redis")
    server = redis.Redis.from_url(hub_session.locator.partition("?")[0])
    kind = f"deploy.{uuid.uuid4().hex}"
    listener = server.pubsub()
    listener.psubscribe(f"*event:{kind}")
    confirmed = listener.get_message(timeout=LIVE_WAIT)  # the server says it is listening
    assert confirmed is not None and confirmed["type"] == "psubscribe"
    event = hub.publish(kind, {"v": 1}, ttl=60)
    deadline = time.monotonic() + LIVE_WAIT
    live, channel = None, ""
    while time.monotonic() < deadline and (live is None or channel.startswith("__key")):
        # Keyspace notifications (__keyspace@0__:...event:<kind>) match too: pass them by.
        live = listener.get_message(timeout=1)
        channel = "" if live is None else _text(live["channel"])
    listener.close()
    assert live is not None, (
        f"nothing PUBLISHed on a channel ending in event:{kind} within {LIVE_WAIT:g} s"
    )
    assert channel.endswith(f"event:{kind}")
    data = json.loads(live["data"])
    assert {k: data.get(k) for k in ("id", "event_type", "publisher", "payload")} == {
        "id": event.id,
        "event_type": kind,
        "publisher": "@tester",
        "payload": {"v": 1},
    }
    assert data["published_at"] == pytest.approx(event.published_at, abs=MS)
    assert data["expires_at"] == pytest.approx(event.expires_at, abs=MS)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- ORD-002 and ORD-003: order ------------------------------------------------------------------
@pytest.mark.spec("ORD-002")
def test_events_of_one_type_from_several_publishers_arrive_in_publish_order(agents: Agents) -> None:
    reader, monitor = agents("@reader"), agents()
    reader.subscribe("tick")
    publishers = [agents(f"@publisher.{i}") for i in range(3)]
    sent = [publishers[n % 3].publish("tick", n) for n in range(30)]
    got = [e for _ in range(10) for e in reader.events(limit=4)]
    assert [e.id for e in got] == [e.id for e in sent]
    assert [e.id for e in monitor.tail_events()] == [e.id for e in sent]


@pytest.mark.spec("ORD-003")
def test_events_of_several_types_share_one_publish_order(agents: Agents) -> None:
    reader, publisher = agents("@reader"), agents("@publisher")
    reader.subscribe("user.logout")
    reader.subscribe("user.login")
    for kind, n in [("user.login", 1), ("user.logout", 2), ("user.login", 3), ("user.logout", 4)]:
        publisher.publish(kind, n)
    assert payloads(reader.events()) == [1, 2, 3, 4]


# -- PRIO-004: the published counter -----------------------------------------------------------
@pytest.mark.spec("PRIO-004")
def test_each_published_event_is_counted(hub: Hub) -> None:
    hub.publish("a", 1)
    hub.publish("b", 2)
    assert hub.stats().counters["published"] == 2
