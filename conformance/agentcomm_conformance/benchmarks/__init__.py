"""Per-operation costs of any implementation, measured by pytest-benchmark.

Run them with ``agentcomm bench --ops [--impl TARGET] [-- PYTEST_ARGS]``, or
``pytest -p agentcomm_conformance.plugin -m bench -p no:xdist --impl TARGET`` on this
directory.  They live outside ``suite/``, so a conformance run never collects them, and
carry the marker ``bench``, which this checkout's default run deselects.
"""
