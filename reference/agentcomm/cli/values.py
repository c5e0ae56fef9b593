"""Argument types that check a value where argparse reads it, so that the error names the
option at fault (``argument --limit: 0 is not in the range x>=1``), exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path


class Number:
    """An int or a float within bounds: ``Number(int, low=1, high=64)`` is 1<=x<=64,
    ``Number(float, low=0, above=True)`` is x>0.  ``%(type)s`` in a help text shows them."""

    __slots__ = ("above", "high", "kind", "low")  # not a dataclass: see command.Command

    def __init__(
        self,
        kind: type[int] | type[float],
        low: float | None = None,
        high: float | None = None,
        *,
        above: bool = False,  # the low bound itself is out
    ) -> None:
        self.kind, self.low, self.high, self.above = kind, low, high, above

    @property
    def metavar(self) -> str:
        return "INTEGER" if self.kind is int else "FLOAT"

    def __call__(self, text: str) -> float:
        try:
            value = self.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a valid {self.metavar.lower()}"
            ) from None
        if not self._admits(value):
            raise argparse.ArgumentTypeError(f"{text} is not in the range {self}")
        return value

    def _admits(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        low = "" if self.low is None else f"{self.low}{'<' if self.above else '<='}"
        high = "" if self.high is None else f"<={self.high}"
        if not high:  # x>=1 reads better than 1<=x
            return f"x{'>' if self.above else '>='}{self.low}"
        return f"{low}x{high}"


def directory(text: str) -> Path:
    """A directory that may not exist yet, but is not a file."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"directory {text!r} is a file")
    return path


def existing_directory(text: str) -> Path:
    path = directory(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"directory {text!r} does not exist")
    return path


def file(text: str) -> Path:
    """A file that may not exist yet, but is not a directory."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"file {text!r} is a directory")
    return path
