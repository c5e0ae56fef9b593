"""``RedisServer``: a real ``redis-server`` process of a test's own.

Its start, stop, kill, pause and restart, its command line (no redis.conf is read) and
its ACL file.  Whether it answers is ``probe.py``'s question, and the certificates a TLS
server needs are ``tls.py``'s: each is a concern of its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self

from agentcomm_conformance.servers import probe, programs
from agentcomm_conformance.servers.programs import LOOPBACK, redis_url
from agentcomm_conformance.servers.tls import make_certificates

__all__ = ["RedisServer"]

STARTUP_TIMEOUT = 10.0  # seconds; a loaded CI machine starts redis-server in well under one
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
POLL_INTERVAL = 0.02  # seconds between two readiness probes
LOG_TAIL_LINES = 20


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
        self._port = port if port is not None else programs.free_port()
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
                self._port = programs.free_port()
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
        binary = self._binary or programs.redis_server_binary()
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
        """Whether this very process (not another server on the port) answers, loaded."""
        return probe.answers(self._port, pid, password=self.password, ca_file=self.ca_file)


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


def _die_with_parent() -> None:
    """In the child, before exec (Linux): a server outlives no test run, even one killed
    with SIGKILL, which runs no cleanup.  Elsewhere the server is stopped as usual."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
