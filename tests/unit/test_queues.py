"""GPU task queue names (``pipeline.domain.queues``)."""

from __future__ import annotations

import pytest

from pipeline.domain.queues import (
    is_separation_queue,
    is_worker_queue,
    polled_queues,
    preset_queue,
    separation_queue,
    worker_name,
    worker_queue,
)


def test_a_worker_polls_each_preset_and_with_a_model_each_separation_queue() -> None:
    assert polled_queues("gpu", ["b", "a"], separates=False) == ["gpu.a", "gpu.b"]
    assert polled_queues("gpu", ["a"], separates=True) == ["gpu.a", "gpu.a.separation"]
    assert separation_queue("gpu", "a") == f"{preset_queue('gpu', 'a')}.separation"
    assert is_separation_queue(separation_queue("gpu", "a"))
    assert not is_separation_queue(preset_queue("gpu", "a"))


@pytest.mark.parametrize(
    ("hostname", "url", "name"),
    [
        ("box-1", "http://127.0.0.1:8188", "box-1.127.0.0.1-8188"),
        ("box-1", "http://comfyui:8188/", "box-1.comfyui-8188"),
        ("box-1", "https://comfy.example", "box-1.comfy.example-443"),
        ("box-1", "http://comfy.example", "box-1.comfy.example-80"),
        ("Box 1", "http://[::1]:8188", "Box-1.-1-8188"),
    ],
)
def test_a_worker_is_named_by_its_host_and_comfyui_not_by_its_process(
    hostname: str, url: str, name: str
) -> None:
    assert worker_name(hostname, url) == name
    assert is_worker_queue("gpu", worker_queue("gpu", name))


def test_workers_beside_different_comfyuis_on_one_host_get_different_queues() -> None:
    names = {worker_name("box", f"http://127.0.0.1:{port}") for port in (8188, 8189)}
    assert len(names) == 2
