"""Checkout-wide pytest setup, shared by every test tree (``tests/``, ``conformance/``).

The conformance plugin is loaded here, so ``pytest`` in this checkout also runs the
conformance suite against ``conformance_impl`` (pyproject.toml: the reference SQLite hub).

Hypothesis profiles: ``ci`` (the default, bounded for a 2-core CI machine) and ``deep``
(more examples, on demand: ``HYPOTHESIS_PROFILE=deep pytest``).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=1000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

pytest_plugins = ["agentcomm_conformance.plugin"]
