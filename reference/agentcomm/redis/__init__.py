"""The Redis hub: the design's key layout, every multi-key change one Lua script."""
