"""The hybrid hub: Redis carries the traffic, a SQLite file keeps the audit trail.

``hub.py`` is the hub; ``outbox.py`` reads the Redis stream of changes still to record
and the current state of what they touched; ``audit.py`` writes that state into the
audit file in the ``sqlite`` hub's layout.
"""
