"""agentcomm: how parallel agents talk.  ``connect(url, agent=...)`` opens a hub.

The public names are loaded on first use (PEP 562), so that ``import agentcomm.errors``
or a command line that needs only part of the package does not pay for all of it.
"""

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any

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
del TYPE_CHECKING  # not a public name of the package

__version__ = "0.1.0"  # the only place: pyproject.toml, --version and reports read it

_HOMES = {
    "agentcomm.api": ("Hub",),
    "agentcomm.clock": ("Clock", "ManualClock", "SystemClock"),
    "agentcomm.errors": (
        "AgentCommError",
        "AlreadyFinished",
        "BackendUnavailable",
        "ConfigurationError",
        "Conflict",
        "CorruptStore",
        "DeadlineExceeded",
        "InvalidInput",
        "NotFound",
        "StaleLease",
    ),
    "agentcomm.models": (
        "DEFAULT_QUEUE",
        "AgentInfo",
        "Claim",
        "Event",
        "Message",
        "Outgoing",
        "Priority",
        "Reply",
        "ReplyStatus",
        "Stats",
        "Status",
    ),
    "agentcomm.settings": ("HubSettings",),
    "agentcomm.urls": ("connect",),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}

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


def __getattr__(name: str) -> "Any":
    """Load a public name from its module the first time it is asked for."""
    home = _HOME_OF.get(name)
    if home is None:
        raise AttributeError(f"module 'agentcomm' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
