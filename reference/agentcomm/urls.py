"""``connect(url)``: the one way to open a hub.

* ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's form);
* ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS), options ``prefix``
  (key prefix), ``persistence`` (``warn``, ``require`` or ``ignore``: what to do when the
  server keeps no append-only file) and the TLS files ``ssl_ca_certs``, ``ssl_certfile``,
  ``ssl_keyfile``, ``ssl_cert_reqs``;
* ``fakeredis://[name]``: an in-memory fake Redis shared by the handles of this process
  only (for experiments and fast tests; agents in other processes cannot reach it);
* ``hybrid://[user:password@]host:port/db?audit=/path/audit.db``: Redis in real time,
  every change recorded in a SQLite audit file.

Other query parameters set ``HubSettings`` fields, for example
``sqlite:///hub.db?backoff_base=0.1&max_payload_bytes=65536``.
"""

from __future__ import annotations

import urllib.parse

from agentcomm.errors import ConfigurationError
from agentcomm.record import Record
from agentcomm.settings import HubSettings

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:  # the hubs are imported when one is opened, not by every command
    from pathlib import Path

    from agentcomm.api import Hub
    from agentcomm.clock import Clock

__all__ = ["ENV_AGENT", "ENV_URL", "HubURL", "connect", "fresh_url", "hub_class", "parse", "redact"]

ENV_URL = "AGENTCOMM_URL"
ENV_AGENT = "AGENTCOMM_AGENT"

_REDIS_OPTIONS = frozenset(
    {"prefix", "persistence", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs"}
)
BACKEND_OPTIONS: dict[str, frozenset[str]] = {
    "sqlite": frozenset(),
    "redis": _REDIS_OPTIONS,
    "rediss": _REDIS_OPTIONS,
    "fakeredis": frozenset({"prefix"}),
    "hybrid": _REDIS_OPTIONS | {"audit"},
}
"""Options of one backend, given as text in the URL's query next to ``HubSettings``."""

KINDS = {
    "sqlite": "sqlite",
    "redis": "redis",
    "rediss": "redis",
    "fakeredis": "redis",
    "hybrid": "hybrid",
}
"""URL scheme -> the kind of hub (SPEC CAP-001)."""


class HubURL(Record):
    """A parsed hub URL."""

    url: str
    scheme: str
    location: str
    """The SQLite file's path, or the server's ``host:port`` part."""
    settings: HubSettings
    options: dict[str, str]
    """Backend options (``BACKEND_OPTIONS``), as given."""

    @property
    def redacted(self) -> str:
        return redact(self.url)


def connect(
    url: str,
    *,
    agent: str | None = None,
    create: bool = False,
    clock: Clock | None = None,
) -> Hub:
    """Open the hub at ``url`` as ``agent`` (``None``: inspect and monitor only).

    ``create=True`` makes a new hub when none exists; without it a missing hub is an
    error, so a mistyped path or prefix never turns into a silently empty hub.
    """
    where = parse(url)
    opened = hub_class(where.scheme)  # a clear error when the backend's library is missing
    if where.scheme == "sqlite":
        from agentcomm.sqlite.hub import SqliteHub

        return SqliteHub(
            where.location, agent=agent, settings=where.settings, clock=clock, create=create
        )
    from agentcomm.redis.hub import RedisHub

    assert issubclass(opened, RedisHub)  # the Redis hub, or the hybrid hub built on it
    return opened(where, agent=agent, clock=clock, create=create)


def hub_class(scheme: str) -> type[Hub]:
    """The reference hub class a URL scheme opens."""
    if scheme == "sqlite":
        from agentcomm.sqlite.hub import SqliteHub

        return SqliteHub
    if scheme not in KINDS:
        raise ConfigurationError(f"unsupported hub URL scheme {scheme!r}")
    try:
        if scheme == "hybrid":
            from agentcomm.hybrid.hub import HybridHub

            return HybridHub
        from agentcomm.redis.hub import RedisHub

        return RedisHub
    except ImportError as exc:
        raise ConfigurationError(
            f"{scheme}:// hubs need redis-py ({exc}): pip install 'agentcomm[redis]'"
        ) from None


def parse(url: str) -> HubURL:
    """Split a hub URL into its scheme, location, settings and backend options."""
    if not isinstance(url, str) or "://" not in url:
        hint = f" (did you mean 'sqlite:///{url}'?)" if isinstance(url, str) and url else ""
        raise ConfigurationError(f"hub URL {url!r} has no scheme{hint}")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:  # the URL is not echoed: it may hold a password
        raise ConfigurationError(f"hub URL cannot be parsed: {exc}") from None
    if parts.scheme not in BACKEND_OPTIONS:
        known = ", ".join(f"{s}://" for s in BACKEND_OPTIONS)
        raise ConfigurationError(
            f"unsupported hub URL scheme {parts.scheme!r} in {redact(url)!r} (known: {known})"
        )
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = dict(pairs)
    if len(query) != len(pairs):
        raise ConfigurationError(f"hub URL {redact(url)!r} repeats a query option")
    own = BACKEND_OPTIONS[parts.scheme]
    for name in query.keys() - own:
        others = sorted(s for s, names in BACKEND_OPTIONS.items() if name in names)
        if others:
            raise ConfigurationError(
                f"hub option {name!r} is for {'/'.join(others)} URLs, "
                f"not {parts.scheme}:// ({redact(url)!r})"
            )
    options = {k: v for k, v in query.items() if k in own}
    settings = HubSettings.from_query({k: v for k, v in query.items() if k not in own})
    location = _sqlite_path(url, parts) if parts.scheme == "sqlite" else parts.netloc
    return HubURL(url, parts.scheme, location, settings, options)


def fresh_url(template: str, directory: Path) -> str:
    """A URL for a new, empty hub like ``template``'s, its files under ``directory``.

    SQLite: ``hub.db`` in ``directory``.  Redis: the template's server, under a new key
    prefix (the template's prefix plus a random part).  Hybrid: both, the audit file in
    ``directory``.  The template's other options are kept.
    """
    import uuid

    where = parse(template)
    base, _, query = template.partition("?")
    options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if where.scheme == "sqlite":
        base = "sqlite:///" + urllib.parse.quote(str((directory / "hub.db").absolute()))
    else:
        options["prefix"] = f"{where.options.get('prefix', '')}t{uuid.uuid4().hex[:12]}:"
    if where.scheme == "hybrid":
        options["audit"] = str((directory / "audit.db").absolute())
    query = urllib.parse.urlencode(options, safe=":/")
    return f"{base}?{query}" if query else base


def _sqlite_path(url: str, parts: urllib.parse.SplitResult) -> str:
    if parts.netloc:
        raise ConfigurationError(
            f"SQLite URL {redact(url)!r} names a host; "
            "use sqlite:///relative.db or sqlite:////abs.db"
        )
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
