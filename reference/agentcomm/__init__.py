"""agentcomm: how parallel agents talk.  ``connect(url, agent=...)`` opens a hub."""

from agentcomm.api import Hub
from agentcomm.clock import Clock, ManualClock, SystemClock
from agentcomm.errors import (
    AgentCommError,
    AlreadyFinished,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    CorruptStore,
    DeadlineExceeded,
    InvalidInput,
    NotFound,
    StaleLease,
)
from agentcomm.models import (
    DEFAULT_QUEUE,
    AgentInfo,
    Claim,
    Event,
    Message,
    Outgoing,
    Priority,
    Reply,
    ReplyStatus,
    Stats,
    Status,
)
from agentcomm.settings import HubSettings
from agentcomm.urls import connect

__version__ = "0.1.0"  # the only place: pyproject.toml, --version and reports read it

__all__ = [
    "DEFAULT_QUEUE",
    "AgentCommError",
    "AgentInfo",
    "AlreadyFinished",
    "BackendUnavailable",
    "Claim",
    "Clock",
    "ConfigurationError",
    "Conflict",
    "CorruptStore",
    "DeadlineExceeded",
    "Event",
    "Hub",
    "HubSettings",
    "InvalidInput",
    "ManualClock",
    "Message",
    "NotFound",
    "Outgoing",
    "Priority",
    "Reply",
    "ReplyStatus",
    "StaleLease",
    "Stats",
    "Status",
    "SystemClock",
    "__version__",
    "connect",
]
