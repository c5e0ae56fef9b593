"""``--impl`` naming this project's own hubs: a hub URL or a bare scheme (``sqlite:``)."""

from __future__ import annotations

import shutil
import tempfile
import urllib.parse
from pathlib import Path

import agentcomm
from agentcomm import Clock, Hub, connect
from agentcomm.errors import ConfigurationError
from agentcomm.urls import KINDS, fresh_url, hub_class
from agentcomm_conformance.servers import FakeRedisServer, RedisServer
from agentcomm_conformance.targets.in_process import InProcessTarget


class ReferenceTarget(InProcessTarget):
    """This project's own hubs, by URL template.

    A template without a server (``redis:``, ``hybrid:``) gets a private ``redis-server``
    for the run; ``fakeredis:`` gets an in-memory fake Redis served on a loopback port, so
    that racer and driver processes reach it too.  Each hub is a fresh key prefix.
    """

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.server: RedisServer | FakeRedisServer | None = None
        self.template = self._template(spec)
        self.kind = KINDS.get(urllib.parse.urlsplit(self.template).scheme, "other")
        probe = hub_class(urllib.parse.urlsplit(self.template).scheme)
        self.name = "agentcomm-reference"
        self.version = agentcomm.__version__
        self.capabilities = frozenset(probe.capabilities)

    def _template(self, spec: str) -> str:
        if "://" in spec:
            return spec
        head, mark, query = spec.partition("?")
        scheme = head.rstrip(":")
        if scheme == "sqlite":
            return f"sqlite:///hub.db{mark}{query}"
        if scheme == "fakeredis":
            self.server = FakeRedisServer()
            try:
                self.server.start()
            except (ImportError, RuntimeError) as exc:
                raise ConfigurationError(
                    f"--impl fakeredis: needs fakeredis with Lua ({exc}):"
                    " pip install 'agentcomm[redis]'"
                ) from None
            return f"{self.server.url}?persistence=ignore" + (f"&{query}" if query else "")
        if scheme in {"redis", "hybrid"}:
            self.server = RedisServer(directory=Path(tempfile.mkdtemp(prefix="agentcomm-redis-")))
            try:
                self.server.start()
            except RuntimeError as exc:  # no binary, or it would not start
                raise ConfigurationError(
                    f"--impl {scheme}: cannot start a private redis-server: {exc}"
                ) from None
            url = self.server.url.replace("redis://", f"{scheme}://", 1)
            return url + (f"?{query}" if query else "")
        raise ConfigurationError(
            f"--impl {spec!r}: no reference hub for {scheme!r} "
            "(sqlite:, redis:, fakeredis:, hybrid: or a hub URL)"
        )

    @property
    def racer_spec(self) -> str:
        return self.template

    def new_hub(self, workdir: Path) -> str:
        url = fresh_url(self.template, workdir)
        connect(url, create=True).close()
        return url

    def open(self, hub: str, agent: str | None, clock: Clock | None) -> Hub:
        return connect(hub, agent=agent, clock=clock)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            if isinstance(self.server, RedisServer):  # its directory is ours: leave nothing
                shutil.rmtree(self.server.directory, ignore_errors=True)
            self.server = None
