"""The SQLite hub: one database file shared by separate processes."""
