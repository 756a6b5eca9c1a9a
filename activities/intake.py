"""The first activity: take a drop out of the inbox into its session's ``inputs/``."""

from __future__ import annotations

from enum import Enum

from temporalio import activity

from activities.edge import edge
from pipeline.domain.contracts import TakeDropInput, TakenDrop
from pipeline.domain.drop import normalize_etag
from pipeline.domain.errors import ManifestError, MissingMediaError, UnsupportedKindError
from pipeline.domain.layout import SessionLayout, drop_folder, media_key
from pipeline.domain.manifest import Kind, parse_manifest
from pipeline.logging import get_logger
from pipeline.storage import ObjectStore
from pipeline.workflows.specs import TAKE_DROP
from workflows_comfy.presets import preset_for

SUPPORTED_KINDS = frozenset(Kind)

log = get_logger()


class IntakeActivities:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    @activity.defn(name=TAKE_DROP.name)
    @edge
    async def take_drop(self, request: TakeDropInput) -> TakenDrop:
        """Copy the drop into ``sessions/{id}/inputs/``, then empty it from the inbox.

        Copies happen before any delete, and a retry finds what an earlier attempt
        already copied, so a crash at any point loses nothing.
        """
        drop, layout = request.drop, SessionLayout(request.session_id)
        raw, inbox = await self._manifest_bytes(request)
        # A manifest replaced by a newer upload stays: that upload is its own session.
        manifest_move = [(drop.manifest_key, layout.manifest)] if inbox is _Inbox.OURS else []
        try:
            manifest = parse_manifest(raw)
        except ManifestError:
            await self._move(manifest_move)
            raise
        moves: list[tuple[str, str]] = []
        missing: list[str] = []
        for role, relative in manifest.media().items():
            source, target = media_key(drop.manifest_key, relative), layout.input(relative)
            if await self.store.head(source) is not None:
                moves.append((source, target))
            elif await self.store.head(target) is None:  # else an earlier attempt moved it
                missing.append(f"{role} '{relative}'")
        # The media of a replaced manifest stay too: the newer upload's session needs them.
        await self._move(moves + manifest_move, delete=inbox is not _Inbox.REPLACED)
        if missing:
            raise MissingMediaError(
                f"the manifest names {', '.join(missing)} but no such file was uploaded to "
                f"{drop_folder(drop.manifest_key)}; upload the media first, then the manifest"
            )
        if manifest.kind not in SUPPORTED_KINDS:
            raise UnsupportedKindError(
                f"kind {manifest.kind.value!r} is not yet supported by this pipeline; "
                f"supported: {', '.join(sorted(k.value for k in SUPPORTED_KINDS))}"
            )
        preset_for(manifest)
        log.info("drop_taken", kind=manifest.kind.value, media=len(moves))
        return TakenDrop(
            manifest=manifest,
            inputs={role: layout.input(rel) for role, rel in manifest.media().items()},
        )

    async def _manifest_bytes(self, request: TakeDropInput) -> tuple[bytes, _Inbox]:
        """The triggering manifest, and what the inbox holds under its key now."""
        drop = request.drop
        inbox = await self.store.head(drop.manifest_key)
        if inbox is not None and normalize_etag(inbox.etag) == drop.etag:
            raw = await self.store.get_bytes(drop.manifest_key)
            if raw is not None:
                return raw, _Inbox.OURS
        taken = await self.store.get_bytes(SessionLayout(request.session_id).manifest)
        if taken is not None:
            return taken, _Inbox.TAKEN if inbox is None else _Inbox.REPLACED
        if inbox is not None:
            raise ManifestError(
                f"{drop.manifest_key} was replaced by a newer upload before this session took "
                "it; the newer upload runs as its own session"
            )
        raise ManifestError(f"{drop.manifest_key} no longer exists: the drop was deleted")

    async def _move(self, moves: list[tuple[str, str]], *, delete: bool = True) -> None:
        """Copy objects known to exist in the inbox into the session, then delete them."""
        for source, target in moves:
            await self.store.copy(source, target)
        if delete:
            # Deletes only after every copy, the manifest last, so a retry can still find it.
            await self.store.delete(*(source for source, _ in moves))


class _Inbox(Enum):
    """The inbox's manifest key, as a (possibly retried) take finds it."""

    OURS = "ours"
    """This session's manifest: take it with the media."""
    TAKEN = "taken"
    """Gone: an earlier attempt took it (its copy is in the session)."""
    REPLACED = "replaced"
    """An earlier attempt took ours; a newer upload's manifest waits there for its session."""
