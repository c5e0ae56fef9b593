"""``python -m agentcomm.cli``: the same command line without the installed script."""

from agentcomm.cli import main

main()
