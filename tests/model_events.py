"""The event rules of ``test_model.HubMachine``: publish, subscribe, unsubscribe, read."""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import rule

from model_support import EVENT_TYPES, MachineState, _event_view, agents
from spec_records import ModelEvent


class EventRules(MachineState):
    """Events go to every subscriber of their type, once each, in publish order (EVT-*)."""

    @rule(
        agent=agents,
        event_type=st.sampled_from(EVENT_TYPES),
        ttl=st.sampled_from([None, 0.75, 2.25, 10.25]),
        burst=st.integers(1, 3),
    )
    def publish(self, agent: str, event_type: str, ttl: float | None, burst: int) -> None:
        """A burst of events, so that reads often find several unread (ORD-002/003)."""
        for _ in range(burst):
            self._publish(agent, event_type, ttl)

    @rule(
        agent=agents,
        event_type=st.sampled_from(EVENT_TYPES),
        action=st.sampled_from(["read", "read", "subscribe", "unsubscribe"]),
        limit=st.integers(1, 3),
    )
    def follow_events(self, agent: str, event_type: str, action: str, limit: int) -> None:
        """EVT-002/003: join or leave a type, or read what is unread."""
        if action == "read":
            self._read_events(agent, limit)
        elif action == "subscribe":
            self.hubs[agent].subscribe(event_type)
            self.model.subscribe(agent, event_type)
        else:
            self.hubs[agent].unsubscribe(event_type)
            self.model.unsubscribe(agent, event_type)

    def _publish(self, agent: str, event_type: str, ttl: float | None) -> None:
        now = self.now
        event = self.hubs[agent].publish(event_type, {"at": now}, ttl=ttl)
        expected = ModelEvent(
            event.id, event_type, agent, {"at": now}, now, None if ttl is None else now + ttl
        )
        assert _event_view(event) == expected, "EVT-001: the published event"
        assert event.id not in {e.id for e in self.model.events}, "ENV-004: event id reused"
        self.model.events.append(expected)
        self.model.counters["published"] += 1

    def _read_events(self, agent: str, limit: int) -> None:
        """EVT-003: each subscriber gets each event once, in publish order."""
        seen = [_event_view(e) for e in self.hubs[agent].events(limit=limit)]
        expected, reading = self.model.read_events(agent, limit, self.now)
        assert seen == expected, f"EVT-003/ORD-002: {agent} read {seen}, spec {expected}"
        self.model.commit(reading)
