"""The agent registry and liveness (SPEC REG, LEASE-006)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agentcomm import Hub, ManualClock, NotFound


def test_register_enters_the_agent_as_active_with_a_heartbeat_now(hub: Hub,
                                                                  clock: ManualClock) -> None:
    info = hub.register()
    assert (info.agent_id, info.status, info.alive) == ("@tester", "active", True)
    assert (info.last_heartbeat, info.seconds_since_heartbeat) == (clock.now(), 0)
    assert (info.heartbeat_ttl, info.max_concurrent, info.current_load) == (60, 5, 0)
    assert hub.agents() == [info]


def test_capabilities_process_id_and_limits_round_trip(hub: Hub) -> None:
    hub.register(capabilities=["validate_token", "process.data-v2"], process_id=4242,
                 max_concurrent=3, ttl=15)
    (info,) = hub.agents()
    assert info.capabilities == ("validate_token", "process.data-v2")
    assert (info.process_id, info.max_concurrent, info.heartbeat_ttl) == (4242, 3, 15)


@pytest.mark.parametrize(("age", "alive"), [(0, True), (9.5, True), (10, False), (600, False)])
def test_an_agent_is_alive_until_its_heartbeat_is_ttl_old(hub: Hub, clock: ManualClock,
                                                          age: float, alive: bool) -> None:
    hub.register(ttl=10)
    clock.advance(age)
    (info,) = hub.agents()
    assert info.alive is alive
    assert info.seconds_since_heartbeat == age
    assert [a.agent_id for a in hub.agents(alive_only=True)] == (["@tester"] if alive else [])


def test_the_hub_default_ttl_is_sixty_seconds(hub: Hub, clock: ManualClock) -> None:
    hub.register()
    clock.advance(59.5)
    assert hub.agents()[0].alive
    clock.advance(0.5)
    assert not hub.agents()[0].alive


def test_a_heartbeat_keeps_an_agent_alive(hub: Hub, clock: ManualClock) -> None:
    hub.register(ttl=10)
    for _ in range(5):
        clock.advance(8)
        info = hub.heartbeat()
        assert (info.alive, info.last_heartbeat) == (True, clock.now())
    clock.advance(8)
    assert hub.agents()[0].alive


def test_heartbeat_records_the_load(hub: Hub) -> None:
    hub.register()
    assert hub.heartbeat(load=3).current_load == 3
    assert hub.heartbeat().current_load == 3
    assert hub.agents()[0].current_load == 3


def test_heartbeat_of_an_unregistered_agent_raises_not_found(hubs: Callable[..., Hub]) -> None:
    with pytest.raises(NotFound, match="@ghost"):
        hubs("@ghost").heartbeat()
    assert hubs(None).agents() == []


def test_deregister_marks_the_agent_inactive_and_not_alive(hub: Hub) -> None:
    hub.register()
    hub.deregister()
    (info,) = hub.agents()
    assert (info.status, info.alive) == ("inactive", False)
    assert hub.agents(alive_only=True) == []


def test_deregistering_an_agent_without_entry_is_harmless(hub: Hub) -> None:
    hub.deregister()
    assert hub.agents() == []


def test_a_heartbeat_after_deregister_makes_the_agent_active_again(hub: Hub) -> None:
    hub.register()
    hub.deregister()
    assert hub.heartbeat().status == "active"
    assert hub.agents()[0].alive


def test_registering_again_replaces_the_entry(hub: Hub, clock: ManualClock) -> None:
    hub.register(capabilities=["old"], process_id=1)
    hub.heartbeat(load=4)
    hub.deregister()
    clock.advance(30)
    info = hub.register(capabilities=["new"], process_id=2)
    assert (info.capabilities, info.process_id, info.current_load, info.status) == (
        ("new",), 2, 0, "active")
    assert info.last_heartbeat == clock.now()
    assert hub.agents() == [info]


def test_agents_are_sorted_by_id_and_counted_in_stats(hubs: Callable[..., Hub],
                                                     clock: ManualClock) -> None:
    for agent in ("@zed", "@amy", "@mia.worker"):
        hubs(agent).register(ttl=10)
    clock.advance(5)
    hubs("@mia.worker").heartbeat()
    clock.advance(6)
    monitor = hubs(None)
    assert [a.agent_id for a in monitor.agents()] == ["@amy", "@mia.worker", "@zed"]
    assert [a.agent_id for a in monitor.agents(alive_only=True)] == ["@mia.worker"]
    stats = monitor.stats()
    assert (stats.agents_alive, stats.agents_known) == (1, 3)


def test_a_deregistered_agents_inbox_waits_for_its_return(hubs: Callable[..., Hub]) -> None:
    worker = hubs("@worker")
    worker.register()
    worker.deregister()
    sent = hubs("@boss").send("@worker", "work", {})
    worker.close()
    claim = hubs("@worker").claim()
    assert claim is not None and claim.id == sent.id


def test_the_registry_never_reclaims_leased_work(hubs: Callable[..., Hub],
                                                 clock: ManualClock) -> None:
    hubs("@boss").send("jobs", "work", {}, timeout_seconds=100)
    holder = hubs("@holder")
    holder.register(ttl=5)
    claim = holder.claim("jobs")
    assert claim is not None
    holder.deregister()
    clock.advance(50)
    assert hubs("@other").claim("jobs") is None
    holder.complete(claim.id, claim.token)
