"""Temporal workflows: deterministic, thin, and free of I/O imports."""
