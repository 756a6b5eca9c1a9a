"""What workflows and activities pass each other: one model in, one model out, keys not bytes.

Sandbox-safe (pydantic and the pure domain only), so workflows can import it. Fields are
only ever added, with defaults, so running workflows keep replaying.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.drop import DropRef
from pipeline.domain.frames.plan import FramePlan, Segment
from pipeline.domain.manifest import Manifest


class Contract(BaseModel):
    model_config = ConfigDict(frozen=True)


DEFAULT_SESSION_DEADLINE_S = 6 * 3600.0
"""How long a session retries infrastructure failures (outages of ComfyUI, the store,
Temporal) before it fails: hours, so a restart or a night's outage is outlived."""
DEFAULT_MEDIA_GRACE_S = 600.0
"""How long a session waits for media its manifest names that are still uploading
(``aws s3 sync`` and ``rclone`` upload a folder's files in parallel, the small manifest
first)."""
STICKY_SCHEDULE_TO_START_S = 600.0
"""Default wait of a session's later GPU task for the worker that ran its first one."""


class SessionRequest(Contract):
    """Input of ``SessionWorkflow``."""

    drop: DropRef
    session_id: str
    gpu_task_queue: str = Field(
        default="gpu", description="Prefix of the GPU task queues (``pipeline.domain.queues``)."
    )
    deadline_s: float = Field(default=DEFAULT_SESSION_DEADLINE_S, gt=0)
    media_grace_s: float = Field(default=DEFAULT_MEDIA_GRACE_S, ge=0)
    sticky_schedule_to_start_s: float = STICKY_SCHEDULE_TO_START_S


class TakeDropInput(Contract):
    drop: DropRef
    session_id: str
    media_may_arrive: bool = Field(
        default=False,
        description="Media still missing may be on their way: take nothing, refuse; the "
        "session asks again later. When false, what is there is taken before refusing.",
    )


class TakenDrop(Contract):
    manifest: Manifest
    inputs: dict[str, str] = Field(description="Media role → key under sessions/{id}/inputs/.")
    preset: str | None = Field(
        default=None, description="The model preset the session runs (its GPU queue)."
    )


class PrepareImageInput(Contract):
    session_id: str
    image_key: str
    width: int
    height: int
    fit: Literal["cover", "contain"] | None = None


class PreparedImage(Contract):
    key: str
    source_format: str
    source_width: int
    source_height: int
    fit: str = "cover"
    crop: tuple[int, int, int, int] | None = Field(
        default=None, description="The part of the source shown: left, top, right, bottom."
    )


class PrepareAudioInput(Contract):
    session_id: str
    audio_key: str
    manifest: Manifest


class PreparedAudio(Contract):
    mix_key: str = Field(description="The cropped original mix, muxed into the final video.")
    duration_s: float


class PadAudioInput(Contract):
    session_id: str
    audio_key: str
    duration_s: float = Field(description="Pad with silence to this length.")


class PaddedAudio(Contract):
    key: str


class SeparationInput(Contract):
    session_id: str
    audio_key: str = Field(description="The cropped mix to take the vocals from.")


class GpuOutput(Contract):
    """What every GPU activity returns besides its result: where it ran."""

    worker_task_queue: str | None = Field(
        default=None, description="The queue of the GPU worker that ran it (sticky sessions)."
    )


class SeparationOutput(GpuOutput):
    vocals_key: str
    sample_rate: int
    duration_s: float
    device: str = Field(description="Where Demucs ran: 'cuda' or 'cpu'.")
    stand_in: str | None = Field(
        default=None, description="Set when the model was a stand-in, not real separation."
    )


class PlanInput(Contract):
    session_id: str
    manifest: Manifest
    audio_s: float | None = None
    image: PreparedImage | None = Field(
        default=None, description="Recorded in plan.json: how the image was fitted."
    )


class GenerateSegmentInput(Contract):
    """Everything a GPU worker needs to render one segment."""

    session_id: str
    run: str
    segment: Segment
    plan: FramePlan
    manifest: Manifest
    conditioning_key: str = Field(description="Start image: the prepared image or last frame.")
    seed: int
    audio_key: str | None = Field(
        default=None, description="Audio driving the model (vocals, padded to the plan)."
    )
    previous_key: str | None = Field(
        default=None,
        description="The previous segment's video, for plans whose segments continue it "
        "(FramePlan.continuation 'previous_segment').",
    )


class SegmentOutput(GpuOutput):
    key: str
    frames: int
    prompt_id: str


class ExtractFramesInput(Contract):
    video_key: str
    output_key: str


class ExtractedFrames(Contract):
    key: str


class StitchInput(Contract):
    session_id: str
    run: str
    plan: FramePlan
    segment_keys: tuple[str, ...]
    audio_key: str | None = None


class StitchOutput(Contract):
    key: str
    frames: int
    duration_s: float


class PublishInput(Contract):
    session_id: str
    workflow_id: str
    run: str
    manifest: Manifest
    inputs: dict[str, str]
    artifacts: dict[str, str] = Field(description="Artifact name → key.")
    timings_s: dict[str, float]
    frames: int
    duration_s: float
    stand_ins: dict[str, str] = Field(
        default_factory=dict, description="Stage → the stand-in that did it (not real models)."
    )


class PublishOutput(Contract):
    result_key: str
    urls: dict[str, str]


class FailureInput(Contract):
    session_id: str
    workflow_id: str
    stage: str
    code: str
    message: str
    retryable: bool
    detail: dict[str, Any] = Field(default_factory=dict)


class FailureRecorded(Contract):
    key: str


Stage = Literal[
    "taking_drop",
    "waiting_for_media",
    "preparing_image",
    "preparing_audio",
    "planning",
    "separating_vocals",
    "generating",
    "stitching",
    "publishing",
    "succeeded",
    "failed",
]


class SessionProgress(Contract):
    """What the ``progress`` query answers."""

    stage: Stage
    segments_done: int = 0
    segments_total: int = 0
    error: str | None = None
    waiting_for: list[str] = Field(
        default_factory=list, description="Media named but not uploaded yet (still arriving)."
    )
    preset: str | None = None
    """The model preset; its queue is where the session's GPU work waits for a worker."""


class SessionResult(Contract):
    session_id: str
    result_key: str
    combined_key: str
    urls: dict[str, str]
    frames: int
    duration_s: float


class ReconcileRequest(Contract):
    """Input of ``ReconcileWorkflow``."""

    orphan_grace_s: float = Field(default=900.0, ge=0)


class ReconcileReport(BaseModel):
    """What one reconcile pass found and did (key lists capped at
    ``pipeline.ingest.reconcile.REPORT_LIMIT``; the counts are always complete)."""

    manifests: int = 0
    started: int = 0
    """Drops started now or found running."""
    already_finished: int = 0
    in_sessions: int = 0
    """Drops skipped because ``sessions/{id}/`` already exists."""
    orphans: int = 0
    started_sessions: list[str] = Field(default_factory=list)
    orphan_keys: list[str] = Field(default_factory=list)
    misplaced: list[str] = Field(default_factory=list)
    """Why each manifest-like object that starts nothing does not (capped)."""
