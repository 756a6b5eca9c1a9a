"""``POST /upload/image`` and ``GET /view``, with ComfyUI's exact rules and status codes.

Upload: any file type; the same bytes under the same name are not stored twice; different
bytes get ``name (1).ext`` unless ``overwrite``; a missing ``image`` field or a subfolder
escaping the dir is ``400`` with an empty body. View: ``..`` in the file name ``400``, a
subfolder escaping the dir ``403``, unknown ``type`` ``400``, missing file ``404``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import mimetypes
import os
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler
from PIL import Image

from pipeline.standins.comfy_sim.paths import DataDirs

Route = tuple[str, str, Handler]
_FORCED_DOWNLOAD = {
    "text/html",
    "text/html-sandboxed",
    "application/xhtml+xml",
    "text/javascript",
    "text/css",
}


def _same_bytes(path: Path, data: bytes) -> bool:
    return hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(data).digest()


def _image_response(body: bytes, content_type: str, filename: str) -> web.Response:
    return web.Response(
        body=body,
        content_type=content_type,
        headers={"Content-Disposition": f'filename="{filename}"'},
    )


def _store_upload(
    base: Path, subfolder: str, filename: str, data: bytes, overwrite: bool
) -> str | None:
    """Write an upload like ComfyUI; the stored name, or ``None`` if it escapes ``base``."""
    folder = base / os.path.normpath(subfolder)
    target = Path(os.path.abspath(folder / filename))  # noqa: PTH100 - no symlink resolving
    if os.path.commonpath((base, target)) != str(base):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = os.path.splitext(filename)  # noqa: PTH122 - ComfyUI's split, dots included
    if not overwrite:
        counter = 1
        while target.exists():
            if _same_bytes(target, data):
                return filename
            filename = f"{stem} ({counter}){ext}"
            target = folder / filename
            counter += 1
    target.write_bytes(data)
    return filename


def _view_target(dirs: DataDirs, query: Mapping[str, str]) -> Path | int:
    """The file ``/view`` serves, or the status code refusing it."""
    filename, base = dirs.annotated(query["filename"])
    if not filename or filename[0] == "/" or ".." in filename:
        return 400
    folder = base or dirs.by_type(query.get("type", "output"))
    if folder is None:
        return 400
    if "subfolder" in query:
        inner = folder / query["subfolder"]
        if os.path.commonpath((os.path.abspath(inner), folder)) != str(folder):  # noqa: PTH100
            return 403
        folder = inner
    path = folder / Path(filename).name
    return path if path.is_file() else 404


def file_routes(dirs: DataDirs) -> list[Route]:
    async def upload_image(request: web.Request) -> web.StreamResponse:
        post = await request.post()
        image, kind = post.get("image"), post.get("type")
        upload_type = kind if kind in ("input", "temp", "output") else "input"
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        subfolder = str(post.get("subfolder", ""))
        stored = await asyncio.to_thread(
            _store_upload,
            dirs.by_type(str(upload_type)) or dirs.input,
            subfolder,
            image.filename,
            image.file.read(),
            str(post.get("overwrite")) in ("true", "1"),
        )
        if stored is None:
            return web.Response(status=400)
        return web.json_response({"name": stored, "subfolder": subfolder, "type": upload_type})

    async def view(request: web.Request) -> web.StreamResponse:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        target = _view_target(dirs, query)
        if isinstance(target, int):
            return web.Response(status=target)
        filename = target.name
        if "preview" in query:
            return _preview(target, filename, query["preview"], query.get("channel", ""))
        channel = query.get("channel", "rgba")
        if channel in ("rgb", "a"):
            return _channel(target, filename, channel)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        if content_type in _FORCED_DOWNLOAD:
            content_type = "application/octet-stream"
        return web.FileResponse(
            target,
            headers={"Content-Disposition": f'filename="{filename}"', "Content-Type": content_type},
        )

    return [("POST", "/upload/image", upload_image), ("GET", "/view", view)]


def _preview(path: Path, filename: str, spec: str, channel: str) -> web.Response:
    image_format, *rest = spec.split(";")
    if image_format not in ("webp", "jpeg") or "a" in channel:
        image_format = "webp"
    quality = int(rest[-1]) if rest and rest[-1].isdigit() else 90
    buffer = io.BytesIO()
    with Image.open(path) as img:
        converted = img.convert("RGB") if image_format == "jpeg" or channel == "rgb" else img
        converted.save(buffer, format=image_format, quality=quality)
    return _image_response(buffer.getvalue(), f"image/{image_format}", filename)


def _channel(path: Path, filename: str, channel: str) -> web.Response:
    buffer = io.BytesIO()
    with Image.open(path) as img:
        if channel == "rgb":
            img.convert("RGB").save(buffer, format="PNG")
        else:
            alpha = img.getchannel("A") if img.mode == "RGBA" else Image.new("L", img.size, 255)
            only_alpha = Image.new("RGBA", img.size)
            only_alpha.putalpha(alpha)
            only_alpha.save(buffer, format="PNG")
    return _image_response(buffer.getvalue(), "image/png", filename)
