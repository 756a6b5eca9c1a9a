"""What the preview activities take and return (``activities.preview``): keys, not bytes.

Sandbox-safe like ``contracts`` (pydantic and the pure domain only); fields are only ever
added, with defaults. A segment's preview is made as soon as the segment exists; the poster
and the contact sheet once the run is stitched. The QC figures arrive as plain caption
lines, so previews do not depend on how quality is measured.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from pipeline.domain.contracts import Contract
from pipeline.domain.frames.plan import FramePlan
from pipeline.domain.frames.seams import seams


class SegmentPreviewInput(Contract):
    session_id: str
    run: str
    index: int = Field(ge=0, description="The segment's index in the plan.")
    segment_key: str = Field(description="The segment as the GPU activity stored it.")


class SegmentPreview(Contract):
    key: str = Field(description="``SessionLayout.preview_segment(run, index)``.")
    bytes: int = Field(ge=0, description="Size of the preview MP4.")


class RunPreviewsInput(Contract):
    session_id: str
    run: str
    combined_key: str = Field(description="The stitched video the previews show.")
    plan: FramePlan = Field(description="Where the seams fall (``frames.seams``).")
    seam_captions: tuple[tuple[str, ...], ...] = Field(
        default=(),
        description="Lines written under each seam's pair, one tuple per seam in order "
        "(the QC figures); empty when there are none.",
    )
    run_captions: tuple[str, ...] = Field(
        default=(), description="Lines written under the first/last pair (whole-run figures)."
    )

    @model_validator(mode="after")
    def _one_caption_per_seam(self) -> RunPreviewsInput:
        expected = len(seams(self.plan))
        if self.seam_captions and len(self.seam_captions) != expected:
            raise ValueError(
                f"{len(self.seam_captions)} seam caption(s) for a plan with {expected} seam(s)"
            )
        return self


class RunPreviews(Contract):
    poster_key: str = Field(description="``SessionLayout.preview_poster(run)``.")
    contact_sheet_key: str = Field(description="``SessionLayout.preview_contact_sheet(run)``.")
    poster_frame: int = Field(ge=0, description="The combined video's frame on the poster.")
