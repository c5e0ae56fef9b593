"""The ``agentcomm`` command line: every hub operation as a subcommand, JSON in and out.

Exit codes are listed in ``agentcomm.cli.exits`` and in ``agentcomm --help``.
"""

from agentcomm.cli.app import main, run

__all__ = ["main", "run"]
