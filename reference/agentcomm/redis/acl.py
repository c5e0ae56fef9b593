"""Redis ACL users that confine each agent's credentials to its own part of a hub.

``agent_acl("@alice", prefix)`` returns the arguments of ``ACL SETUSER`` (the user name
first, ``agent.alice``; ``acl_file_line`` turns them into a line of an ACL file) for a
user that can do everything an agent handle of this hub does, and no more.  Redis checks
ACLs on every command a Lua script runs too, so the confinement holds inside the hub's
scripts.  It needs Redis 7.0 or later (key permissions ``%R~``/``%W~`` and selectors).

What the agent's user may do (each key named here sits under the hub's prefix; the
README's section "Confining each agent with Redis ACLs" says what this confines and what
it shares, in one place):

* everything on its own keys: ``agent:@alice:*`` (inbox lists, registry entry,
  heartbeat, event cursors, the boxes its waiting handles read), ``processing:@alice``,
  ``delayed:@alice``, ``waiters:@alice``, ``finished:@alice``, ``response:@alice:*``
  (the replies to its requests);
* on other agents' inboxes (``agent:*:inbox``, ``:urgent``, ``:inbox:low``), only
  ``LPUSH`` with write-only key permission (a selector): it can send to them, not read,
  pop, trim or delete them.  To wake an agent that waits, it takes a registration from
  its ``waiters:`` list and pushes an empty item into that handle's box (write-only);
  it cannot claim on the waiter's behalf, as a send by the waiter's peers on a queue
  does;
* for ``stats``, the lengths of other agents' lists and sets (``LLEN``, ``ZCARD``), and
  the ids in their retry sets, never a message taken from them;
* on other agents' reply lists ``response:*``, only ``RPUSH`` and ``PEXPIRE``,
  write-only: it can answer their requests, not read the answers they get;
* on the dead-letter list, only ``RPUSH`` and ``LPUSH``, write-only: a message dies in
  its hands, and only the operator reads, replays and purges dead letters;
* read-only the other agents' registry entries, so that ``agents()`` and ``stats()``
  work;
* read and write the hub's shared keys: message and reply records (``message:*``,
  ``reply:*``), the id counters ``seq:*``, the queues' lists ``tasks:*`` and their
  ``processing:``/``delayed:``/``waiters:``/``finished:`` keys (queue names
  never start with ``@``, hence the globs ``[^@]*``), the event streams ``event:*`` and
  the other fixed keys (``keys.FIXED``);
* publish on the event channels ``event:*`` and the reply channels ``response:*`` (the
  design's live PUBLISH of events and replies);
* run only the commands the hub sends: the ones its agent-side functions call (read from
  the Lua itself), ``FCALL`` and ``FCALL_RO``, its reads and blocking waits,
  ``MULTI``/``EXEC``, ``SELECT`` for a ``/db`` URL and ``INFO`` for the checks made at
  open.  Not ``FUNCTION LOAD``: the operator loads the hub's functions (``agentcomm
  init``), since code an agent loaded would run with the other agents' rights.  Nothing
  else of ``@admin`` or ``@dangerous``: no ``CONFIG``, ``KEYS``, ``FLUSHALL``,
  ``FUNCTION FLUSH``, ``SHUTDOWN``...  (redis-py's ``CLIENT SETINFO`` on connecting is
  refused too, which redis-py ignores: Redis 7.0 rejects its name in a rule.)

Redis refuses a command inside a function only when the function reaches it, keeping
what it wrote before; so the hub's functions ask first (``redis.acl_check_cmd``): one
that would change a message of an inbox checks that the caller may write that inbox's
``processing:`` set, and maintenance (sweep, prune, replay, purge, a layout migration)
checks that the caller may remove dead letters.  Either refusal changes nothing.

* ``sweep`` and ``prune`` visit every agent's keys: they are for the operator's user
  (``operator_acl``), which may touch every key under the prefix;
* patterns match by prefix, so keep hub prefixes on one server from extending each
  other (``acme:`` and ``acme:agent:@x:`` would overlap);
* the rules are generated for this agentcomm's scripts: regenerate them after upgrading.
"""

from __future__ import annotations

import functools
import hashlib
import re

from agentcomm.errors import InvalidInput
from agentcomm.ops import agent_functions
from agentcomm.redis import scripts
from agentcomm.redis.keys import FIXED, INBOX_LISTS, PATTERNS, check_prefix
from agentcomm.validation import check_agent_id

__all__ = [
    "AGENT_SCRIPTS",
    "OPERATOR_USER",
    "acl_file_line",
    "agent_acl",
    "agent_user",
    "hub_commands",
    "operator_acl",
]

AGENT_SCRIPTS = agent_functions()
"""The functions an agent handle runs (``ops.py``): maintenance is the operator's."""

CLIENT_COMMANDS = (
    "info",  # the version and persistence checks at open
    "fcall",
    "fcall_ro",  # every state change, and the reads that need one snapshot
    "hget",
    "hgetall",
    "hkeys",
    "lrange",
    "smembers",
    "xrange",
    "xrevrange",  # reads
    "blpop",
    "blmove",
    "xread",  # blocking waits for claims, replies and events
    "multi",
    "exec",
    "discard",  # the one snapshot of stats
    "select",  # a /db in the URL
)
"""What the hub's Python side sends, besides what its scripts call."""

OPERATOR_COMMANDS = ("hsetnx", "function|load")
"""Creating the hub (``agentcomm init``) writes its layout version and loads the hub's
function library; agents may not load code that the other agents would then run."""

OPERATOR_KEYS = frozenset({"dead"})
"""Fixed keys an agent may only push onto: the dead-letter list is the operator's to read,
replay and purge (and the hub's functions check that right before any maintenance)."""

OPERATOR_USER = "agentcomm.operator"
AGENT_USER_PREFIX = "agent."
PASSWORD_PLACEHOLDER = "#<sha256-of-the-password>"  # noqa: S105 (a placeholder)
"""Where a password goes; Redis refuses it as it stands, so it cannot be left in by mistake."""

_USER = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_CALL = re.compile(r"redis\.call\(\s*'([A-Za-z]+)'")


def agent_user(agent_id: str) -> str:
    """The Redis user name of an agent: ``agent.alice`` for ``@alice``."""
    return AGENT_USER_PREFIX + check_agent_id(agent_id)[1:]


def agent_acl(
    agent_id: str, prefix: str = "", password: str | None = None, *, user: str | None = None
) -> list[str]:
    """The ``ACL SETUSER`` arguments of the user confining ``agent_id`` on the hub under
    ``prefix``: its name (``agent_user`` unless ``user`` is given), then the rules.

    The password is stored as its SHA-256 (``#<hex>``), never in clear.  Without one, the
    user exists but cannot log in until a password is added.
    """
    me = check_agent_id(agent_id)
    p = check_prefix(prefix)
    per_target = ("processing", "delayed", "waiters", "finished")
    own = [
        f"agent:{me}:*",
        _fill("response", agent=me),
        *(_fill(name, target=me) for name in per_target),
    ]
    fixed = [key for name, key in FIXED.items() if name not in OPERATOR_KEYS]
    shared = [
        *fixed,
        _fill("message"),
        _fill("reply"),
        _fill("stream"),
        "tasks:*",
        *(_fill(name, target="[^@]*") for name in per_target),
    ]
    sending = [f"%W~{p}{_fill_list(template)}" for template in INBOX_LISTS.values()]
    return [
        _user(user if user is not None else agent_user(me)),
        "reset",
        "on",
        *_password(password),
        *(f"~{p}{pattern}" for pattern in [*own, *shared]),
        f"%R~{p}{_fill('registry')}",
        *_channels(p),
        *(f"+{command}" for command in hub_commands(AGENT_SCRIPTS)),
        _selector(sending, ["lpush"]),
        # waking another agent that waits: its registration, then its box
        _selector([f"~{p}{_fill('waiters', target='@*')}"], ["exists", "lpop", "lpush"]),
        _selector([f"%W~{p}{_fill('box')}"], ["rpush", "pexpire"]),
        # stats: how many messages wait, are leased or finished, never which
        _selector([f"%R~{p}{_fill_list(template)}" for template in INBOX_LISTS.values()], ["llen"]),
        _selector(
            [f"%R~{p}{_fill(name, target='@*')}" for name in ("processing", "finished")], ["zcard"]
        ),
        _selector([f"%R~{p}{_fill('delayed', target='@*')}"], ["zrange"]),
        _selector([f"%W~{p}{_fill('response')}"], ["rpush", "pexpire"]),
        # dead letters: pushed by fail and by a lapsed lease, read and removed by the operator
        _selector([f"%W~{p}{FIXED['dead']}"], ["rpush", "lpush"]),
    ]


def operator_acl(
    prefix: str = "", password: str | None = None, *, user: str = OPERATOR_USER
) -> list[str]:
    """The ``ACL SETUSER`` arguments of the hub's maintenance user: every key and event
    channel under ``prefix``, the commands of every script (sweep, prune, stats, dead-letter
    replay and purge, creating the hub), and still nothing else of ``@admin``."""
    p = check_prefix(prefix)
    commands = sorted({*hub_commands(scripts.NAMES), *OPERATOR_COMMANDS})
    return [
        _user(user),
        "reset",
        "on",
        *_password(password),
        f"~{p}*",
        *_channels(p),
        *(f"+{command}" for command in commands),
    ]


def acl_file_line(tokens: list[str]) -> str:
    """One line of a Redis ACL file (``aclfile``) from ``agent_acl``/``operator_acl``."""
    return "user " + " ".join(tokens)


@functools.cache
def hub_commands(script_names: tuple[str, ...]) -> tuple[str, ...]:
    """The commands the hub sends when it runs these scripts, sorted, lower case."""
    texts = [scripts.common(), *(scripts.body(name) for name in script_names)]
    called = {name.lower() for text in texts for name in _CALL.findall(text)}
    return tuple(sorted(called | set(CLIENT_COMMANDS)))


def _channels(p: str) -> list[str]:
    """The live channels: events on ``event:<type>`` (EVT-006), replies on the design's
    ``response:<requester>:<id>``, which whoever answers must publish on."""
    return [f"&{p}{_fill('stream')}", f"&{p}{_fill('response')}"]


def _fill(pattern: str, **parts: str) -> str:
    """A ``keys.PATTERNS`` key as a glob: the parts given, ``*`` for the others."""
    return re.sub(r"{(\w+)}", lambda m: parts.get(m.group(1), "*"), PATTERNS[pattern])


def _fill_list(template: str) -> str:
    """Every agent's pending list of one priority, as a glob."""
    return template.format(target="*")


def _selector(keys: list[str], commands: list[str]) -> str:
    """A selector: these commands on these keys only (one argument of ACL SETUSER)."""
    return "(" + " ".join([*keys, *(f"+{command}" for command in commands)]) + ")"


def _user(name: str) -> str:
    if not _USER.fullmatch(name):
        raise InvalidInput(
            f"Redis user name {name!r} is not valid: expected 1 to 128 of [A-Za-z0-9_.-]"
        )
    return name


def _password(password: str | None) -> list[str]:
    if password is None:
        return []
    if not isinstance(password, str) or not password:
        raise InvalidInput("the password must be a non-empty string")
    return ["#" + hashlib.sha256(password.encode("utf-8")).hexdigest()]
