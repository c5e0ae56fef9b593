"""A driver that writes priorities as the numbers its store keeps (``"priority": 2``)
instead of their names: the suite reads that leniently, but it is not the JSON form."""

from __future__ import annotations

import json
import sys
from typing import Any

from agentcomm.driver import Driver, encode
from mutants import driver_impl, run_driver

CATCHES = ("ENV-005",)
IMPL = driver_impl(__name__, "--clock", "manual")
ARGS = ("-k", "json_form or test_priorities")
LEVELS = {"low": 0, "normal": 1, "high": 2}


def numbered(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: LEVELS.get(v, v) if k == "priority" and isinstance(v, str) else numbered(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [numbered(v) for v in value]
    return value


class NumericPriorities(Driver):
    def respond(self, line: bytes) -> bytes:
        return encode(numbered(json.loads(super().respond(line))))


if __name__ == "__main__":
    sys.exit(run_driver(NumericPriorities, sys.argv[1:]))
