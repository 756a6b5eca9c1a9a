"""Temporal workflows: deterministic, thin, and free of I/O imports; the middle of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

``SessionWorkflow`` (``session``) runs one drop through its activities; ``ReconcileWorkflow``
(``reconcile``) re-lists ``inbox/`` on a schedule. They import only ``pipeline.domain`` and
temporalio (``make test`` enforces it with import-linter).
"""
