"""The domain: pure, sandbox-safe rules and records with no I/O.

A drop (``drop``) carries a manifest (``manifest``) whose media names resolve to the drop
folder's objects (``media_names``), of the types the CLI and the workers both accept
(``media_types``); the frame plan (``frames``) turns it into segment lengths
aligned to the model's windows; ``layout`` names every object a session writes; ``queues``
names the GPU task queues (per preset, per preset for separation, per worker); ``contracts``
are the typed payloads between the workflow and its activities (``previews`` those of the
preview activities); ``errors`` is the one error hierarchy, each error knowing whether it is
retryable; ``records`` are ``result.json`` and ``error.json`` as models; ``quality`` is the
quality gate's thresholds, figures and judgement (``quality_captions`` in words);
``clock_changes`` finds the cron times a time zone's clock changes skip or repeat. Text from
outside is made inert where it is shown: ``markdown`` for the Temporal UI (code spans, only
the pipeline's own links), ``controls`` for terminals (control characters as escapes).
``retention`` builds the bucket's lifecycle rules; ``rendering`` is how each segment was
rendered (graph, ComfyUI, device, GPU seconds); ``cost`` is what a run used (GPU seconds
per stage and GPU class, CPU seconds, bytes stored and moved) and what that cost by the
price table; ``provenance`` is the C2PA manifest definition the outputs are signed with.
Workflows import only this package.
"""
