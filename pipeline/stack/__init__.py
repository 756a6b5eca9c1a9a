"""The embedded stack: the Temporal dev server, moto (S3 + SQS) and comfy-sim as child processes."""
