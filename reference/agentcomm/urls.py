"""``connect(url)``: the one way to open a hub.

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` (SQLAlchemy's
convention) open the SQLite hub.  Query parameters set ``HubSettings`` fields, for
example ``sqlite:///hub.db?backoff_base=0.1&max_payload_bytes=65536``.
"""

from __future__ import annotations

import urllib.parse

from agentcomm.api import Hub
from agentcomm.clock import Clock
from agentcomm.errors import ConfigurationError
from agentcomm.settings import HubSettings

__all__ = ["ENV_AGENT", "ENV_URL", "connect", "redact"]

ENV_URL = "AGENTCOMM_URL"
ENV_AGENT = "AGENTCOMM_AGENT"


def connect(
    url: str,
    *,
    agent: str | None = None,
    create: bool = False,
    clock: Clock | None = None,
) -> Hub:
    """Open the hub at ``url`` as ``agent`` (``None``: inspect and monitor only).

    ``create=True`` makes a new hub when none exists; without it a missing hub is an
    error, so a mistyped path never turns into a silently empty hub.
    """
    scheme, path, settings = parse(url)
    if scheme == "sqlite":
        from agentcomm.sqlite.hub import SqliteHub

        return SqliteHub(path, agent=agent, settings=settings, clock=clock, create=create)
    raise ConfigurationError(f"unsupported hub URL scheme {scheme!r} in {redact(url)!r}")


def parse(url: str) -> tuple[str, str, HubSettings]:
    """Split a hub URL into its scheme, location and settings."""
    if not isinstance(url, str) or "://" not in url:
        hint = f" (did you mean 'sqlite:///{url}'?)" if isinstance(url, str) and url else ""
        raise ConfigurationError(f"hub URL {url!r} has no scheme{hint}")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # the URL is not echoed: it may hold a password
        raise ConfigurationError(f"hub URL cannot be parsed: {exc}") from None
    query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False))
    if len(query) != len(urllib.parse.parse_qsl(parts.query, keep_blank_values=True)):
        raise ConfigurationError(f"hub URL {redact(url)!r} repeats a query option")
    settings = HubSettings.from_query(query)
    if parts.scheme == "sqlite":
        return "sqlite", _sqlite_path(url, parts), settings
    return parts.scheme, parts.netloc, settings


def _sqlite_path(url: str, parts: urllib.parse.SplitResult) -> str:
    if parts.netloc:
        raise ConfigurationError(f"SQLite URL {redact(url)!r} names a host; "
                                 "use sqlite:///relative.db or sqlite:////abs.db")
    path = urllib.parse.unquote(parts.path)[1:]
    if not path:
        raise ConfigurationError(f"SQLite URL {redact(url)!r} names no file")
    return path


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, for error messages and logs."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    # String surgery rather than urlsplit, which raises on some malformed hosts.
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}"
