"""What every subcommand shares: the session (hub URL and agent), JSON out, payloads in."""

from __future__ import annotations

import dataclasses
import json
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, TextIO, TypeVar

import click

from agentcomm.cli.exits import NothingThere
from agentcomm.errors import AgentCommError, ConfigurationError, InvalidInput
from agentcomm.urls import ENV_URL

if TYPE_CHECKING:
    from agentcomm.api import Hub
    from agentcomm.models import Claim

F = TypeVar("F", bound=Callable[..., Any])


class HubOpener(Protocol):
    """Opens (or hands out an already open) hub; a shell session keeps them open."""

    def __call__(self, url: str, agent: str | None, *, create: bool) -> Hub: ...


PRIORITIES = ("low", "normal", "high", "0", "1", "2")


@dataclasses.dataclass
class Session:
    """The global options, resolved lazily: ``demo`` and ``--help`` need no hub."""

    url: str | None
    agent: str | None
    agent_given: bool = False  # --agent on the command line, not just AGENTCOMM_AGENT
    url_given: bool = False  # --url on the command line, not just AGENTCOMM_URL
    opener: HubOpener | None = None  # a shell session's open hubs, reused across commands

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
        click.get_current_context().call_on_close(hub.close)
        return hub

    def require_url(self) -> str:
        if not self.url:
            raise ConfigurationError(
                f"no hub URL: pass --url or set {ENV_URL} (e.g. sqlite:///agents.db)"
            )
        return self.url


pass_session = click.make_pass_decorator(Session)


def dumps(value: Any) -> str:
    """One line of JSON; models become plain values, text stays UTF-8 (no \\u escapes)."""
    from agentcomm.models import as_json  # not at start: --version and shell-lib need none

    return json.dumps(as_json(value), ensure_ascii=False, allow_nan=False)


def emit(value: Any) -> None:
    """Print one JSON document on stdout, as UTF-8 whatever the locale says."""
    out = sys.stdout.buffer
    out.write(dumps(value).encode("utf-8") + b"\n")
    out.flush()


def emit_found(value: Any) -> None:
    """Print ``value``; exit 3 when it is empty (nothing there yet)."""
    emit(value)
    if value is None or value == []:
        raise NothingThere


def report_error(exc: AgentCommError) -> None:
    _err_line({"error": exc.code, "message": str(exc), "definite": exc.definite})


def _err_line(document: dict[str, Any]) -> None:
    err = sys.stderr.buffer
    err.write(dumps(document).encode("utf-8") + b"\n")
    err.flush()


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
        raise click.UsageError(
            "no payload: give it as JSON text, e.g. '{}', or as - to read it from stdin"
        )
    limit = hub.settings.max_payload_bytes
    text = stdin_text(limit, "payload") if argument == "-" else argument
    return v.parse_payload_text(text, limit)


def stdin_stream() -> BinaryIO:
    """Stdin, for an argument given as ``-``; a terminal is a usage error, not a hang."""
    stream: BinaryIO = sys.stdin.buffer
    if stream.isatty():
        raise click.UsageError("- reads stdin, but stdin is a terminal: pipe the input in")
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


def payload_argument(function: F) -> F:
    """The ``PAYLOAD`` argument: JSON text, or ``-`` for stdin.  Optional for click so
    that a missing one gets read_payload's clearer message (and ``send --jsonl``)."""
    return click.argument("payload", required=False)(function)


def priority_option(function: F) -> F:
    return click.option(
        "--priority",
        type=click.Choice(PRIORITIES, case_sensitive=False),
        default="normal",
        show_default=True,
        help="Served strictly highest first.",
    )(function)
