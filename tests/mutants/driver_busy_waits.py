"""A driver whose waiting ``claim`` asks its hub again and again, without pausing: it
answers as fast as any, and burns a CPU core while nothing comes."""

from __future__ import annotations

import sys
import time
from typing import Any

from agentcomm.driver import Driver
from mutants import driver_impl, run_driver

CATCHES = ("CLAIM-007",)
IMPL = driver_impl(__name__, "--clock", "manual")
ARGS = ("-k", "wakes")


class BusyWaits(Driver):
    def hub_op(self, op: str, args: dict[str, Any]) -> Any:
        wait = args.get("wait") or 0
        if op != "claim" or not wait or self.clock is not None:  # manual time: no spinning
            return super().hub_op(op, args)
        deadline = time.monotonic() + wait
        while True:
            found = super().hub_op(op, {**args, "wait": 0})
            if found is not None or time.monotonic() >= deadline:
                return found


if __name__ == "__main__":
    sys.exit(run_driver(BusyWaits, sys.argv[1:]))
