"""CPU activity ``sign_outputs``: C2PA Content Credentials on the run's outputs, in place.

Each object (the combined video, each kept segment, the poster) is fetched to scratch disk,
signed with the manifest ``pipeline.domain.provenance.manifest_definition`` builds and
uploaded over itself. Idempotent under Temporal retries: an object that already carries a
valid manifest of ours (``signed_label``) is left as it is, so a retry after the upload
neither stacks a second manifest nor fails; one signed by an earlier attempt that crashed
before the upload is signed afresh from the unsigned copy still in the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath

from temporalio import activity

from activities.edge import edge
from activities.heartbeat import heartbeating
from activities.scratch import input_path, scratch_dir
from pipeline.domain.contracts import SignedOutputs, SignOutputsInput
from pipeline.domain.provenance import (
    InputFile,
    ModelFile,
    ProvenanceFacts,
    ProvenanceRecord,
    SignedObject,
    manifest_definition,
)
from pipeline.logging import get_logger
from pipeline.provenance.credentials import SigningCredential
from pipeline.provenance.signing import mime_of, sign_file, signed_label
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import SIGN_OUTPUTS

log = get_logger()

HEARTBEAT_S = 10.0
"""Well inside ``CPU_POLICY``'s one-minute heartbeat timeout while a long video hashes."""
GENERATOR = "wan-pipeline"
"""The distribution's name: the claim generator and the ``c2pa.created`` software agent."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


class ProvenanceActivities:
    """``credential`` None: ``SIGNING=off``, nothing is signed. ``models``: preset → its
    model files with their sha256 from ``deploy/models.lock``."""

    def __init__(
        self,
        store: ObjectStore,
        work_dir: Path,
        credential: SigningCredential | None,
        models: Mapping[str, tuple[ModelFile, ...]],
    ) -> None:
        self.store = store
        self.work_dir = work_dir
        self.credential = credential
        self.models = models

    @activity.defn(name=SIGN_OUTPUTS.name)
    @edge
    async def sign_outputs(self, request: SignOutputsInput) -> SignedOutputs:
        """Sign ``request.objects`` in place; what was signed, by whom."""
        credential = self.credential
        if credential is None:
            return SignedOutputs(provenance=None)
        with scratch_dir(self.work_dir, "activity-") as scratch:
            inputs = []
            for role, key in sorted(request.inputs.items()):
                path = input_path(scratch, key)
                await self.store.download(key, path)
                name = PurePosixPath(key).name
                inputs.append(
                    InputFile(
                        role=role,
                        title=name,
                        mime=mimetypes.guess_type(name)[0] or "application/octet-stream",
                        sha256=await asyncio.to_thread(_sha256, path),
                    )
                )
            facts = ProvenanceFacts(
                generator=GENERATOR,
                version=metadata.version(GENERATOR),
                kind=request.kind,
                preset=request.preset,
                seed=request.seed,
                steps=request.steps,
                cfg=request.cfg,
                renders=request.renders,
                models=self.models.get(request.preset, ()),
                inputs=tuple(inputs),
                credential="development" if credential.development else "configured",
            )
            signed: dict[str, SignedObject] = {}
            for name, key in request.objects.items():
                source = scratch / "out" / PurePosixPath(key).name
                source.parent.mkdir(exist_ok=True)
                await self.store.download(key, source)
                label = await asyncio.to_thread(signed_label, source)
                if label is None:
                    target = source.with_name(f"signed-{source.name}")
                    definition = manifest_definition(
                        facts, title=PurePosixPath(key).name, mime=mime_of(key)
                    )
                    async with heartbeating(HEARTBEAT_S, stage="signing", object=name):
                        label = await asyncio.to_thread(
                            sign_file, source, target, definition=definition, credential=credential
                        )
                    await self.store.upload(target, key, mime_of(key))
                    target.unlink()
                source.unlink()
                signed[name] = SignedObject(key=key, manifest=label)
        log.info("outputs_signed", objects=len(signed), development=credential.development)
        return SignedOutputs(
            provenance=ProvenanceRecord(
                signer=credential.subject, development=credential.development, objects=signed
            )
        )
