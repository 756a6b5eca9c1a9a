"""Temporal activities: the I/O edge of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

Each takes one contract model and returns one (``pipeline.domain.contracts``), registered
under its spec's name (``pipeline.workflows.specs``):

- ``intake``: takes the drop out of ``inbox/`` into ``sessions/{id}/inputs/``;
- ``media`` and ``separation``: prepare image and audio (ffmpeg on CPU workers, Demucs on GPU
  workers), extract last frames, stitch;
- ``comfy``: generates segments on GPU workers;
- ``preview``: a small MP4 per segment, and a run's poster and contact sheet;
- ``quality``: the quality gate, measuring and judging each segment and its seam;
- ``provenance``: signs the outputs with C2PA Content Credentials, in place;
- ``records``: writes ``plan.json``, ``result.json`` and ``error.json``;
- ``notify``: the signed completion callback;
- ``reprocess``: selects a batch's sessions and loads one for its rerun;
- ``reconcile``: lists the inbox for drops without a workflow;
- ``edge`` turns pipeline errors into Temporal's (a session's own object gone: ``input_deleted``),
  ``heartbeat`` beats on a timer,
  ``scratch`` gives each attempt a local folder removed afterwards.
"""
