"""Where the seams of a run fall in its stitched video: pure arithmetic over the plan.

The stitcher (``pipeline.media.stitch``) keeps every frame of segment 0 and, of each later
segment, the frames after the ``drop_leading`` it re-rendered, and trims the whole to
``plan.final_frames``. In the combined video, segment ``k`` therefore begins at the sum of
the earlier segments' ``new_frames``, and the seam before it lies between that frame minus
one (the previous segment's last frame) and that frame (segment ``k``'s frame number
``drop_leading``, its first new one). With I2V's one-frame overlap and 81-frame segments
the seams sit at 80|81, 160|161, ...; with InfiniteTalk's 9-frame overlap at 80|81,
152|153, ... (``plan_i2v``, ``plan_infinitetalk``). S2V decodes up to
``S2V_CHUNKS_PER_PROMPT`` chunks in one piece, so a short plan has no seam and a long one
a seam after each segment, at 236|237, 476|477, ... (``plan_s2v``: no frame is
re-rendered). A seam the final trim cuts off (none can, since each kind plans the fewest
segments covering the audio) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.domain.frames.plan import FramePlan


@dataclass(frozen=True)
class Seam:
    """One join of two segments, as frame indices (0-based) of the combined video."""

    number: int
    """1 for the first seam: also the index of the segment after it."""
    last_before: int
    """The previous segment's last frame."""
    first_after: int
    """The next segment's first new frame: always ``last_before + 1``."""

    def time_s(self, fps: int) -> float:
        """When the seam passes: the first new frame's start in the combined video (s)."""
        return self.first_after / fps

    @property
    def segment_before(self) -> int:
        return self.number - 1

    @property
    def segment_after(self) -> int:
        return self.number


def seams(plan: FramePlan) -> tuple[Seam, ...]:
    """Every seam of ``plan`` in the combined video, in order (``()`` for one segment)."""
    found: list[Seam] = []
    start = 0
    for segment in plan.segments:
        if segment.index > 0 and start < plan.final_frames:
            found.append(Seam(number=segment.index, last_before=start - 1, first_after=start))
        start += segment.new_frames
    return tuple(found)
