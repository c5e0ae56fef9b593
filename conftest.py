"""Checkout-wide pytest setup, shared by every test tree (``tests/``, ``conformance/``).

The conformance plugin is loaded here, so ``pytest`` in this checkout also runs the
conformance suite against ``conformance_impl`` (pyproject.toml: the reference SQLite hub).
Only what the base install has may be imported here: ``agentcomm conformance`` runs
without the test extras.
"""

pytest_plugins = ["agentcomm_conformance.plugin"]
