"""``agentcomm ARGS`` in this process: argv and stdin in; exit code, stdout and stderr out.

Faster than a process per call, and a test may monkeypatch what the command calls.  The
streams are bytes underneath, as a process's are (the commands write UTF-8 to
``sys.stdout.buffer``); stdin is never a terminal.  Exceptions other than the exits
argparse makes propagate, so a bug shows its traceback.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Iterator, Mapping, Sequence

from agentcomm.cli import run
from agentcomm.shell.server import captured


@dataclasses.dataclass(frozen=True)
class Result:
    exit_code: int
    stdout_bytes: bytes
    stderr_bytes: bytes

    @property
    def stdout(self) -> str:
        return self.stdout_bytes.decode("utf-8", "replace")

    @property
    def stderr(self) -> str:
        return self.stderr_bytes.decode("utf-8", "replace")

    @property
    def output(self) -> str:
        """What was printed on stdout."""
        return self.stdout


def invoke(
    args: Sequence[str],
    *,
    input: str | bytes | None = None,
    env: Mapping[str, str | None] | None = None,
) -> Result:
    """Run ``agentcomm ARGS`` with ``input`` on stdin and ``env`` set (None: unset)."""
    data = input.encode("utf-8") if isinstance(input, str) else input or b""
    with _environment(env or {}), captured(io.BytesIO(data)) as (out, err):
        code = run(list(args))
    return Result(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in changes}
    _apply(changes)
    try:
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
