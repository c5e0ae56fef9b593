"""A message to send, validated and in the form backends store (``Hub.send``, ``send_many``)."""

from __future__ import annotations

from agentcomm import validation as v
from agentcomm.models import Message, Outgoing, Priority, Status
from agentcomm.settings import HubSettings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any

__all__ = ["PreparedMessage", "payloads"]


class PreparedMessage:
    """A validated outgoing message, in the form backends store."""

    __slots__ = (
        "correlation_id",
        "expires_at",
        "max_retries",
        "payload_json",
        "priority",
        "timeout_seconds",
        "to",
        "type",
    )

    def __init__(self, item: Outgoing, settings: HubSettings, now: float) -> None:
        self.to = v.check_target(item.to, "to")
        self.type = v.check_message_type(item.type, "type")
        self.payload_json = v.encode_payload(item.payload, settings.max_payload_bytes)
        self.priority = Priority.parse(item.priority)
        timeout = settings.default_timeout if item.timeout_seconds is None else item.timeout_seconds
        self.timeout_seconds = v.check_seconds("timeout_seconds", timeout)
        retries = settings.default_max_retries if item.max_retries is None else item.max_retries
        self.max_retries = v.check_max_retries(retries)
        cid = item.correlation_id
        self.correlation_id = None if cid is None else v.check_correlation_id(cid, "correlation_id")
        expires = item.expires_in
        self.expires_at = None if expires is None else now + v.check_seconds("expires_in", expires)

    def sent(
        self,
        message_id: str,
        sender: str,
        created_at: float,
        available_at: float,
        expires_at: float | None,
        payload: Any,
    ) -> Message:
        """The message as a backend stored it: pending, with the times as it reads them
        back, and ``payload`` as a reader gets it (``payloads``)."""
        return Message._unchecked(
            {
                "id": message_id,
                "from_agent": sender,
                "to_agent": self.to,
                "type": self.type,
                "payload": payload,
                "status": Status.PENDING,
                "priority": self.priority,
                "created_at": created_at,
                "timeout_seconds": self.timeout_seconds,
                "retry_count": 0,
                "max_retries": self.max_retries,
                "correlation_id": self.correlation_id,
                "expires_at": expires_at,
                "available_at": available_at,
                "claimed_by": None,
                "last_error": None,
                "reply_id": None,
            }
        )


def payloads(items: list[PreparedMessage]) -> list[Any]:
    """The payloads of ``items`` as a reader gets them back, read back from their JSON (a
    fresh copy, as stored), in one parse for a batch."""
    return v.decode_payloads([m.payload_json for m in items])
