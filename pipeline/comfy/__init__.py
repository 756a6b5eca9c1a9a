"""The ComfyUI protocol: typed messages, /history records and an async client.

``client`` (``ComfyClient``: upload, submit, run to completion, download), ``messages`` (one
class per WebSocket message type), ``watch`` (one prompt followed over the WebSocket),
``history`` (``GET /history``, the source of truth for how a prompt ended), ``steps``
(sampler steps and an ETA), ``doing`` (what a prompt is doing, in words), ``rejection``
(``POST /prompt`` refusals in words), ``multipart`` (streamed uploads), ``system``
(``/system_stats``: version and devices), ``fields`` (typed reads of decoded JSON) and
``capture`` (re-recording a server's answers as comfy-sim's data).
"""

from pipeline.comfy.client import ComfyClient, RunResult
from pipeline.comfy.history import HistoryEntry, OutputFile
from pipeline.comfy.watch import OnProgress, OnQueued, Progress, Queued

__all__ = [
    "ComfyClient",
    "HistoryEntry",
    "OnProgress",
    "OnQueued",
    "OutputFile",
    "Progress",
    "Queued",
    "RunResult",
]
