"""Bash agents through a session that keeps the hub open: ``source "$(agentcomm shell-lib)"``.

A script opens a session (``ac_open``): an ``agentcomm session`` process that runs the
very same commands in-process (``agentcomm.cli.run``), with each hub kept open across
commands.  Every ``ac_COMMAND`` of the library (``agentcomm.bash``) then costs a pipe
round trip, not a process start, and behaves exactly as ``agentcomm COMMAND``: the same
stdout, stderr and exit status.

The protocol, over two FIFOs the library makes in a private directory (``requests``,
``responses``), which both sides open by path:

* start: the session opens both and writes ``ready`` and a newline;
* request (library -> session), fields each ended by a NUL byte, so any argument text
  goes through exactly, with no escaping (bash variables cannot hold NUL)::

      ac1 · ID · N · STDIN · ARG_1 … ARG_N · [TEXT] · ID

  ``ID`` names the call (echoed back); ``N`` counts the arguments; ``STDIN`` is ``-``
  (none), ``t`` (stdin is a terminal) or ``d`` (stdin's ``TEXT`` follows the arguments:
  the library forwards it when an argument is ``-``).  The trailing ``ID`` closes the
  frame, so a frame cut short is refused, never run;
* response (session -> library): a header line ``ID CODE OUT ERR``, then ``OUT`` bytes of
  stdout and ``ERR`` bytes of stderr.  While a command runs, the session writes a bare
  newline every ``--stall``/4 seconds: a long ``--wait`` is a sign of life, silence for
  ``--stall`` seconds means the session is stopped or gone.

The session exits at end of file on ``requests`` (the script closed it, or is gone), when
its parent process is gone, or when the library kills it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LIBRARY", "examples", "library"]

LIBRARY = "agentcomm.bash"


def library() -> Path:
    """The bash library, for ``source``."""
    return Path(__file__).with_name(LIBRARY)


def examples() -> Path:
    """The folder of example scripts: the design's use cases written with the library."""
    return Path(__file__).with_name("examples")
