"""The agentcomm conformance suite: checks any hub implementation against SPEC.md.

Run it with ``agentcomm conformance --impl TARGET`` or ``pytest --impl TARGET
--pyargs agentcomm_conformance.suite`` (the plugin is a ``pytest11`` entry point).
"""

from agentcomm import __version__  # one distribution, one version

__all__ = ["__version__"]
