"""Checkout-wide pytest setup, shared by every test tree (``tests/``, ``conformance/``).

pytest loads the conformance plugin by itself (a ``pytest11`` entry point), so ``pytest``
in this checkout also runs the conformance suite against ``conformance_impl``
(pyproject.toml: the reference SQLite hub).  Naming it here too keeps that true under
``PYTEST_DISABLE_PLUGIN_AUTOLOAD``; the entry point carries the module's name, so the
plugin is registered once either way.  Only what the base install has may be imported
here: ``agentcomm conformance`` runs without the test extras.
"""

pytest_plugins = ["agentcomm_conformance.plugin"]
