"""The run previews' input holds one caption tuple per seam of its plan, or none."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.domain.frames.plan import plan_i2v
from pipeline.domain.previews import RunPreviewsInput

PLAN = plan_i2v(extensions=2, fps=16, width=832, height=480)


def _request(captions: tuple[tuple[str, ...], ...]) -> RunPreviewsInput:
    return RunPreviewsInput(
        session_id="s", run="r1", combined_key="k", plan=PLAN, seam_captions=captions
    )


def test_one_caption_tuple_per_seam_or_none_is_accepted() -> None:
    assert _request((("a",), ())).seam_captions == (("a",), ())
    assert _request(()).seam_captions == ()


def test_a_caption_count_that_is_not_the_seam_count_is_refused() -> None:
    with pytest.raises(ValidationError, match="1 seam caption"):
        _request((("a",),))
