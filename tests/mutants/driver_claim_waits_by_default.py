"""A driver that waits where the spec says a call returns at once: ``claim``, ``claim_many``
and ``events`` without a ``wait`` wait 3 s (``args.wait || 3``, a JavaScript classic, since
0 is falsy)."""

from __future__ import annotations

import sys
from typing import Any

from agentcomm.driver import Driver
from mutants import driver_impl, run_driver

CATCHES = ("CLAIM-006", "EVT-003")
IMPL = driver_impl(__name__, "--clock", "system")
ARGS = ("-k", "at_once or test_claim_returns_none_when_nothing_is_claimable")


class WaitsByDefault(Driver):
    def hub_op(self, op: str, args: dict[str, Any]) -> Any:
        if op in {"claim", "claim_many", "events"} and not args.get("wait"):
            args = {**args, "wait": 3}
        return super().hub_op(op, args)


if __name__ == "__main__":
    sys.exit(run_driver(WaitsByDefault, sys.argv[1:]))
