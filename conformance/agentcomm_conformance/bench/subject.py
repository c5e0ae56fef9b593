"""The hub under test, and how the benchmark's child processes reach it.

``--impl TARGET`` takes what ``agentcomm conformance --impl`` takes (a hub URL template,
``sqlite:``, ``redis:``, ``python:module:factory``, ``driver:COMMAND``...): the target
makes one fresh hub.  ``--url URL`` names one existing reference hub instead, used as it
is.  Either way a child process opens the hub the way the suite's racers do:
``load_target(reach.spec).open(reach.locator, agent, None)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any

from agentcomm.api import Hub
from agentcomm.errors import ConfigurationError
from agentcomm.urls import connect, redact
from agentcomm_conformance.targets import Target, describe, load_target

DEFAULT_IMPL = "sqlite:"


@dataclasses.dataclass(frozen=True)
class Reach:
    """What a child process needs: the spec its own target loads, and the hub's locator."""

    spec: str
    locator: str

    @contextlib.contextmanager
    def opened(self, agent: str | None) -> Iterator[Hub]:
        """A handle acting as ``agent``, through a target of the child's own; both closed
        when the block ends."""
        target = load_target(self.spec)
        try:
            with target.open(self.locator, agent, None) as hub:
                yield hub
        finally:
            target.close()


class Subject:
    """A loaded target, the one hub the benchmark uses on it, and a scratch directory.

    ``close`` closes the target (which stops any private server it started and removes
    its directory) and removes the scratch directory: a run leaves nothing in /tmp.
    """

    def __init__(self, spec: str, *, hub_url: str | None = None) -> None:
        self.spec = spec
        self.workdir = Path(tempfile.mkdtemp(prefix="agentcomm-bench-"))
        self.target: Target | None = None
        try:
            self.target = load_target(spec)
            locator = hub_url or self.target.new_hub(self.workdir)
        except BaseException:
            self.close()
            raise
        self.reach = Reach(self.target.racer_spec, locator)

    @property
    def loaded(self) -> Target:
        if self.target is None:
            raise RuntimeError("the benchmark's target is closed")
        return self.target

    @property
    def kind(self) -> str:
        return self.loaded.kind

    def open(self, agent: str | None) -> Hub:
        """A handle in this process (``with subject.open(...) as hub``)."""
        return self.loaded.open(self.reach.locator, agent, None)

    def describe(self) -> dict[str, Any]:
        return describe(self.loaded, redact(self.spec))

    def close(self) -> None:
        target, self.target = self.target, None
        try:
            if target is not None:
                target.close()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Subject:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def open_subject(impl: str | None, url: str | None) -> Subject:
    """``--impl`` when given; else the ``--url`` hub itself; else a fresh SQLite hub.

    A bare scheme given as ``--url`` (``sqlite:``, ``redis:``) is a template, as for
    ``--impl``.  An in-process ``fakeredis://`` hub is refused: the workers are other
    processes and could never reach it (``fakeredis:`` serves one on a port instead).
    """
    for spec in (impl, url):
        _refuse_in_process(spec)
    if impl:
        return Subject(impl)
    if url and "://" in url:
        connect(url, create=True).close()
        return Subject(url, hub_url=url)
    return Subject(url or DEFAULT_IMPL)


def _refuse_in_process(spec: str | None) -> None:
    if spec and "://" in spec and urllib.parse.urlsplit(spec).scheme == "fakeredis":
        raise ConfigurationError(
            f"{redact(spec)!r} is a fake Redis inside one process, which "
            "the worker processes cannot reach; use --impl fakeredis:"
        )
