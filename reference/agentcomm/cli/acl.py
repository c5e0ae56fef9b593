"""``redis-acl``: the Redis ACL user that confines one agent (or the operator) to its keys."""

from __future__ import annotations

import os

from agentcomm.cli.command import UsageError, command
from agentcomm.cli.common import Session, echo, emit
from agentcomm.errors import ConfigurationError
from agentcomm.redis.acl import (
    OPERATOR_USER,
    PASSWORD_PLACEHOLDER,
    acl_file_line,
    agent_acl,
    operator_acl,
)
from agentcomm.urls import parse

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing: see record.py
if TYPE_CHECKING:
    from argparse import ArgumentParser, Namespace

FORMATS = ("setuser", "file", "json")


def _acl_arguments(parser: ArgumentParser) -> None:
    parser.add_argument("agent_id", nargs="?", metavar="@ID")
    parser.add_argument(
        "--operator",
        action="store_true",
        help="The maintenance user (sweep, purge, stats, dead letters) instead.",
    )
    parser.add_argument(
        "--prefix", help="The hub's key prefix [the prefix option of --url, else none]."
    )
    parser.add_argument("--user", help=f"The Redis user name [agent.ID, or {OPERATOR_USER}].")
    parser.add_argument(
        "--password-env",
        metavar="NAME",
        help="Read the password from this environment variable; it is printed only "
        "as its SHA-256. Without it, a placeholder Redis refuses is printed.",
    )
    parser.add_argument(
        "--format",
        dest="form",
        choices=FORMATS,
        default="setuser",
        help="setuser: an ACL SETUSER command (for redis-cli); file: a line for an "
        "aclfile; json: both, and the rules as a list.  [default: %(default)s]",
    )


@command(_acl_arguments, name="redis-acl")
def redis_acl(session: Session, args: Namespace) -> None:
    """The Redis ACL user for agent @ID on the hub's key prefix.

    It may use its own inbox, reply lists and registry entry, send to other agents'
    inboxes and answer their requests, and use the shared keys (message and reply
    records among them); it may not read, claim from or empty another agent's inbox or
    reply lists, nor run admin commands.  Needs Redis 7.0 or later.  Pipe it into
    redis-cli:

      PW=... agentcomm redis-acl @alice --prefix acme: --password-env PW \\
        | redis-cli --user admin --askpass
    """
    agent_id, prefix, user = args.agent_id, args.prefix, args.user
    if args.operator == (agent_id is not None):
        raise UsageError("name an agent (@ID) or pass --operator (not both)")
    key_prefix = prefix if prefix is not None else _url_prefix(session)
    password = _password(args.password_env)
    if agent_id is not None:
        tokens = agent_acl(agent_id, key_prefix, password, user=user)
    else:
        tokens = operator_acl(key_prefix, password, user=user or OPERATOR_USER)
    if password is None:
        tokens.insert(3, PASSWORD_PLACEHOLDER)  # after the name, 'reset' and 'on'
        echo(
            f"no --password-env: replace {PASSWORD_PLACEHOLDER} with >PASSWORD, or "
            "with # and the password's SHA-256 in hex",
            err=True,
        )
    _print(tokens, args.form)


def _url_prefix(session: Session) -> str:
    if not session.url:
        return ""
    return parse(session.url).options.get("prefix", "")


def _password(name: str | None) -> str | None:
    if name is None:
        return None
    password = os.environ.get(name)
    if not password:
        raise ConfigurationError(
            f"--password-env {name}: that environment variable is not set, or empty"
        )
    return password


def _print(tokens: list[str], form: str) -> None:
    setuser = "ACL SETUSER " + " ".join(tokens)
    if form == "json":
        emit(
            {
                "user": tokens[0],
                "rules": tokens[1:],
                "setuser": setuser,
                "acl_file_line": acl_file_line(tokens),
            }
        )
    else:
        echo(setuser if form == "setuser" else acl_file_line(tokens))


COMMANDS = (redis_acl,)
