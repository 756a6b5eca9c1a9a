"""Temporal workflows: deterministic, thin, and free of I/O imports; the middle of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

``SessionWorkflow`` (``session``) runs one drop through its activities and hands its
completion callback to a ``CallbackWorkflow`` (``callback``) that outlives it; ``ReprocessWorkflow``
(``reprocess``) reruns a selection of sessions as one batch of child workflows;
``ReconcileWorkflow`` (``reconcile``) re-lists ``inbox/`` on a schedule. ``specs`` is the one
table of the activities they call (name, input, output, queue, policy); ``attributes`` the
search attributes they set, ``priorities`` the task priorities (uploads before reruns),
``describe`` the live line the UI shows. They import only ``pipeline.domain`` and temporalio
(``make test`` enforces it with import-linter).
"""
