"""One line of ``pipeline doctor``: what was checked, whether it is right, what to do."""

from __future__ import annotations

from dataclasses import dataclass

TIMEOUT_S = 5.0
"""No probe waits longer: a doctor that hangs on a dead endpoint diagnoses nothing."""


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        tail = f" → {self.fix}" if self.fix and not self.ok else ""
        return f"{status}  {self.name:<19} {self.detail}{tail}"


def passed(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def failed(name: str, detail: str, fix: str = "") -> Check:
    return Check(name, False, detail, fix)
