"""Ingest: storage events in, started sessions out; step two of
``inbox/ → ingest → SessionWorkflow → activities → sessions/{id}/``.

``events`` parses S3/MinIO and R2 event bodies (pure); ``sqs``, ``r2_queue`` and ``webhook``
are the transports, chosen by ``source``; ``starter`` starts one ``SessionWorkflow`` per
drop; ``reconcile`` and ``schedule`` are the safety net for events that never arrive.
"""
