"""The hubs a session keeps open, one per (URL, agent), for the commands it runs.

A command must see what a fresh ``agentcomm`` process would: if the SQLite file (or a
hybrid hub's audit file) was deleted or replaced since the hub was opened, the open
handle would go on writing into the old file, so it is closed and the hub opened again,
which fails as the command line would (no hub: exit 4).
"""

from __future__ import annotations

import contextlib
import functools
import os

from agentcomm.urls import connect, parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from agentcomm.api import Hub

FileIdentity = tuple[int, int] | None


class OpenHubs:
    """``open_hubs(url, agent, create=...)``: the cached hub, or a newly opened one."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str | None], tuple[Hub, FileIdentity]] = {}

    def __call__(self, url: str, agent: str | None, *, create: bool) -> Hub:
        key = (url, agent)
        if key in self._open:
            hub, identity = self._open[key]
            if _identity(url) == identity:
                return hub
            self._close(key)
        hub = connect(url, agent=agent, create=create)
        self._open[key] = (hub, _identity(url))
        return hub

    def close(self) -> None:
        for key in list(self._open):
            self._close(key)

    def _close(self, key: tuple[str, str | None]) -> None:
        hub, _ = self._open.pop(key)
        with contextlib.suppress(Exception):  # closing a handle to a vanished file
            hub.close()


def _identity(url: str) -> FileIdentity:
    """(device, inode) of the file the hub lives in; None for a server, or no file."""
    path = _hub_file(url)
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


@functools.lru_cache(maxsize=64)
def _hub_file(url: str) -> str | None:
    where = parse(url)
    if where.scheme == "sqlite":
        return where.location
    return where.options.get("audit") if where.scheme == "hybrid" else None
