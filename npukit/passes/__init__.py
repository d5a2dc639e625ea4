"""Graph rewrites, one per module. Each takes a Graph and returns a new one."""
