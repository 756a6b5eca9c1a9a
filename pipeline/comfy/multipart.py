"""A streamed ``multipart/form-data`` body, for uploads too large to hold in memory.

httpx only streams multipart from sync file objects; ComfyUI's ``/upload/image`` is a plain
aiohttp form handler that reads a chunked body just as well, so the body is built here. The
GPU worker streams each segment input from the bucket through it (``ObjectStore.stream``),
so an input is never whole in the worker's memory.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator, Mapping


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartStream:
    """Text ``fields`` first, then one file part whose bytes come from ``chunks``."""

    def __init__(
        self,
        fields: Mapping[str, str],
        *,
        file_field: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterable[bytes],
    ) -> None:
        self.boundary = uuid.uuid4().hex
        self._fields = fields
        self._file_field = file_field
        self._filename = filename
        self._file_type = content_type
        self._chunks = chunks

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    async def __aiter__(self) -> AsyncIterator[bytes]:
        dash = f"--{self.boundary}\r\n".encode()
        for name, value in self._fields.items():
            yield dash
            yield f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode()
            yield value.encode() + b"\r\n"
        yield dash
        yield (
            f'Content-Disposition: form-data; name="{_quote(self._file_field)}"; '
            f'filename="{_quote(self._filename)}"\r\nContent-Type: {self._file_type}\r\n\r\n'
        ).encode()
        async for chunk in self._chunks:
            if chunk:
                yield chunk
        yield f"\r\n--{self.boundary}--\r\n".encode()
