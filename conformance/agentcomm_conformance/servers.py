"""Private Redis servers for tests and the conformance suite.

A test that talks to Redis needs a server of its own: one it may kill, pause and restart,
whose data lives in the test's temporary directory, on a port nobody else uses (never
6379, never a shared instance that a FLUSHALL could wreck).  ``RedisServer`` runs a real
``redis-server`` process that way; ``FakeRedisServer`` serves fakeredis over TCP, so that
several OS processes can share one fake Redis when no binary is installed.

Only the standard library is imported here: this module ships with the conformance
package, whose base install has neither redis-py nor fakeredis.  Neither pytest: the
one helper that speaks pytest's language imports it when called.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 10.0  # seconds; a loaded CI machine starts redis-server in well under one
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
POLL_INTERVAL = 0.02  # seconds between two readiness probes
LOG_TAIL_LINES = 20
FALLBACK_BINARY_DIRS = ("/usr/bin", "/usr/sbin")  # Debian's package, when PATH lacks sbin


def redis_server_binary() -> str | None:
    """The ``redis-server`` to run, or None when this machine has none."""
    return _find_program("redis-server")


def openssl_binary() -> str | None:
    """The ``openssl`` command line tool that makes a TLS server's certificates, or None."""
    return _find_program("openssl")


def _find_program(name: str) -> str | None:
    """``shutil.which``, also looking where Debian installs daemons, which PATH may omit."""
    found = shutil.which(name)
    if found is not None:
        return found
    for directory in FALLBACK_BINARY_DIRS:
        candidate = Path(directory, name)
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require_redis_server() -> str:
    """The ``redis-server`` path for a test that needs one, else skip the test.

    Under CI (``CI=true``) a missing server fails the test instead: CI installs one, so
    its absence there is a broken setup, which a skip would hide.
    """
    return _require_program("redis-server", redis_server_binary())


def require_openssl() -> str:
    """The ``openssl`` path for a TLS test; the policy of ``require_redis_server``."""
    return _require_program("openssl", openssl_binary())


def _require_program(name: str, found: str | None) -> str:
    if found is not None:
        return found
    import pytest  # only here: the module itself must not depend on pytest

    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} is not installed, and CI=true: CI must provide it", pytrace=False)
    pytest.skip(f"{name} is not installed (Debian: apt-get install {name})")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago.

    The port is released before the caller binds it, so another process may take it in
    between; ``RedisServer`` retries with a new port when that happens.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def redis_url(
    port: int,
    *,
    tls: bool = False,
    username: str | None = None,
    password: str | None = None,
    db: int = 0,
) -> str:
    """A redis-py URL for a loopback server; credentials are percent-encoded."""
    scheme = "rediss" if tls else "redis"
    credentials = ""
    if username is not None or password is not None:
        user = urllib.parse.quote(username or "", safe="")
        secret = urllib.parse.quote(password or "", safe="")
        credentials = f"{user}:{secret}@" if password is not None else f"{user}@"
    return f"{scheme}://{credentials}{LOOPBACK}:{port}/{db}"


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1, its files in ``directory``.

    By default every write is appended to the append-only file and fsynced before the
    reply (``appendfsync always``), so a test may SIGKILL the server and ``restart()`` it
    to check what survived.  No RDB snapshot is ever taken (``save ""``): what a restart
    reloads is exactly the append-only file, in whichever layout this Redis writes it
    (one ``appendonly.aof`` before Redis 7, an ``appendonlydir`` with a manifest since).
    """

    def __init__(
        self,
        *,
        directory: Path,
        port: int | None = None,
        appendonly: bool = True,
        appendfsync: str = "always",
        password: str | None = None,
        acl_lines: list[str] | None = None,
        tls: bool = False,
        binary: str | None = None,
        config: dict[str, str] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.config = dict(config or {})  # more directives: {"key-load-delay": "100"}
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.password = password
        self.acl_lines = list(acl_lines) if acl_lines is not None else None
        self.tls = tls
        self._binary = binary
        self._port = port if port is not None else free_port()
        self._port_may_change = port is None  # until the first start succeeds
        self._process: subprocess.Popen[bytes] | None = None
        self._paused = False
        _check_acl_password(password, self.acl_lines)

    # -- where to reach it ------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (``rediss://`` with TLS), with the password if any."""
        return self.url_for(password=self.password)

    def url_for(self, username: str | None = None, password: str | None = None) -> str:
        """The URL as one of the ACL users, e.g. ``url_for("alice", "secret")``."""
        return redis_url(self._port, tls=self.tls, username=username, password=password)

    @property
    def pid(self) -> int:
        return self._running().pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def log_file(self) -> Path:
        return self.directory / "redis.log"

    @property
    def output_file(self) -> Path:
        """The server's stdout and stderr: config errors land here, before the log opens."""
        return self.directory / "redis.out"

    @property
    def acl_file(self) -> Path:
        return self.directory / "users.acl"

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate a TLS client must trust (``ssl_ca_certs``); None without TLS."""
        return self.directory / "tls" / "ca.crt" if self.tls else None

    def append_only_files(self) -> list[Path]:
        """The files a restart reloads, in either AOF layout (Redis 7's directory or one file)."""
        layouts = [
            *sorted(self.directory.glob("appendonlydir/*")),
            *sorted(self.directory.glob("appendonly.aof")),
        ]
        return [path for path in layouts if path.is_file()]

    # -- life cycle -------------------------------------------------------------------

    def start(self) -> None:
        """Launch the server and return once it answers, its data loaded.

        When the port was chosen here and someone else took it meanwhile, start again
        on a new one; any other failure raises RuntimeError with the server's own words.
        """
        if self.running:
            raise RuntimeError(f"redis-server is already running on port {self._port}")
        self._prepare_files()
        for _ in range(3):
            log_offset = _size(self.log_file)
            self._launch()
            try:
                self._wait_until_ready(log_offset)
            except _PortTakenError:
                self._port = free_port()
                continue
            self._port_may_change = False
            return
        raise RuntimeError("redis-server found no free port in three attempts")

    def stop(self) -> None:
        """SIGTERM, so the server closes its files cleanly; SIGKILL if it lingers."""
        process = self._process
        if process is None:
            return
        self.resume()  # a stopped process would hold the SIGTERM until continued
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_GRACE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would: nothing is flushed that was not already."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None
        self._paused = False

    def restart(self) -> None:
        """Start again on the same port and directory, reloading the append-only file."""
        self.stop()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: the server still accepts connections but never answers, like a cut link."""
        os.kill(self._running().pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT after ``pause()``; a no-op otherwise."""
        if self._paused and self.running:
            os.kill(self._running().pid, signal.SIGCONT)
        self._paused = False

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

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.url_for()} {state} in {self.directory}>"

    # -- internals --------------------------------------------------------------------

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            raise RuntimeError("redis-server is not running")
        return self._process

    def _prepare_files(self) -> None:
        """Write what the command line points at: the ACL file, the TLS certificates."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.acl_lines is not None:
            lines = _acl_file_lines(self.acl_lines, self.password)
            self.acl_file.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        if self.tls and not (self.directory / "tls" / "server.crt").exists():
            make_certificates(self.directory / "tls")

    def _launch(self) -> None:
        binary = self._binary or redis_server_binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        with self.output_file.open("ab") as output:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                [binary, *self._arguments()],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                preexec_fn=_die_with_parent,
            )

    def _arguments(self) -> list[str]:
        """The configuration, all on the command line: no redis.conf is read."""
        arguments = [
            "--bind",
            LOOPBACK,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(self.directory),
            "--logfile",
            str(self.log_file),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            *self._port_arguments(),
        ]
        for name, value in self.config.items():
            arguments += [f"--{name}", value]
        if self.acl_lines is not None:
            arguments += ["--aclfile", str(self.acl_file)]
        elif self.password is not None:
            arguments += ["--requirepass", self.password]
        return arguments

    def _port_arguments(self) -> list[str]:
        if not self.tls:
            return ["--port", str(self._port)]
        tls = self.directory / "tls"
        return [
            "--port",
            "0",
            "--tls-port",
            str(self._port),
            "--tls-cert-file",
            str(tls / "server.crt"),
            "--tls-key-file",
            str(tls / "server.key"),
            "--tls-ca-cert-file",
            str(tls / "ca.crt"),
            "--tls-auth-clients",
            "no",
        ]

    def _wait_until_ready(self, log_offset: int) -> None:
        """Probe until the server answers, it exits, or the deadline passes."""
        process = self._running_or_failed(log_offset)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self._answers(process.pid):
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(
                    self._failure(f"no answer within {STARTUP_TIMEOUT} s", log_offset)
                )
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=POLL_INTERVAL)  # returns at once should it exit
            process = self._running_or_failed(log_offset)

    def _running_or_failed(self, log_offset: int) -> subprocess.Popen[bytes]:
        process = self._process
        assert process is not None
        code = process.poll()
        if code is None:
            return process
        self._process = None
        log = _tail(self.log_file, log_offset)
        if self._port_may_change and "Address already in use" in log:
            raise _PortTakenError(log)
        raise RuntimeError(self._failure(f"exited with status {code}", log_offset))

    def _failure(self, what: str, log_offset: int) -> str:
        return (
            f"redis-server on port {self._port} {what}\n"
            f"--- {self.output_file}\n{_tail(self.output_file, 0)}\n"
            f"--- {self.log_file}\n{_tail(self.log_file, log_offset)}"
        )

    def _answers(self, pid: int) -> bool:
        """Whether this very process (not another server on the port) answers, loaded.

        ``INFO server`` names the process and, unlike PING, answers while the data is
        still loading; the trailing QUIT makes the server hang up once it has replied.
        """
        commands = [_resp("INFO", "server"), _resp("INFO", "persistence"), _resp("QUIT")]
        if self.password is not None:
            commands.insert(0, _resp("AUTH", self.password))
        try:
            with self._probe_connection() as connection:
                connection.sendall(b"".join(commands))
                reply = _read_until_closed(connection)
        except OSError:  # refused, reset, or TLS not up yet
            return False
        return _is_ready(reply, pid)

    @contextlib.contextmanager
    def _probe_connection(self) -> Iterator[socket.socket]:
        raw = socket.create_connection((LOOPBACK, self._port), timeout=0.5)
        try:
            if self.ca_file is None:
                yield raw
            else:
                context = ssl.create_default_context(cafile=str(self.ca_file))
                with context.wrap_socket(raw, server_hostname=LOOPBACK) as wrapped:
                    yield wrapped
        finally:
            raw.close()


class _PortTakenError(Exception):
    """Another process bound the port between ``free_port()`` and the server's bind."""


def _check_acl_password(password: str | None, acl_lines: list[str] | None) -> None:
    """With an ACL file the password is written into it, and that file splits at spaces."""
    if password is not None and acl_lines is not None and any(c.isspace() for c in password):
        raise ValueError("with acl_lines, the password must not contain whitespace")


def _acl_file_lines(acl_lines: list[str], password: str | None) -> list[str]:
    """The ACL file's lines, giving the default user the password when one is set.

    Redis ignores ``requirepass`` once an ACL file is loaded: the file defines the
    default user too, and leaves it without a password when the file does not mention it.
    """
    defines_default = any(line.split()[:2] == ["user", "default"] for line in acl_lines)
    if password is None or defines_default:
        return acl_lines
    return [f"user default on >{password} ~* &* +@all", *acl_lines]


def _resp(*words: str) -> bytes:
    """One command in the Redis protocol, safe for any byte in the arguments."""
    encoded = [word.encode() for word in words]
    parts = [b"*%d\r\n" % len(encoded)]
    parts += [b"$%d\r\n%s\r\n" % (len(word), word) for word in encoded]
    return b"".join(parts)


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it hangs up (the socket's timeout bounds each read)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _is_ready(reply: bytes, pid: int) -> bool:
    """Whether a probe's replies show server ``pid`` with its data loaded.

    A user the probe cannot authenticate as (an ACL file that disables the default user)
    gets NOAUTH or NOPERM for INFO: the server answers, which is all that can be known.
    """
    if b"process_id:%d\r\n" % pid in reply:
        return b"\r\nloading:0\r\n" in reply  # not Redis 7's "async_loading:0"
    return reply.startswith((b"-NOAUTH", b"-NOPERM", b"-WRONGPASS"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _tail(path: Path, offset: int) -> str:
    """The last lines written to ``path`` since ``offset``, for an error message."""
    try:
        with path.open("rb") as file:
            file.seek(offset)
            text = file.read().decode(errors="replace")
    except FileNotFoundError:
        return "(no such file)"
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:]) or "(empty)"


# -- TLS certificates -------------------------------------------------------------------

SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


def make_certificates(directory: Path) -> None:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost.

    Files: ``ca.crt``, ``ca.key``, ``server.crt``, ``server.key``.  The extensions are the
    ones strict verifiers demand (Python 3.13's default context sets VERIFY_X509_STRICT).
    EC keys, because generating them takes no noticeable time.
    """
    openssl = openssl_binary()
    if openssl is None:
        raise RuntimeError("openssl is not installed; a TLS server needs it for certificates")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "server.ext").write_text(SERVER_EXTENSIONS, encoding="ascii")
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        directory,
        openssl,
        "req",
        "-x509",
        *key,
        "-days",
        "2",
        "-subj",
        "/CN=agentcomm throwaway test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    )
    _openssl(
        directory,
        openssl,
        "req",
        "-new",
        *key,
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    )
    _openssl(
        directory,
        openssl,
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-days",
        "2",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-extfile",
        "server.ext",
        "-out",
        "server.crt",
    )


def _openssl(directory: Path, openssl: str, *arguments: str) -> None:
    result = subprocess.run(
        [openssl, *arguments],
        cwd=directory,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"openssl {arguments[0]} failed:\n{result.stderr.decode(errors='replace')}"
        )


# -- fakeredis over TCP -----------------------------------------------------------------


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


__all__ = [
    "FakeRedisServer",
    "RedisServer",
    "fakeredis_runs_lua",
    "free_port",
    "make_certificates",
    "openssl_binary",
    "redis_server_binary",
    "redis_url",
    "require_openssl",
    "require_redis_server",
]


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


def _die_with_parent() -> None:
    """In the child, before exec (Linux): a server outlives no test run, even one killed
    with SIGKILL, which runs no cleanup.  Elsewhere the server is stopped as usual."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
