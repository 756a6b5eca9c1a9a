"""wan-pipeline: bucket drops in, Wan 2.x videos out, durably, through Temporal.

The flow, one package per step::

    inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/

A drop (media + ``manifest.json``) lands in ``inbox/``; ``ingest`` turns the storage event
into one ``SessionWorkflow`` (``workflows``) per drop; the workflow plans the frames
(``domain``) and calls the ``activities`` package, which runs ``media`` (ffmpeg, Demucs) on
CPU workers and ``comfy`` (ComfyUI) on GPU workers (``worker``, admitted by ``fleet``),
writing every artifact to ``sessions/{id}/`` through ``storage``. ``cli``, ``doctor`` and
``stack`` operate it; ``standins`` play the services that cannot run here (ComfyUI,
Cloudflare Queues); ``weights`` keeps a models directory to ``deploy/models.lock``;
``provenance`` signs the outputs with C2PA Content Credentials and verifies them.

Shared modules: ``config`` (``Settings``, built once in ``main``), ``logging`` (structlog),
``temporal_client`` (the one way to connect), ``shutdown`` (SIGINT/SIGTERM as an event),
``callbacks`` (Standard Webhooks signing, pure), ``host`` (bundled binaries, process
liveness), ``reprocess`` (which sessions a batch reruns: visibility, then the bucket's
records) and ``rerender`` (one session again from a segment on, as a new run).
``schemas/`` holds the published JSON Schemas.
"""
