"""What workflows and activities pass each other: one model in, one model out, keys not bytes.

Sandbox-safe (pydantic and the pure domain only), so workflows can import it. Fields are
only ever added, with defaults, so running workflows keep replaying.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.domain.cost import GpuUse
from pipeline.domain.drop import DropRef
from pipeline.domain.frames.plan import FramePlan, Segment
from pipeline.domain.manifest import Manifest
from pipeline.domain.provenance import ProvenanceRecord
from pipeline.domain.quality import DEFAULT_QC_POLICY, QcPolicy, QualityReport, QualityThresholds
from pipeline.domain.rendering import Rendering, SegmentRender


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


class Rerun(Contract):
    """A session run again from its own ``inputs/``: by a reprocessing batch, or from one
    segment on by ``pipeline rerender`` (``from_segment`` and ``source_run`` together)."""

    batch_id: str
    overrides: dict[str, Any] = Field(
        default_factory=dict, description="Manifest fields changed for this run (--set)."
    )
    from_segment: int | None = Field(
        default=None,
        ge=0,
        description="0-based: the first segment rendered again; the ones before it are "
        "copied from ``source_run`` (every later one is rendered: it continues the one "
        "before). None renders every segment.",
    )
    source_run: str | None = Field(
        default=None, description="The run whose earlier segments this one keeps."
    )

    @model_validator(mode="after")
    def _from_a_run(self) -> Rerun:
        if (self.from_segment is None) != (self.source_run is None):
            raise ValueError("from_segment and source_run go together")
        return self


class SessionRequest(Contract):
    """Input of ``SessionWorkflow``. A rerun's ``drop`` names the session's own manifest
    (``sessions/{id}/inputs/manifest.json``): its inbox was emptied by the first run."""

    drop: DropRef
    session_id: str
    gpu_task_queue: str = Field(
        default="gpu", description="Prefix of the GPU task queues (``pipeline.domain.queues``)."
    )
    deadline_s: float = Field(default=DEFAULT_SESSION_DEADLINE_S, gt=0)
    media_grace_s: float = Field(default=DEFAULT_MEDIA_GRACE_S, ge=0)
    sticky_schedule_to_start_s: float = STICKY_SCHEDULE_TO_START_S
    rerun: Rerun | None = None


class LoadSessionInput(Contract):
    session_id: str
    overrides: dict[str, Any] = Field(default_factory=dict)


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
    steps: int = Field(default=0, description="Sampling steps (the manifest's or the preset's).")
    qc: QcPolicy = Field(
        default=DEFAULT_QC_POLICY, description="The quality gate's policy (manifest's or preset's)."
    )
    quality: QualityThresholds = Field(
        default_factory=QualityThresholds, description="The preset's quality thresholds."
    )
    segment_audio: bool = Field(
        default=True,
        description="Whether an audio kind's segments carry their sound, so the gate checks "
        "it: the shipped graphs save it; an operator's graph (PRESETS_FILE) may not, and "
        "the stitch lays the session's audio over them either way.",
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


class AudioTrackUsed(Contract):
    """Which audio track of the user's file drives the video (``pipeline.media.probe``)."""

    index: int = Field(description="Among the file's audio tracks, from 0.")
    stream: int = Field(description="ffprobe's stream index in the whole file.")
    tracks: int = Field(description="How many audio tracks the file has.")
    reason: Literal["only", "default", "first"] = Field(
        description="The only track, the first marked as the container's default, or the "
        "first of several none of which is marked."
    )
    language: str | None = None
    title: str | None = None


class PreparedAudio(Contract):
    mix_key: str = Field(description="The cropped original mix, muxed into the final video.")
    duration_s: float
    track: AudioTrackUsed | None = None
    peak_db: float | None = Field(
        default=None,
        description="Loudest sample of the crop, dBFS; None when it is digital silence.",
    )
    silent: bool = Field(default=False, description="Peak below the silence level (-60 dBFS).")


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
    gpu_s: float | None = Field(
        default=None, ge=0, description="Seconds it held the worker's GPU turn, wall clock."
    )
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
    audio: PreparedAudio | None = Field(
        default=None, description="Recorded in plan.json: which audio track was used."
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
    rendering: Rendering | None = Field(
        default=None, description="Where and how it ran; None from workers before provenance."
    )


class ReuseSegmentsInput(Contract):
    """Copy segments ``0 .. count - 1`` of ``source_run`` into ``run``, with the frames
    each hands to the next (``SessionLayout.segment_last_frame`` / ``segment_motion_frames``)."""

    session_id: str
    source_run: str
    run: str
    count: int = Field(ge=1)


class ReusedSegments(Contract):
    keys: tuple[str, ...] = Field(description="The copies in ``run``, in segment order.")


class CheckSegmentInput(Contract):
    """One segment for the quality gate; ``check_segment`` returns its ``QualityReport``."""

    session_id: str
    run: str
    index: int = Field(ge=0, description="The segment's place in the plan (Segment.index).")
    segment_key: str
    previous_key: str | None = Field(
        default=None, description="The segment before it, for the seam; None for the first."
    )
    expected_frames: int = Field(gt=0, description="Frames the plan gives it (Segment.length).")
    fps: int = Field(gt=0)
    expect_audio: bool = Field(
        default=False, description="Whether the kind's segments carry audio."
    )
    overlap_frames: int = Field(
        default=0,
        ge=0,
        description="Leading frames re-rendering the previous segment (Segment.drop_leading): "
        "the seam is measured at the first frame after them.",
    )
    thresholds: QualityThresholds = Field(default_factory=QualityThresholds)
    attempt: int = Field(default=0, ge=0, description="0 for the first render, n for re-render n.")


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


class SignOutputsInput(Contract):
    """The outputs to sign in place, and the facts their manifests carry (the activity adds
    the inputs' sha256 and the preset's model files from ``MODELS_LOCK``)."""

    session_id: str
    run: str
    kind: str = Field(description="The manifest's kind.")
    preset: str
    seed: int = Field(description="The session's base seed (segment i renders seed + i).")
    steps: int | None = None
    cfg: float | None = None
    inputs: dict[str, str] = Field(description="Media role → key under inputs/ (ingredients).")
    renders: tuple[SegmentRender, ...] = ()
    objects: dict[str, str] = Field(
        description="Output name → key: combined, each kept segment, the poster."
    )


class SignedOutputs(Contract):
    provenance: ProvenanceRecord | None = Field(
        description="What was signed and by whom; None with SIGNING=off."
    )


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
    changed: dict[str, Any] = Field(
        default_factory=dict, description="A rerun's manifest overrides, listed in its run."
    )
    preset: str | None = None
    drop_key: str | None = None
    quality: tuple[QualityReport, ...] | None = Field(
        default=None, description="Every quality check of the run (None: the gate was off)."
    )
    renders: tuple[SegmentRender, ...] = Field(
        default=(),
        description="Every GPU render of the run, in order (segments reused "
        "from an earlier run are not rendered again and not listed).",
    )
    other_gpu: tuple[GpuUse, ...] = Field(
        default=(), description="The run's GPU work besides segment renders (separation)."
    )
    provenance: ProvenanceRecord | None = Field(
        default=None, description="The outputs' Content Credentials (None: not signed)."
    )


class PublishOutput(Contract):
    result_key: str
    urls: dict[str, str]
    public: list[str] = Field(
        default_factory=list,
        description="The names in ``urls`` linked under R2_PUBLIC_URL (PUBLIC_OUTPUTS).",
    )
    expires_at: datetime | None = Field(
        default=None,
        description="When the presigned ``urls`` (those not in ``public``) stop working.",
    )


class FailureInput(Contract):
    session_id: str
    workflow_id: str
    stage: str
    code: str
    message: str
    retryable: bool
    detail: dict[str, Any] = Field(default_factory=dict)
    run: str | None = Field(default=None, description="The generation that failed, if any.")
    changed: dict[str, Any] = Field(default_factory=dict)
    kind: str | None = None
    preset: str | None = None
    drop_key: str | None = None
    timings_s: dict[str, float] = Field(
        default_factory=dict, description="Stage → seconds, up to the failure (its cost)."
    )
    renders: tuple[SegmentRender, ...] = Field(
        default=(), description="Every GPU render before the failure (its cost)."
    )
    other_gpu: tuple[GpuUse, ...] = Field(
        default=(), description="GPU work besides segment renders before the failure."
    )


class CancellationInput(Contract):
    """A session cancelled by an operator (``pipeline cancel``, the Temporal UI or the API)."""

    session_id: str
    workflow_id: str
    stage: str
    reason: str = Field(description="What the canceller gave, empty if nothing.")
    kept: dict[str, str] = Field(
        default_factory=dict, description="Artifact name → key of what was made before."
    )


Outcome = Literal["succeeded", "failed", "cancelled"]


class NotifyInput(Contract):
    """A session's end, for its completion callback."""

    session_id: str
    workflow_id: str
    message_id: str = Field(description="webhook-id: one per session end, kept across retries.")
    status: Outcome
    callback_url: str | None = Field(default=None, description="The manifest's; else config's.")
    record_key: str = Field(description="result.json or error.json, sent as the payload's data.")


class NotifyOutput(Contract):
    delivered: bool = Field(description="False when neither manifest nor config names a URL.")
    status_code: int | None = None
    attempts: int | None = Field(default=None, description="The try that delivered it (1-10).")


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
    "cancelled",
]


class SegmentProgress(Contract):
    """Where a GPU worker is in one segment: heartbeat details and the ``report_progress``
    signal it sends its session. Steps count over the segment's sampler nodes (the two
    Wan 2.2 experts share one step count); ComfyUI's ``progress`` messages give value/max."""

    segment: int
    node: str = Field(description="class_type of the node executing now.")
    class_type: str = Field(default="", description="Same as node; kept for older readers.")
    doing: str = Field(
        default="",
        description="What the prompt is doing, in words: 'queued (position 2)', 'loading models', "
        "'encoding prompt', 'sampling step 3/8', 'decoding', 'saving', 'running <class_type> "
        "(node <id>)' (pipeline/comfy/doing.py).",
    )
    value: float = 0.0
    max: float = 1.0
    step: int = 0
    steps: int = 0
    nodes_done: int = 0
    nodes_total: int = 0
    seconds_per_step: float | None = Field(
        default=None,
        description="Sampling pace measured between the progress messages of this segment's "
        "samplers; None until one sampler sent two (pipeline/comfy/steps.py).",
    )
    eta_s: float | None = Field(default=None, description="Sampling left in this segment, s.")
    worker: str = ""


class SessionProgress(Contract):
    """What the ``progress`` query answers."""

    stage: Stage
    segments_done: int = 0
    segments_total: int = 0
    error: str | None = None
    waiting_for: list[str] = Field(
        default_factory=list, description="Media named but not uploaded yet (still arriving)."
    )
    drop_folder: list[str] = Field(
        default_factory=list,
        description="While waiting for media: what the drop's folder holds (up to 100 names).",
    )
    segment: int | None = Field(default=None, description="1-based segment rendering now.")
    node: str | None = None
    doing: str | None = Field(
        default=None,
        description="What the segment's prompt is doing, in words (SegmentProgress.doing).",
    )
    previews: list[str] = Field(
        default_factory=list,
        description="Keys of the small preview MP4 of each segment finished so far.",
    )
    rerenders: int = Field(default=0, description="Segments re-rendered by the quality gate.")
    step: int = 0
    steps: int = 0
    frames_done: int = 0
    frames_total: int = 0
    eta_s: float | None = Field(default=None, description="Sampling left in the session, s.")
    worker: str | None = None
    preset: str | None = None
    """The model preset; its queue is where the session's GPU work waits for a worker."""


class SessionResult(Contract):
    session_id: str
    result_key: str
    combined_key: str
    urls: dict[str, str]
    expires_at: datetime | None = Field(
        default=None,
        description="When the presigned ``urls`` stop working (``pipeline status`` mints "
        "fresh ones from the keys); None: public under R2_PUBLIC_URL, or an older session.",
    )
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


class SignalName:
    """Signals ``SessionWorkflow`` takes, by name (activities do not import workflows)."""

    REPORT_PROGRESS = "report_progress"


class Selection(Contract):
    """Which sessions a reprocessing batch reruns. Every filter given must match."""

    status: Literal["succeeded", "failed", "cancelled"] | None = None
    error_codes: tuple[str, ...] = Field(
        default=(), description="Failed with one of these codes (error.json's ``code``)."
    )
    retryable_only: bool = Field(
        default=False, description="Failed with a retryable error (a rerun may succeed)."
    )
    kind: str | None = None
    preset: str | None = None
    since: datetime | None = Field(default=None, description="Started at or after (UTC).")
    until: datetime | None = Field(default=None, description="Started before (UTC).")
    within_s: int | None = Field(
        default=None,
        description="Started in the last so many seconds before the batch starts: what a "
        "schedule uses (``since`` is fixed; this moves with each run).",
    )
    key_prefix: str | None = Field(default=None, description="Drop manifest keys under this.")
    limit: int = Field(default=10_000, ge=1)


class Selected(Contract):
    session_ids: list[str]
    skipped: list[str] = Field(
        default_factory=list, description="Matched but left out: a later run succeeded."
    )
    sources: list[str] = Field(description="Where they were found: visibility and/or records.")
    bucket: str = Field(default="", description="The bucket the sessions live in.")


class BatchCounts(Contract):
    selected: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    peak_running: int = 0

    @property
    def finished(self) -> int:
        return self.done + self.failed


class ReprocessRequest(Contract):
    """Input of ``ReprocessWorkflow``; continued-as-new with what is left."""

    batch_id: str = Field(description="Names the batch's runs: generations/{time}-{batch_id}/.")
    selection: Selection
    overrides: dict[str, Any] = Field(default_factory=dict)
    concurrency: int = Field(default=4, ge=1, le=1000)
    chunk: int = Field(default=100, ge=1, description="Reruns per run before continue-as-new.")
    gpu_task_queue: str = "gpu"
    pending: list[str] | None = Field(
        default=None, description="Sessions left to rerun; None until selected."
    )
    bucket: str = ""
    counts: BatchCounts | None = None
