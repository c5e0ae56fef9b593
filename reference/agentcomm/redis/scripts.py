"""The hub's Lua code: one Redis function library, its shared header, and calling it.

The library is ``lua/common.lua`` (helpers, the key table generated from ``keys.py``,
and the spec's vocabulary generated from ``models.py``) and ``lua/design.lua`` (the
design's own items), followed by one function per other file of ``lua/`` (``ops.py``
names them).  Functions (Redis 7.0) rather than scripts: the helpers are defined once,
when the library is loaded, instead of on every call, which was most of a script's cost
(BENCHMARKS.md).  The library's name carries a digest of its code, so hubs of different
agentcomm versions share a server.

The header is defined once, in ``HEADER``: ``Header`` builds the arguments from it and
``lua_header``/``lua_begin`` write the Lua that reads them, so the two sides cannot
drift apart.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

from agentcomm.models import FINISHED, Priority
from agentcomm.ops import functions
from agentcomm.redis.keys import lua_key_table

NAMES = functions()
"""The library's functions, one per file of ``lua/`` (the table in ``ops.py`` names them)."""

SHARED = ("common.lua", "design.lua")
"""The library's shared part, before the functions: helpers, then the design's items."""

READ_ONLY = frozenset({"get_reply", "stats"})
"""Functions that write nothing (flag ``no-writes``: replicas may run them too)."""

HEADER = (
    ("prefix", "P", "text"),
    ("now", "NOW_TEXT", "text"),  # the hub's clock, as stamp() writes it
    ("backoff_base", "BACKOFF_BASE", "number"),
    ("backoff_max", "BACKOFF_MAX", "number"),
    ("reply_ttl_ms", "REPLY_TTL_MS", "text"),  # ms, the TTL of a reply list (COMPAT-007)
    ("default_timeout", "DEFAULT_TIMEOUT", "number"),  # for the design's items (design.lua)
    ("default_max_retries", "DEFAULT_MAX_RETRIES", "number"),
    ("audited", "AUDITED", "flag"),  # '1': a hybrid hub wants its audit stream fed
)
"""The arguments every function gets first: (name, Lua variable, how Lua reads it)."""

_READ = {"text": "{}", "number": "tonumber({})", "flag": "{} == '1'"}


def lua_header() -> str:
    """The header's variables (set by ``begin`` on every call), and ``arg(i)``: the
    function's own i-th argument after the header."""
    names = ", ".join(["ARGV", *(var for _, var, _ in HEADER), "NOW"])
    return "\n".join(
        [
            f"local {names}",
            f"local HEADER_ARGS = {len(HEADER)}",
            "local function arg(i) return ARGV[HEADER_ARGS + i] end",
        ]
    )


def lua_begin() -> str:
    """``begin(argv)``: what every function does first."""
    reads = [
        f"  {var} = {_READ[kind].format(f'argv[{i}]')}"
        for i, (_, var, kind) in enumerate(HEADER, 1)
    ]
    return "\n".join(
        [
            "local function begin(argv)",
            "  ARGV = argv",
            *reads,
            "  NOW = tonumber(NOW_TEXT)",
            "  DELTAS, TALLIES = {}, {}",
            "end",
        ]
    )


class Header:
    """The header of one hub handle: every field fixed at open but ``now``."""

    __slots__ = ("_now_at", "_template")

    def __init__(self, **values: str | float) -> None:
        names = [name for name, _, _ in HEADER]
        wrong = sorted(set(values) ^ (set(names) - {"now"}))
        if wrong:
            raise TypeError(f"header fields missing or unknown: {wrong}")
        self._now_at = names.index("now")
        self._template: list[str | float] = [values.get(name, "") for name in names]

    def args(self, now: str) -> list[str | float]:
        found = self._template.copy()
        found[self._now_at] = now
        return found


def body(name: str) -> str:
    """The Lua of one function, as written in ``lua/<name>.lua``."""
    return _read(f"{name}.lua")


def lua_vocabulary() -> str:
    """The spec's words the functions share, from their one Python definition (models.py):
    the finished statuses and the priority levels' names."""
    finished = ", ".join(f"{s.value} = true" for s in sorted(FINISHED, key=lambda s: s.value))
    levels = ", ".join(f"['{p.value}'] = '{p.name.lower()}'" for p in Priority)
    return "\n".join([f"local FINISHED = {{{finished}}}", f"local LEVEL = {{{levels}}}"])


def common() -> str:
    """The shared part of the library, with its generated pieces in place."""
    text = "\n".join(_read(name) for name in SHARED)
    pieces = {"--@HEADER@": lua_header(), "--@KEYS@": lua_key_table()}
    pieces["--@VOCABULARY@"] = lua_vocabulary()
    for mark, code in pieces.items():
        text = text.replace(mark, code)
    return text


@functools.cache
def library() -> tuple[str, str]:
    """The library's name and its code (what FUNCTION LOAD takes)."""
    functions = "\n".join(_register(name) for name in NAMES)
    code = "\n".join([common(), lua_begin(), functions])
    digest = hashlib.sha1(code.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    name = f"agentcomm_{digest}"
    return name, f"#!lua name={name}\n" + code.replace("@LIBRARY@", name)


def function_name(name: str) -> str:
    """The Redis function that runs ``name``: unique to this version of the library."""
    return f"{library()[0]}_{name}"


def fcall_command(name: str, args: Sequence[Any]) -> tuple[Any, ...]:
    """The FCALL command that runs function ``name`` with ``args`` (no keys)."""
    return ("FCALL_RO" if name in READ_ONLY else "FCALL", function_name(name), 0, *args)


def load_command() -> tuple[str, ...]:
    return ("FUNCTION", "LOAD", library()[1])


def _register(name: str) -> str:
    flags = "{'no-writes'}" if name in READ_ONLY else "{}"
    return (
        f"redis.register_function{{function_name = '@LIBRARY@_{name}', flags = {flags},\n"
        f"  callback = function(_, argv)\nbegin(argv)\n{body(name)}\nend}}"
    )


@functools.cache
def _read(filename: str) -> str:
    folder = resources.files("agentcomm.redis") / "lua"
    return (folder / filename).read_text(encoding="utf-8")
