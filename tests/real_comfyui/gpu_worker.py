"""``pipeline worker gpu`` with the real tier's profile: every graph it builds gets
``T5TokenizerOptions`` (``tests.real_comfyui.profile``). The stack runs it as its
``worker-gpu`` child, a process of its own, so killing it is a real worker restart."""

from __future__ import annotations

import sys

import activities.comfy
from pipeline.cli.app import main
from pipeline.domain.manifest import Kind
from tests.real_comfyui.profile import with_tokenizer_options
from workflows_comfy.build import SegmentGraphRequest, build_graph
from workflows_comfy.graph import ApiGraph


def _profiled(kind: Kind | str, request: SegmentGraphRequest) -> ApiGraph:
    return with_tokenizer_options(build_graph(kind, request))


activities.comfy.build_graph = _profiled  # type: ignore[attr-defined]

if __name__ == "__main__":
    sys.argv = ["pipeline", "worker", "gpu"]
    main()
