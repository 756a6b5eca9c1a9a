"""The embedded stack (``pipeline up``): the Temporal dev server, moto (S3 + SQS) and comfy-sim
as child processes, the workers beside them, and the bucket's event rules (``provision``)."""
