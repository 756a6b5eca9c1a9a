"""C2PA Content Credentials on the session's outputs.

``credentials`` loads and proves the configured signing credential (PEM chain with a PEM
key or a ``module:function`` signer hook) and makes the embedded stack's development CA and
leaf; ``signing`` embeds a manifest into an MP4, JPEG or PNG (and tells one already
signed); ``verify`` checks a file's manifest against the operator's trust anchors. The
manifest's content is ``pipeline.domain.provenance``.
"""
