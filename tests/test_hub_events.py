"""Durable publish/subscribe with a cursor per subscriber (SPEC EVT, ORD-002, ORD-003)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from agentcomm import Event, Hub, ManualClock


def payloads(events: Sequence[Event]) -> list[Any]:
    return [e.payload for e in events]


def test_publish_returns_the_event_stamped_with_its_publisher(hub: Hub,
                                                              clock: ManualClock) -> None:
    event = hub.publish("user.login", {"user": "u1"}, ttl=60)
    assert (event.event_type, event.publisher, event.payload) == (
        "user.login", "@tester", {"user": "u1"})
    assert (event.published_at, event.expires_at) == (clock.now(), clock.now() + 60)
    assert hub.publish("user.login", {}).expires_at is None


def test_a_subscriber_gets_each_later_event_once_in_publish_order(
        hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("build.done")
    sent = [publisher.publish("build.done", {"n": i}) for i in range(3)]
    got = reader.events()
    assert [e.id for e in got] == [e.id for e in sent]
    assert payloads(got) == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert all(e.publisher == "@publisher" for e in got)
    assert reader.events() == []


def test_events_published_before_subscribing_are_not_delivered(hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    publisher.publish("build.done", "before")
    reader.subscribe("build.done")
    publisher.publish("build.done", "after")
    assert payloads(reader.events()) == ["after"]


def test_an_offline_subscriber_catches_up_in_order(hubs: Callable[..., Hub]) -> None:
    hubs("@reader").subscribe("build.done")
    hubs("@reader").close()
    publisher = hubs("@publisher")
    for i in range(5):
        publisher.publish("build.done", i)
    assert payloads(hubs("@reader").events()) == [0, 1, 2, 3, 4]


def test_events_of_types_not_subscribed_are_not_delivered(hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("user.login")
    publisher.publish("user.logout", "out")
    publisher.publish("user.login", "in")
    publisher.publish("user.login.failed", "nope")
    assert payloads(reader.events()) == ["in"]


def test_events_of_several_types_share_one_publish_order(hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("user.logout")
    reader.subscribe("user.login")
    for kind, n in [("user.login", 1), ("user.logout", 2), ("user.login", 3)]:
        publisher.publish(kind, n)
    assert payloads(reader.events()) == [1, 2, 3]


def test_events_with_a_limit_page_through_without_loss_or_duplication(
        hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("a")
    reader.subscribe("b")
    for i in range(10):
        publisher.publish("a" if i % 3 else "b", i)
    pages = [reader.events(limit=3) for _ in range(5)]
    assert [len(p) for p in pages] == [3, 3, 3, 1, 0]
    assert [p for page in pages for p in payloads(page)] == list(range(10))


def test_each_subscriber_gets_its_own_copy(hubs: Callable[..., Hub]) -> None:
    one, two, publisher = hubs("@reader.1"), hubs("@reader.2"), hubs("@publisher")
    one.subscribe("deploy")
    two.subscribe("deploy")
    publisher.publish("deploy", "v1")
    assert payloads(one.events()) == ["v1"]
    assert payloads(two.events()) == ["v1"]


def test_two_handles_of_one_agent_share_its_cursor(hubs: Callable[..., Hub]) -> None:
    first, second = hubs("@reader"), hubs("@reader")
    first.subscribe("deploy")
    hubs("@publisher").publish("deploy", "v1")
    assert payloads(first.events()) == ["v1"]
    assert second.events() == []


def test_subscribing_again_keeps_the_cursor_and_unread_events(hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("deploy")
    publisher.publish("deploy", 1)
    reader.subscribe("deploy")
    publisher.publish("deploy", 2)
    assert payloads(reader.events()) == [1, 2]
    assert reader.subscriptions() == ["deploy"]


def test_unsubscribe_drops_unread_events_and_later_ones(hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("deploy")
    publisher.publish("deploy", "unread")
    reader.unsubscribe("deploy")
    publisher.publish("deploy", "later")
    assert reader.events() == []
    assert reader.subscriptions() == []
    reader.subscribe("deploy")
    assert reader.events() == []


def test_unsubscribing_from_a_type_never_subscribed_is_harmless(hub: Hub) -> None:
    hub.unsubscribe("never")
    assert hub.subscriptions() == []


def test_subscriptions_are_listed_sorted(hub: Hub) -> None:
    for kind in ("zeta", "alpha", "mid.point"):
        hub.subscribe(kind)
    assert hub.subscriptions() == ["alpha", "mid.point", "zeta"]


@pytest.mark.parametrize(("age", "delivered"), [(9.5, True), (10, False), (3600, False)])
def test_an_event_is_delivered_only_until_its_ttl_passes(hubs: Callable[..., Hub],
                                                         clock: ManualClock, age: float,
                                                         delivered: bool) -> None:
    reader = hubs("@reader")
    reader.subscribe("flash")
    hubs("@publisher").publish("flash", "brief", ttl=10)
    clock.advance(age)
    assert payloads(reader.events()) == (["brief"] if delivered else [])


def test_an_expired_event_does_not_hold_back_later_ones(hubs: Callable[..., Hub],
                                                        clock: ManualClock) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("flash")
    publisher.publish("flash", "brief", ttl=1)
    publisher.publish("flash", "lasting")
    clock.advance(2)
    assert payloads(reader.events()) == ["lasting"]


def test_events_with_wait_returns_nothing_once_the_wait_has_passed(hub: Hub,
                                                                   clock: ManualClock) -> None:
    hub.subscribe("quiet")
    start = clock.now()
    assert hub.events(wait=1) == []
    assert clock.now() >= start + 1


def test_tail_events_shows_recent_events_of_every_type_without_consuming(
        hubs: Callable[..., Hub]) -> None:
    reader, publisher = hubs("@reader"), hubs("@publisher")
    reader.subscribe("a")
    sent = [publisher.publish(kind, i) for i, kind in enumerate("abab")]
    monitor = hubs(None)
    assert [e.id for e in monitor.tail_events()] == [e.id for e in sent]
    assert payloads(monitor.tail_events(limit=2)) == [2, 3]
    assert payloads(monitor.tail_events(after=sent[1].id)) == [2, 3]
    assert payloads(monitor.tail_events(after=sent[0].id, limit=2)) == [1, 2]
    assert payloads(reader.events()) == [0, 2]


def test_events_count_as_published(hub: Hub) -> None:
    hub.publish("a", 1)
    hub.publish("b", 2)
    assert hub.stats().counters["published"] == 2
