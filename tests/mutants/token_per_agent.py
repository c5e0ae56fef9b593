"""One token per agent, not per claim: every claim by an agent carries the same token, so
an agent's stale lease from an earlier claim still passes for the current one."""

from __future__ import annotations

import hashlib

from mutants import ClaimHook, Implementation

CATCHES = ("CLAIM-004",)


class TokenPerAgent(ClaimHook):
    def _new_token(self, agent: str) -> str:
        return hashlib.sha256(agent.encode()).hexdigest()[:32]


def implementation() -> Implementation:
    return Implementation(TokenPerAgent, __name__)
