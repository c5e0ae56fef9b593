"""``FakeRedisServer``: fakeredis served over TCP, for machines without ``redis-server``.

Apart from the real server because it shares nothing with it but the URL: a thread of
this process, nothing on disk, and fakeredis imported only when it starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

from agentcomm_conformance.servers.programs import LOOPBACK, redis_url

__all__ = ["FakeRedisServer", "fakeredis_runs_lua"]


def fakeredis_runs_lua() -> bool:
    """Whether fakeredis can run EVAL: it needs ``lupa`` (``pip install 'fakeredis[lua]'``).

    Without it fakeredis still imports, and answers EVAL, EVALSHA and SCRIPT with
    "unknown command": a hub built on Lua scripts would fail far from the cause.
    """
    return importlib.util.find_spec("lupa") is not None


class FakeRedisServer:
    """fakeredis's ``TcpFakeServer`` on a free loopback port, served from a daemon thread.

    Unlike an in-process ``FakeRedis``, it is one server that several OS processes reach
    through ``url``, as they would a real one.  It lives as long as this process, and
    keeps nothing on disk: restarting it loses everything.
    """

    def __init__(self, *, require_lua: bool = True) -> None:
        self.require_lua = require_lua
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake Redis server is not started")
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return redis_url(self.port)

    def start(self) -> None:
        """Bind port 0 (the kernel picks a free one, no race) and serve in the background."""
        if self._server is not None:
            raise RuntimeError("the fake Redis server is already running")
        if self.require_lua and not fakeredis_runs_lua():
            raise RuntimeError(
                "fakeredis cannot run Lua scripts without lupa: pip install 'fakeredis[lua]'"
            )
        # Lazily, and by name: neither this module nor its type check may need fakeredis.
        fakeredis = importlib.import_module("fakeredis")
        self._server = fakeredis.TcpFakeServer((LOOPBACK, 0), server_type="redis")
        self._server.RequestHandlerClass = _keep_open_handler(self._server.RequestHandlerClass)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeredis:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, close the listening socket and every client, join the thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()  # sets fakeredis's own event too, which ends each client's loop
        server.server_close()  # joins the client threads
        if thread is not None:
            thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _keep_open_handler(base: Any) -> Any:
    """fakeredis 2.40's TCP handler closes the connection after any error reply (its
    fake connection raises the error, and the handler's loop ends on exceptions).  A real
    server answers ``-ERR`` and goes on; so does this handler, which hands the error back
    to be written as a reply instead."""

    class KeepOpenHandler(base):  # type: ignore[misc]
        def setup(self) -> None:
            super().setup()
            read = self.current_client.read_response

            def read_keeping_errors(*args: Any, **kwargs: Any) -> Any:
                try:
                    return read(*args, **kwargs)
                except importlib.import_module("redis").ResponseError as exc:
                    return exc

            self.current_client.read_response = read_keeping_errors

    return KeepOpenHandler
