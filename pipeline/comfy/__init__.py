"""The ComfyUI protocol: typed messages, /history records and an async client."""

from pipeline.comfy.client import ComfyClient, RunResult
from pipeline.comfy.history import HistoryEntry, OutputFile
from pipeline.comfy.watch import OnProgress, Progress

__all__ = ["ComfyClient", "HistoryEntry", "OnProgress", "OutputFile", "Progress", "RunResult"]
