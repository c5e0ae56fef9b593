"""What every subcommand shares: the session (hub URL and agent), JSON out, payloads in."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable
from types import TracebackType

from agentcomm.cli.command import UsageError
from agentcomm.cli.exits import NothingThere
from agentcomm.errors import AgentCommError, ConfigurationError, InvalidInput
from agentcomm.urls import ENV_AGENT, ENV_URL

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from typing import Any, BinaryIO, Protocol, TextIO

    from agentcomm.api import Hub
    from agentcomm.models import Claim
else:
    Protocol = object  # HubOpener is a type for checkers only


class HubOpener(Protocol):
    """Opens (or hands out an already open) hub; a shell session keeps them open."""

    def __call__(self, url: str, agent: str | None, *, create: bool) -> Hub: ...


PRIORITIES = ("low", "normal", "high", "0", "1", "2")


class Session:
    """The global options, resolved lazily: ``demo`` and ``--help`` need no hub."""

    # not a dataclass: see command.Command
    def __init__(
        self,
        url: str | None,
        agent: str | None,
        *,
        agent_given: bool = False,  # --agent on the command line, not just AGENTCOMM_AGENT
        url_given: bool = False,  # --url on the command line, not just AGENTCOMM_URL
        opener: HubOpener | None = None,  # a shell session's open hubs, kept across commands
    ) -> None:
        self.url, self.agent, self.opener = url, agent, opener
        self.agent_given, self.url_given = agent_given, url_given
        self.closing: list[Callable[[], None]] = []  # what the command opened

    @classmethod
    def from_options(
        cls, url: str | None, agent: str | None, opener: HubOpener | None = None
    ) -> Session:
        """The global options as parsed (None: not given), else the environment's."""
        return cls(
            url=url if url is not None else os.environ.get(ENV_URL) or None,
            agent=agent if agent is not None else os.environ.get(ENV_AGENT) or None,
            agent_given=agent is not None,
            url_given=url is not None,
            opener=opener,
        )

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close what the command opened (nothing a shell session keeps)."""
        while self.closing:
            self.closing.pop()()

    def hub(self, *, agent: str | None = None, create: bool = False) -> Hub:
        """Open the hub for the running command; it is closed when the command ends
        (in a shell session it stays open for the next one).

        ``agent`` (``agent run ID``) overrides AGENTCOMM_AGENT but must match --agent.
        """
        if agent and self.agent_given and agent != self.agent:
            raise ConfigurationError(f"agent {agent!r} conflicts with --agent {self.agent!r}")
        if self.opener is not None:
            return self.opener(self.require_url(), agent or self.agent, create=create)
        from agentcomm.urls import connect

        hub = connect(self.require_url(), agent=agent or self.agent, create=create)
        self.closing.append(hub.close)
        return hub

    def require_url(self) -> str:
        if not self.url:
            raise ConfigurationError(
                f"no hub URL: pass --url or set {ENV_URL} (e.g. sqlite:///agents.db)"
            )
        return self.url


def dumps(value: Any) -> str:
    """One line of JSON; models become plain values, text stays UTF-8 (no \\u escapes)."""
    from agentcomm.models import as_json  # not at start: --version and shell-lib need none

    return json.dumps(as_json(value), ensure_ascii=False, allow_nan=False)


def emit(value: Any) -> None:
    """Print one JSON document on stdout."""
    _write_line(sys.stdout, dumps(value).encode("utf-8"))


def echo(text: str, *, err: bool = False) -> None:
    """Print a line of text on stdout (or stderr)."""
    _write_line(sys.stderr if err else sys.stdout, text.encode("utf-8"))


def _write_line(stream: TextIO, data: bytes) -> None:
    """``data`` and a newline, as UTF-8 whatever the locale says, after whatever text was
    printed before (pytest's, under ``conformance``)."""
    stream.flush()
    stream.buffer.write(data + b"\n")
    stream.buffer.flush()


def emit_found(value: Any) -> None:
    """Print ``value``; exit 3 when it is empty (nothing there yet)."""
    emit(value)
    if value is None or value == []:
        raise NothingThere


def report_error(exc: AgentCommError) -> None:
    _err_line({"error": exc.code, "message": str(exc), "definite": exc.definite})


def _err_line(document: dict[str, Any]) -> None:
    _write_line(sys.stderr, dumps(document).encode("utf-8"))


def show_warnings_as_json() -> None:
    """Print warnings as one JSON line on stderr (``{"warning": code, "message": ...}``),
    never Python's two lines with a source line: stderr stays machine-readable."""
    warnings.showwarning = _warning_line


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    code = getattr(category, "code", category.__name__)
    _err_line({"warning": code, "message": str(message)})


def claim_json(claim: Claim) -> dict[str, Any]:
    """A claim as the message's fields plus what it takes to finish it."""
    from agentcomm.models import as_json

    fields: dict[str, Any] = as_json(claim.message)
    return {**fields, "token": claim.token, "lease_expires_at": claim.lease_expires_at}


def read_payload(hub: Hub, argument: str | None) -> Any:
    """The JSON payload from the argument, or from stdin when it is ``-``.

    Stdin is read only when asked for: a command in a ``while read`` loop must not
    swallow the loop's own input because its payload was forgotten.
    """
    from agentcomm import validation as v

    if argument is None:
        raise UsageError(
            "no payload: give it as JSON text, e.g. '{}', or as - to read it from stdin"
        )
    limit = hub.settings.max_payload_bytes
    text = stdin_text(limit, "payload") if argument == "-" else argument
    return v.parse_payload_text(text, limit)


def stdin_stream() -> BinaryIO:
    """Stdin, for an argument given as ``-``; a terminal is a usage error, not a hang."""
    stream: BinaryIO = sys.stdin.buffer
    if stream.isatty():
        raise UsageError("- reads stdin, but stdin is a terminal: pipe the input in")
    return stream


def stdin_text(limit: int, what: str) -> str:
    """At most ``limit`` bytes of UTF-8 text from stdin (more is invalid input)."""
    data = stdin_stream().read(limit + 1)  # never read more than may be used
    if len(data) > limit:
        raise InvalidInput(f"{what} on stdin is over the limit of {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} on stdin is not UTF-8: {exc}") from None


def add_payload(parser: argparse.ArgumentParser) -> None:
    """The ``PAYLOAD`` argument: JSON text, or ``-`` for stdin.  Optional for argparse so
    that a missing one gets read_payload's clearer message (and ``send --jsonl``)."""
    parser.add_argument("payload", nargs="?")


def add_priority(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--priority",
        type=str.lower,  # HIGH is high
        choices=PRIORITIES,
        default="normal",
        help="Served strictly highest first.  [default: %(default)s]",
    )
