"""The agentcomm conformance suite: checks any hub implementation against SPEC.md.

Run it with ``agentcomm conformance --impl TARGET`` or ``pytest --impl TARGET
--pyargs agentcomm_conformance.suite -p agentcomm_conformance.plugin``.
"""

__version__ = "0.1.0"
