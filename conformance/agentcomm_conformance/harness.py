"""What goes wrong in the harness, in plain words: never a traceback through the plugin.

Two kinds of trouble are not a hub's answer to a test:

* the implementation cannot be run at all (``--impl`` unusable, a driver that does not
  start or breaks the handshake): loading the target raises ``Halt``, a skip that every
  test requesting the target re-raises, and the ledger turns into one verdict (``Stopped``);
* a driver misbehaves during a test (exits, hangs, writes garbage: ``DriverFailure``), or
  answers with an error the test did not expect: the test fails, and its report says what
  the driver did, with the tail of its stderr, at the line of the test where it surfaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentcomm.errors import AgentCommError, ConfigurationError
from agentcomm_conformance.driver.process import DriverFailure
from agentcomm_conformance.report import CONFIGURATION, START, Stopped
from agentcomm_conformance.targets import Target, load_target


class Halt(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """The implementation cannot be run; carries the ``Stopped`` verdict to the ledger."""

    def __init__(self, stopped: Stopped) -> None:
        super().__init__(f"not run: {stopped.message}")
        self.stopped = stopped


def load_or_halt(spec: str | None, driver_timeout: float) -> Target:
    """``load_target(spec)``, or ``Halt`` saying in plain words why it cannot be run."""
    if not spec:
        raise Halt(
            Stopped(
                CONFIGURATION,
                "no implementation under test: pass --impl (a hub "
                "URL such as sqlite:///hub.db, python:module:factory, or "
                "driver:COMMAND)",
            )
        )
    try:
        return load_target(spec, driver_timeout=driver_timeout)
    except DriverFailure as exc:
        raise Halt(Stopped(START, str(exc))) from None
    except ConfigurationError as exc:
        said = str(exc) if str(exc).startswith("--impl") else f"--impl {spec!r}: {exc}"
        raise Halt(Stopped(CONFIGURATION, said)) from None
    except Exception as exc:  # a python: factory that raised: the implementation's failure
        raise Halt(
            Stopped(START, f"--impl {spec!r} raised {type(exc).__name__} when loaded: {exc}")
        ) from None


def plain_words(item: pytest.Item, error: BaseException, traceback: Any) -> str | None:
    """The report text for a test that failed because of the driver, or None."""
    said = driver_words(error)
    if said is None:
        return None
    return f"{_where(item, traceback)}: {said}"


def driver_words(error: BaseException) -> str | None:
    """What a driver did, for an error that came from one (None for anything else)."""
    if isinstance(error, DriverFailure):
        return str(error)
    if isinstance(error, AgentCommError):
        said = getattr(error, "driver_said", None)
        return None if said is None else str(said)
    return None


def _where(item: pytest.Item, traceback: Any) -> str:
    """``test_file.py:LINE``: the line of the test where the error surfaced."""
    path = Path(str(getattr(item, "path", "")))
    for entry in reversed(traceback):
        if Path(str(entry.path)) == path:
            return f"{path.name}:{entry.lineno + 1}"
    return item.nodeid
