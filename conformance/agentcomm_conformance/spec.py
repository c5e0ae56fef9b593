"""SPEC.md read as data: each ``### ID (LEVEL; hubs) Title`` heading is one statement."""

from __future__ import annotations

import dataclasses
import functools
import re

from agentcomm_conformance.resources import SPEC

HEADING = re.compile(
    r"^### (?P<id>[A-Z]{2,8}-\d{3}) \((?P<level>MUST|SHOULD|MAY); (?P<hubs>[a-z, ]+)\) "
    r"(?P<title>.+)$",
    re.MULTILINE,
)
SECTION_END = re.compile(r"^#{1,3} ", re.MULTILINE)
NAMED_CAPABILITY = re.compile(r"declar\w*\s+(?:the capability\s+)?`(?P<name>[a-z_]+)`")
"""How a statement names the capability it is about: "A hub declaring `batch` provides"."""
LEVELS = ("MUST", "SHOULD", "MAY")


@dataclasses.dataclass(frozen=True)
class Statement:
    id: str
    level: str
    hubs: frozenset[str]
    title: str
    capabilities: frozenset[str] = frozenset()
    """The optional behaviours the statement is about (CAP-002), e.g. ``batch``."""

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
        end = SECTION_END.search(text, match.end())
        body = text[match.end() : end.start() if end else len(text)]
        named = frozenset(m["name"] for m in NAMED_CAPABILITY.finditer(body))
        found[match["id"]] = Statement(
            match["id"], match["level"], hubs, match["title"].strip(), named
        )
    return found
