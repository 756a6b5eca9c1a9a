"""Signing one file with a C2PA manifest (c2pa-python's ``Builder``), and knowing one is signed.

The manifest is embedded the way the C2PA spec says for the format (C2PA 2.1, "Embedding
manifests": a ``uuid`` box before ``mdat`` for BMFF/MP4, APP11 segments for JPEG, a ``caBX``
chunk for PNG), so the media streams stay byte for byte the same and the file still plays;
the hard binding (``c2pa.hash.bmff.v3``, ``c2pa.hash.data``) covers every other byte, so any
re-mux or edit breaks it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import c2pa

from pipeline.domain.errors import InternalError
from pipeline.domain.provenance import RENDER_ASSERTION
from pipeline.provenance.credentials import SigningCredential

MIME_TYPES = {".mp4": "video/mp4", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}
"""The outputs' types c2pa-python embeds into, by file suffix."""


def mime_of(path: str | Path) -> str:
    """The C2PA format of an output by its suffix; ``InternalError`` for others."""
    mime = MIME_TYPES.get(Path(path).suffix.lower())
    if mime is None:
        raise InternalError(f"{Path(path).name}: C2PA signing takes mp4, jpeg or png")
    return mime


def _signer(credential: SigningCredential) -> c2pa.Signer:
    return c2pa.Signer.from_callback(
        credential.sign,
        c2pa.C2paSigningAlg[credential.algorithm.upper()],
        credential.chain_pem,
        credential.tsa_url,
    )


def sign_file(
    source: Path, dest: Path, *, definition: dict[str, Any], credential: SigningCredential
) -> str:
    """Write ``source`` signed with ``definition`` to ``dest`` (another path); returns the
    active manifest's label (``urn:c2pa:…``). ``InternalError`` when the SDK refuses."""
    mime = mime_of(source)
    try:
        with (
            c2pa.Builder(definition) as builder,
            _signer(credential) as signer,
            source.open("rb") as src,
            dest.open("w+b") as out,
        ):
            builder.sign(signer, mime, src, out)
    except c2pa.C2paError as exc:
        raise InternalError(f"C2PA signing of {source.name} failed: {exc}") from None
    label = signed_label(dest)
    if label is None:
        raise InternalError(f"C2PA signing of {source.name} left no manifest")
    return label


def signed_label(path: Path) -> str | None:
    """The label of the file's active manifest when it is one of ours (it carries
    ``RENDER_ASSERTION``) and its signature and hard binding hold; else None."""
    try:
        with path.open("rb") as src:
            reader = c2pa.Reader.try_create(mime_of(path), src)
            if reader is None:
                return None
            with reader:
                store = json.loads(reader.json())
    except c2pa.C2paError:
        return None
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label or "", {})
    if not any(a.get("label") == RENDER_ASSERTION for a in manifest.get("assertions", [])):
        return None
    failures = store.get("validation_results", {}).get("activeManifest", {}).get("failure", [])
    if any(f.get("code") != "signingCredential.untrusted" for f in failures):
        return None
    return str(label)
