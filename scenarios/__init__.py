"""The scenario cases, their schema and their format, as package data.

This folder is installed as ``agentcomm_conformance.scenarios`` (``package-dir`` in
pyproject.toml), so an installed suite plays the same cases as this checkout:
``pytest --impl TARGET --pyargs agentcomm_conformance.scenarios``.  It holds no code.
"""
