"""Ingest: storage events in, started sessions out; step two of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

``events`` parses S3/MinIO, R2 and SeaweedFS event bodies (pure); ``seaweedfs`` (the filer's
metadata stream, the embedded default), ``r2_queue``, ``sqs`` and ``webhook`` are the
transports, chosen by ``source``; ``starter`` starts one ``SessionWorkflow`` per drop, with
the UI text ``summary`` writes; ``reconcile`` and ``schedule`` are the safety net for events
that never arrive.
"""
