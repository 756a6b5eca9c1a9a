"""Temporal activities: the I/O edge. Each takes one contract model and returns one."""
