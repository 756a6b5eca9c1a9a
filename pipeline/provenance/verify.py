"""Verifying a file's C2PA manifest: signature, hard binding and the signer's chain against
the operator's trust anchors (c2pa-python's ``Reader`` with ``verify.verify_trust``).

``verify_file(path, trust_anchors_pem)`` → ``Verification``: ``trusted`` (valid, and the
chain ends at an anchor), ``untrusted`` (valid, the signer's chain ends elsewhere),
``invalid`` (a signature, hash or binding fails: the file was edited or re-muxed after it was
signed) or ``missing`` (no manifest at all: a re-mux drops it). The codes are C2PA 2.1's
("Validation": ``signingCredential.untrusted``, ``assertion.bmffHash.mismatch``…).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import c2pa

from pipeline.domain.provenance import RENDER_ASSERTION
from pipeline.provenance.signing import mime_of

UNTRUSTED = "signingCredential.untrusted"


class Status(StrEnum):
    TRUSTED = "trusted"
    UNTRUSTED = "untrusted"
    INVALID = "invalid"
    MISSING = "missing"


@dataclass(frozen=True)
class Verification:
    """What the file's manifest says and whether it holds."""

    status: Status
    failures: list[str] = field(default_factory=list)
    """``code: explanation`` of every failed check (the untrusted signer included)."""
    label: str | None = None
    generator: list[dict[str, Any]] = field(default_factory=list)
    signer: dict[str, Any] = field(default_factory=dict)
    actions: list[dict[str, Any]] = field(default_factory=list)
    ingredients: list[dict[str, Any]] = field(default_factory=list)
    render: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "failures": self.failures,
            "manifest": self.label,
            "generator": self.generator,
            "signer": self.signer,
            "actions": self.actions,
            "ingredients": self.ingredients,
            RENDER_ASSERTION: self.render,
        }


def _context(trust_anchors_pem: str | None) -> c2pa.Context:
    settings: dict[str, Any] = {"verify": {"verify_trust": True}}
    if trust_anchors_pem:
        settings["trust"] = {"trust_anchors": trust_anchors_pem}
    return c2pa.Context.from_dict(settings)


def _data(manifest: dict[str, Any], label: str) -> Any:
    return next(
        (a.get("data") for a in manifest.get("assertions", []) if a["label"] == label), None
    )


def verify_file(path: Path, trust_anchors_pem: str | None) -> Verification:
    """Verify ``path`` (mp4, jpeg, png); ``OSError`` when it cannot be read."""
    mime = mime_of(path)
    with path.open("rb") as src:
        try:
            reader = c2pa.Reader.try_create(mime, src, context=_context(trust_anchors_pem))
        except c2pa.C2paError as exc:
            return Verification(Status.INVALID, failures=[f"manifest: {exc}"])
        if reader is None:
            return Verification(Status.MISSING)
        with reader:
            store = json.loads(reader.json())
    label = store.get("active_manifest")
    manifest: dict[str, Any] = store.get("manifests", {}).get(label or "", {})
    results = store.get("validation_results", {}).get("activeManifest", {})
    failures = [f"{f['code']}: {f.get('explanation', '')}" for f in results.get("failure", [])]
    codes = {f["code"] for f in results.get("failure", [])}
    if store.get("validation_state") == "Invalid" or codes - {UNTRUSTED}:
        status = Status.INVALID
    elif UNTRUSTED in codes or store.get("validation_state") != "Trusted":
        status = Status.UNTRUSTED
    else:
        status = Status.TRUSTED
    actions = _data(manifest, "c2pa.actions.v2") or _data(manifest, "c2pa.actions") or {}
    return Verification(
        status,
        failures=failures,
        label=label,
        generator=manifest.get("claim_generator_info", []),
        signer=manifest.get("signature_info", {}),
        actions=actions.get("actions", []),
        ingredients=[
            {k: i.get(k) for k in ("title", "format", "relationship", "metadata")}
            for i in manifest.get("ingredients", [])
        ],
        render=_data(manifest, RENDER_ASSERTION),
    )
