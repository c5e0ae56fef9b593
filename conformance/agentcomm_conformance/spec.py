"""SPEC.md read as data: each ``### ID (LEVEL; hubs) Title`` heading is one statement."""

from __future__ import annotations

import dataclasses
import functools
import re

from agentcomm_conformance.resources import SPEC

HEADING = re.compile(
    r"^### (?P<id>[A-Z]{2,8}-\d{3}) \((?P<level>MUST|SHOULD|MAY); (?P<hubs>[a-z, ]+)\) "
    r"(?P<title>.+)$", re.MULTILINE)
LEVELS = ("MUST", "SHOULD", "MAY")


@dataclasses.dataclass(frozen=True)
class Statement:
    id: str
    level: str
    hubs: frozenset[str]
    title: str

    def applies_to(self, kind: str) -> bool:
        """``all`` covers every kind; otherwise the hub's kind must be named."""
        return "all" in self.hubs or kind in self.hubs


@functools.cache
def statements() -> dict[str, Statement]:
    """Every statement of the spec by id, in the spec's order."""
    text = SPEC.path().read_text(encoding="utf-8")
    found = {}
    for match in HEADING.finditer(text):
        hubs = frozenset(h.strip() for h in match["hubs"].split(","))
        found[match["id"]] = Statement(match["id"], match["level"], hubs, match["title"].strip())
    return found
