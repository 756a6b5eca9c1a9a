"""The ``pipeline`` command: one module per group of subcommands."""
