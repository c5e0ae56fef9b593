"""The progress bar of ``agentcomm bench`` on stderr, advanced by the counts the workers
report; drawn only on a terminal, so logs stay clean."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

WIDTH = 36
"""Characters of the bar itself."""
STEPS = 100
"""The bar is redrawn at most this many times: a terminal write costs more than a count."""


@contextmanager
def progress_bar(
    total: int, label: str, *, quiet: bool, stream: TextIO | None = None
) -> Iterator[Callable[[int], None]]:
    """``advance(n)``: ``n`` more of ``total`` are done.  Nothing is drawn with ``quiet``
    or when ``stream`` (stderr) is not a terminal."""
    out = sys.stderr if stream is None else stream
    if quiet or not out.isatty():
        yield lambda n: None
        return
    done, drawn = 0, -1

    def advance(n: int) -> None:
        nonlocal done, drawn
        done = min(total, done + n)
        step = done * STEPS // max(total, 1)
        if step != drawn:
            drawn = step
            out.write(f"\r{_line(label, done, total)}")
            out.flush()

    advance(0)
    try:
        yield advance
    finally:
        out.write("\n")
        out.flush()


def _line(label: str, done: int, total: int) -> str:
    filled = WIDTH * done // max(total, 1)
    return f"{label}  [{'#' * filled}{'-' * (WIDTH - filled)}]  {done}/{total}"
