"""The Lua scripts, registered once per client (EVALSHA, reloaded after a restart).

Each script is ``lua/common.lua`` (helpers, the header arguments, and the key table
generated from ``keys.py``) followed by its own file in ``lua/``.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING

from agentcomm.redis.keys import lua_key_table

if TYPE_CHECKING:  # redis-py is imported by the hub, not by the command line at start
    import redis
    from redis.commands.core import Script

NAMES = (
    "send", "claim", "extend", "complete", "reply", "fail", "release", "replay",
    "purge_dead", "publish", "subscribe", "unsubscribe", "read_events", "register", "heartbeat",
    "deregister", "sweep", "prune", "get_reply",
)


@functools.cache
def source(name: str) -> str:
    """The full text of one script."""
    folder = resources.files("agentcomm.redis") / "lua"
    common = (folder / "common.lua").read_text(encoding="utf-8")
    body = (folder / f"{name}.lua").read_text(encoding="utf-8")
    return common.replace("--@KEYS@", lua_key_table()) + "\n" + body


def register(client: redis.Redis) -> dict[str, Script]:
    return {name: client.register_script(source(name)) for name in NAMES}
