"""The checks ``test_model.HubMachine`` makes after every step: the whole hub agrees
with the model (the statements they assert are listed in ``test_model.py``'s docstring).
"""

from __future__ import annotations

import functools

from agentcomm import Message, NotFound
from model_support import UNKNOWN_ID, MachineState, _attempt, _nonzero, _same_outcome
from spec_model import COUNTERS
from spec_records import UNKNOWN, ModelMessage, Unknown


class ModelChecks(MachineState):
    """Each check reads the whole hub through the monitor and compares it with the model."""

    def no_message_is_lost_and_each_reads_as_the_spec_says(self) -> None:
        """Adopting, where the spec allows the hub a choice, the one it made."""
        for m in list(self.model.messages.values()):
            outcome, seen = _attempt(functools.partial(self.monitor.get, m.id))
            assert outcome is None and seen is not None, f"MSG-001: message {m.id} is lost"
            if m.differences(seen):
                self._adopt_a_spontaneous_change(m, seen)
        for message_id in self.model.purged:
            outcome, _ = _attempt(functools.partial(self.monitor.get, message_id))
            _same_outcome(outcome, NotFound, f"get of purged message {message_id}")

    def _adopt_a_spontaneous_change(self, m: ModelMessage, seen: Message) -> None:
        for change in self.model.spontaneous(m, self.now):
            if not change.message.differences(seen):
                self.model.apply(change)
                return
        raise AssertionError(f"message {m.id} at {self.now}: {m.differences(seen)}")

    def replies_are_bound_to_their_messages(self) -> None:
        """REQ-002/005: ``get_reply`` finds the one reply by its message id."""
        for message_id, bound in self.model.replies.items():
            answer = self.monitor.get_reply(message_id)
            seen: tuple[str | Unknown, str, str] | None = None
            if answer is not None:  # the hub's answer's id is the hub's choice (REQ-007)
                seen = (
                    UNKNOWN if bound[0] is UNKNOWN else answer.id,
                    answer.from_agent,
                    answer.status.value,
                )
            assert seen == bound, f"REQ-002: get_reply({message_id}) {seen}, spec {bound}"
        unanswered = next(
            (m.id for m in self.model.messages.values() if m.id not in self.model.replies), None
        )
        if unanswered is not None:
            assert self.monitor.get_reply(unanswered) is None, "REQ-005: null before a reply"
        outcome, _ = _attempt(lambda: self.monitor.get_reply(UNKNOWN_ID))
        _same_outcome(outcome, NotFound, "get_reply(unknown id)")

    def retries_are_bounded(self) -> None:
        """RETRY-001 (the hub's ``retry_count`` agrees with the model's, checked above)."""
        for m in self.model.messages.values():
            assert m.retry_count <= m.max_retries, f"RETRY-001: {m.id} retried past its budget"
            assert m.deliveries <= m.max_retries + 1, f"RETRY-001: {m.id} delivered too often"

    def dead_letters_are_listed_in_the_order_they_died(self) -> None:
        listed = [m.id for m in self.monitor.dead_letters(limit=100)]
        expected = self.model.dead_letters()
        assert sorted(listed) == sorted(m.id for m in expected), "DLQ-001: the dead letters"
        epochs = [self._known(i).dead_epoch or 0 for i in listed]
        assert epochs == sorted(epochs), f"DLQ-001: {listed} are not in the order they died"

    def stats_depths_and_counters_agree(self) -> None:
        stats = self.monitor.stats()
        assert _nonzero(stats.depths) == _nonzero(self.model.depths()), "PRIO-003: depths"
        counters = {name: stats.counters.get(name, 0) for name in COUNTERS}
        assert counters == {name: self.model.counters[name] for name in COUNTERS}, (
            "PRIO-004: lifetime counters"
        )

    def subscriptions_agree(self) -> None:
        for agent, hub in self.hubs.items():
            assert hub.subscriptions() == self.model.subscriptions(agent), "EVT-002"

    def _known(self, message_id: str) -> ModelMessage:
        found = self.model.find(message_id)
        assert found is not None, message_id
        return found
