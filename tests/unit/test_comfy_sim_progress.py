"""comfy-sim's progress throttle: ComfyUI 0.33.0's ``ProgressBar.update_absolute`` rule."""

from __future__ import annotations

from pipeline.standins.comfy_sim.progress import Throttle


def sent(steps: list[tuple[float, float]], total: float) -> list[float]:
    """The values of ``(value, at seconds)`` steps that one throttle lets through."""
    throttle = Throttle()
    return [value for value, now in steps if throttle.due(value, total, now)]


def test_fast_steps_send_only_the_first_and_the_last() -> None:
    assert sent([(v, 10 + v * 0.02) for v in range(1, 7)], 6) == [1, 6]


def test_a_step_100_ms_after_the_last_sent_one_goes_through() -> None:
    assert sent([(1, 10.0), (2, 10.05), (3, 10.11), (4, 10.15), (5, 10.2)], 5) == [1, 3, 5]


def test_a_step_under_half_a_percent_waits_even_after_100_ms() -> None:
    # 0.5 % of 1000 is 5: 4 after the first step is too little, 6 enough.
    assert sent([(1, 10.0), (4, 11.0), (6, 12.0), (1000, 13.0)], 1000) == [1, 6, 1000]


def test_a_preview_is_always_sent() -> None:
    throttle = Throttle()
    assert throttle.due(1, 10, 5.0)
    assert not throttle.due(2, 10, 5.01)
    assert throttle.due(3, 10, 5.02, preview=True)
