"""The suite checks itself: every MUST statement of SPEC.md has at least one test."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import agentcomm_conformance.suite as suite
from agentcomm_conformance.spec import statements


def tagged_statements() -> set[str]:
    """Every statement id named by a ``spec`` mark on a test function of the suite."""
    found: set[str] = set()
    for info in pkgutil.iter_modules(suite.__path__):
        module = importlib.import_module(f"{suite.__name__}.{info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("test_"):
                marks = [*getattr(module, "pytestmark", []), *getattr(function, "pytestmark", [])]
                found.update(i for mark in marks if mark.name == "spec" for i in mark.args)
    return found


def test_every_must_statement_has_a_test() -> None:
    musts = {s.id for s in statements().values() if s.level == "MUST"}
    missing = sorted(musts - tagged_statements())
    assert not missing, f"MUST statements without a test: {missing}"
