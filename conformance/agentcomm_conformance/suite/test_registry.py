"""The agent registry and liveness (SPEC section REG).

Liveness is judged against the hub's clock: under ``manual_clock`` times are exact to the
millisecond (the precision the SQLite hub's DATETIME columns keep, COMPAT-003), on real
time they may stray by ``slack``.  Durations stay short so real time is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from agentcomm import AgentInfo, Hub
from agentcomm_conformance.expect import refused
from agentcomm_conformance.plugin import HubSession

Agents = Callable[..., Hub]
Elapse = Callable[[float], None]


@pytest.fixture
def hub_now(hub_session: HubSession) -> Callable[[], float]:
    """The hub's time: the suite's clock when the hub runs on it, else the system's."""
    clock = hub_session.clock
    return clock.now if clock is not None else time.time


@pytest.fixture
def slack(hub_session: HubSession) -> float:
    """How far a time read back may stray: a millisecond or two on the suite's clock."""
    return 0.002 if hub_session.clock is not None else 0.25


def entry(info: AgentInfo) -> tuple[object, ...]:
    """An entry without the fields computed as of the call (alive, seconds since heartbeat)."""
    return (
        info.agent_id,
        info.status,
        info.last_heartbeat,
        info.heartbeat_ttl,
        info.process_id,
        tuple(info.capabilities),
        info.current_load,
        info.max_concurrent,
    )


@pytest.mark.spec("REG-001")
def test_register_enters_the_agent_as_active_with_a_heartbeat_now(
    hub: Hub, agents: Agents, hub_now: Callable[[], float], slack: float
) -> None:
    info = hub.register()
    assert (info.agent_id, info.status, info.alive) == ("@tester", "active", True)
    assert info.last_heartbeat == pytest.approx(hub_now(), abs=slack)
    assert info.seconds_since_heartbeat == pytest.approx(0, abs=slack)
    assert (info.heartbeat_ttl, info.max_concurrent, info.current_load) == (60, 5, 0)
    assert (info.process_id, tuple(info.capabilities)) == (None, ())
    assert [entry(a) for a in agents().agents()] == [entry(info)]


@pytest.mark.spec("REG-001")
def test_capabilities_process_id_limits_and_ttl_round_trip(hub: Hub, agents: Agents) -> None:
    info = hub.register(
        capabilities=["validate_token", "process.data-v2"],
        process_id=4242,
        max_concurrent=3,
        ttl=15,
    )
    (listed,) = agents().agents()
    for found in (info, listed):
        assert tuple(found.capabilities) == ("validate_token", "process.data-v2")
        assert (found.process_id, found.max_concurrent, found.heartbeat_ttl) == (4242, 3, 15)


@pytest.mark.spec("REG-001", "REG-003")
@pytest.mark.capability("manual_clock")
def test_the_hub_default_heartbeat_ttl_is_sixty_seconds(hub: Hub, elapse: Elapse) -> None:
    hub.register()
    elapse(59.5)
    assert hub.agents()[0].alive
    elapse(0.5)
    assert not hub.agents()[0].alive


@pytest.mark.spec("REG-003")
@pytest.mark.parametrize(("age", "alive"), [(0, True), (0.5, True), (1, False), (1.5, False)])
def test_an_agent_is_alive_until_its_heartbeat_is_ttl_old(
    hub: Hub, elapse: Elapse, slack: float, age: float, alive: bool
) -> None:
    hub.register(ttl=1)
    elapse(age)
    (info,) = hub.agents()
    assert info.alive is alive
    assert info.seconds_since_heartbeat == pytest.approx(age, abs=slack)
    assert [a.agent_id for a in hub.agents(alive_only=True)] == (["@tester"] if alive else [])


@pytest.mark.spec("REG-002")
def test_heartbeats_keep_an_agent_alive_past_its_ttl(
    hub: Hub, elapse: Elapse, hub_now: Callable[[], float], slack: float
) -> None:
    hub.register(ttl=0.5)
    for _ in range(4):  # 1.2 s in all: dead long ago without the heartbeats
        elapse(0.3)
        info = hub.heartbeat()
        assert (info.status, info.alive) == ("active", True)
        assert info.last_heartbeat == pytest.approx(hub_now(), abs=slack)
    elapse(0.3)
    assert hub.agents()[0].alive


@pytest.mark.spec("REG-002")
def test_heartbeat_records_the_load_and_keeps_it_when_none_is_given(hub: Hub) -> None:
    hub.register()
    assert hub.heartbeat(load=3).current_load == 3
    assert hub.heartbeat().current_load == 3
    assert hub.agents()[0].current_load == 3


@pytest.mark.spec("REG-002")
def test_heartbeat_of_an_agent_that_never_registered_raises_not_found(agents: Agents) -> None:
    with refused("not_found") as r:
        agents("@ghost").heartbeat()
    assert "@ghost" in r.message
    assert agents().agents() == []


@pytest.mark.spec("REG-004")
def test_deregister_marks_the_agent_inactive_and_keeps_its_entry(hub: Hub, elapse: Elapse) -> None:
    hub.register()
    hub.deregister()
    elapse(1)
    (info,) = hub.agents()
    assert (info.agent_id, info.status, info.alive) == ("@tester", "inactive", False)
    assert hub.agents(alive_only=True) == []
    assert (hub.stats().agents_alive, hub.stats().agents_known) == (0, 1)


@pytest.mark.spec("REG-004")
def test_deregister_changes_only_the_status_and_load_and_twice_changes_nothing_more(
    hub: Hub, elapse: Elapse
) -> None:
    registered = hub.register(capabilities=["work"], process_id=7, max_concurrent=2, ttl=30)
    hub.heartbeat(load=1)
    beat = hub.agents()[0]
    elapse(5)
    hub.deregister()
    (gone,) = hub.agents()
    assert gone.status == "inactive" and not gone.alive
    assert (
        gone.last_heartbeat,
        gone.current_load,
        tuple(gone.capabilities),
        gone.process_id,
        gone.max_concurrent,
        gone.heartbeat_ttl,
    ) == (beat.last_heartbeat, 0, ("work",), 7, 2, registered.heartbeat_ttl)
    elapse(5)
    hub.deregister()
    assert [entry(a) for a in hub.agents()] == [entry(gone)]


@pytest.mark.spec("REG-004")
def test_deregistering_an_agent_without_an_entry_changes_nothing(hub: Hub) -> None:
    hub.deregister()
    assert hub.agents() == []


@pytest.mark.spec("REG-002")
def test_a_heartbeat_after_deregister_makes_the_agent_active_again(hub: Hub) -> None:
    hub.register()
    hub.deregister()
    assert hub.heartbeat().status == "active"
    assert hub.agents()[0].alive


@pytest.mark.spec("REG-001")
def test_registering_again_replaces_the_whole_entry(
    hub: Hub, elapse: Elapse, hub_now: Callable[[], float], slack: float
) -> None:
    hub.register(capabilities=["old"], process_id=1, max_concurrent=9, ttl=30)
    hub.heartbeat(load=4)
    elapse(0.5)
    info = hub.register(capabilities=["new"], process_id=2)
    assert (tuple(info.capabilities), info.process_id, info.current_load, info.status) == (
        ("new",),
        2,
        0,
        "active",
    )
    assert (info.max_concurrent, info.heartbeat_ttl) == (5, 60)
    assert info.last_heartbeat == pytest.approx(hub_now(), abs=slack)
    assert [entry(a) for a in hub.agents()] == [entry(info)]
    hub.deregister()
    assert (hub.register().status, hub.agents()[0].status) == ("active", "active")


@pytest.mark.spec("REG-003")
def test_agents_are_sorted_by_id_judged_as_of_the_call_and_counted(
    agents: Agents, elapse: Elapse
) -> None:
    for agent in ("@zed", "@amy", "@mia.worker"):
        agents(agent).register(ttl=1)
    elapse(0.5)
    agents("@mia.worker").heartbeat()
    elapse(0.6)
    monitor = agents()
    assert [a.agent_id for a in monitor.agents()] == ["@amy", "@mia.worker", "@zed"]
    assert [a.agent_id for a in monitor.agents(alive_only=True)] == ["@mia.worker"]
    stats = monitor.stats()
    assert (stats.agents_alive, stats.agents_known) == (1, 3)


@pytest.mark.spec("REG-004")
def test_a_deregistered_agents_inbox_waits_for_its_return(agents: Agents) -> None:
    worker = agents("@worker")
    worker.register()
    worker.deregister()
    sent = agents("@boss").send("@worker", "work", {})
    worker.close()
    claim = agents("@worker").claim()
    assert claim is not None and claim.id == sent.id
