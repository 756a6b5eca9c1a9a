"""Temporal task priorities: fresh uploads ahead of reprocessing batches, on every queue.

Priority keys run 1 (first) to 5 (last) with the server's defaults; a task's workflow
passes its key on to its activities and children. See temporalio.common.Priority.
"""

from __future__ import annotations

FRESH_PRIORITY = 1
"""Sessions started by a drop: a new upload starts generating on the next free GPU."""
BATCH_PRIORITY = 5
"""Reruns of a reprocessing batch (fairness key: the batch id, so batches share fairly)."""
