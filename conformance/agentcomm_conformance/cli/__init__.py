"""The suite's commands of the ``agentcomm`` command line, ``conformance`` and ``bench``,
added to it through the entry-point group ``agentcomm.commands`` (pyproject.toml)."""
