"""The first activity: take a drop out of the inbox into its session's ``inputs/``.

Every read, copy and delete of a drop's objects is conditional on the version this
session was started for, so two uploads of one manifest (a re-save, a FUSE mount's empty
first write) never handle each other's bytes, and no object newer than that is deleted:

- the manifest is read with ``If-Match: {the event's ETag}`` and those exact bytes are
  written to ``sessions/{id}/inputs/manifest.json``;
- each medium is copied with ``x-amz-copy-source-if-match`` on the ETag it was listed with;
- deletes go through ``ObjectStore.delete_version`` (``If-Match`` after an ETag check), the
  media only while the inbox manifest is this session's or gone (media a newer manifest of
  the same folder still needs are left for it), the manifest last.
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity

from activities.edge import edge
from pipeline.domain.contracts import TakeDropInput, TakenDrop
from pipeline.domain.drop import normalize_etag
from pipeline.domain.errors import InternalError, ManifestError, MissingMediaError, ObjectChanged
from pipeline.domain.layout import SessionLayout, drop_folder
from pipeline.domain.manifest import named_media, parse_manifest
from pipeline.domain.media_names import (
    describe_folder,
    did_you_mean,
    folder_names,
    resolve_name,
)
from pipeline.logging import get_logger
from pipeline.storage import ObjectMeta, ObjectStore
from pipeline.workflows.specs import TAKE_DROP
from workflows_comfy.bound import BoundGraphPreset
from workflows_comfy.presets import preset_for, qc_policy, sampling_steps

log = get_logger()


@dataclass(frozen=True)
class _Move:
    source: str
    target: str
    etag: str


class IntakeActivities:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @activity.defn(name=TAKE_DROP.name)
    @edge
    async def take_drop(self, request: TakeDropInput) -> TakenDrop:
        """Copy the drop into ``sessions/{id}/inputs/``, then empty it from the inbox.

        Copies happen before any delete, and a retry finds what an earlier attempt
        already copied, so a crash at any point loses nothing. An empty manifest moves
        nothing (its content is on its way as a newer upload); an invalid one keeps the
        media it names with its session. Missing media move nothing while
        ``media_may_arrive`` (the session will look again), else the rest is kept.
        """
        drop, layout = request.drop, SessionLayout(request.session_id)
        raw, in_inbox = await self._manifest_bytes(request)
        folder = drop_folder(drop.manifest_key)
        listed = {meta.key: meta async for meta in self.store.list_keys(folder)}
        present = folder_names(folder, ((key, meta.size) for key, meta in listed.items()))
        try:
            manifest = parse_manifest(raw)
        except ManifestError:
            if raw.strip():
                moves, _ = self._resolve(folder, named_media(raw), present, listed, layout)
                await self._take(request, raw if in_inbox else None, moves)
            raise
        moves, unresolved = self._resolve(folder, manifest.media(), present, listed, layout)
        missing = {
            role: name
            for role, name in unresolved.items()
            if await self.store.head(layout.input(name)) is None  # else taken by a retry
        }
        if missing:
            if not request.media_may_arrive:
                await self._take(request, raw if in_inbox else None, moves)
            named = ", ".join(f"{role} '{name}'" for role, name in missing.items())
            raise MissingMediaError(
                f"the manifest names {named}, but {folder} {describe_folder(present)}"
                f"{did_you_mean(list(missing.values()), present)}; "
                "upload the media, then the manifest again",
                detail={"missing": sorted(unresolved.values()), "folder": present[:100]},
            )
        await self._take(request, raw if in_inbox else None, moves)
        preset = preset_for(manifest)
        log.info("drop_taken", kind=manifest.kind.value, media=len(moves), preset=preset.name)
        return TakenDrop(
            manifest=manifest,
            inputs={role: layout.input(name) for role, name in manifest.media().items()},
            preset=preset.name,
            steps=sampling_steps(manifest),
            qc=qc_policy(manifest),
            quality=preset.quality,
            segment_audio=not isinstance(preset, BoundGraphPreset),
        )

    async def _manifest_bytes(self, request: TakeDropInput) -> tuple[bytes, bool]:
        """The triggering manifest's bytes, and whether they are still in the inbox."""
        drop = request.drop
        try:
            raw = await self.store.get_bytes(drop.manifest_key, if_match=drop.etag)
        except ObjectChanged:
            raw = None
            replaced = True
        else:
            replaced = False
        if raw is not None:
            return raw, True
        taken = await self.store.get_bytes(SessionLayout(request.session_id).manifest)
        if taken is not None:
            return taken, False
        if replaced:
            raise ManifestError(
                f"{drop.manifest_key} was replaced by a newer upload before this session took "
                "it; the newer upload runs as its own session"
            )
        raise ManifestError(f"{drop.manifest_key} no longer exists: the drop was deleted")

    @staticmethod
    def _resolve(
        folder: str,
        named: dict[str, str],
        present: list[str],
        listed: dict[str, ObjectMeta],
        layout: SessionLayout,
    ) -> tuple[list[_Move], dict[str, str]]:
        """Moves for the named media found in the folder, and role → name of the others."""
        moves: list[_Move] = []
        unresolved: dict[str, str] = {}
        for role, name in named.items():
            found = resolve_name(name, present)
            if found is None:
                unresolved[role] = name
            else:
                meta = listed[folder + found]
                moves.append(_Move(meta.key, layout.input(name), meta.etag))
        return moves, unresolved

    async def _take(self, request: TakeDropInput, raw: bytes | None, moves: list[_Move]) -> None:
        """Write the manifest's bytes and copy the media, then delete the versions taken."""
        drop, layout = request.drop, SessionLayout(request.session_id)
        if raw is not None:
            await self.store.put_bytes(layout.manifest, raw, "application/json")
        for move in moves:
            try:
                await self.store.copy(move.source, move.target, if_match=move.etag)
            except ObjectChanged as exc:
                raise InternalError(
                    f"{move.source} was replaced while the drop was taken; taking it again"
                ) from exc
        current = await self.store.head(drop.manifest_key)
        if current is not None and normalize_etag(current.etag) != drop.etag:
            # A newer manifest was uploaded to this folder: its session takes the media.
            log.info("media_left_for_newer_manifest", key=drop.manifest_key)
            return
        for move in moves:
            await self.store.delete_version(move.source, move.etag)
        # The manifest last, so a retry after a crash still finds the drop where it was.
        await self.store.delete_version(drop.manifest_key, drop.etag)
