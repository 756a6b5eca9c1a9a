"""``HttpSource`` over ``httpx.MockTransport``: what it sends and how it reads answers."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from pipeline.domain.errors import SourceError
from pipeline.weights.fetch import HttpSource, fetch_part

TOKEN = "hf_secret"
BODY = bytes(range(256)) * 40
BODY_SHA256 = hashlib.sha256(BODY).hexdigest()


def body(status: int, data: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    """A streamed answer, as a server's is (a ``content=`` one cannot be streamed raw)."""
    length = {"Content-Length": str(len(data))}
    return httpx.Response(status, headers=length | (headers or {}), stream=httpx.ByteStream(data))


def recording(answer: httpx.Response | None = None) -> tuple[HttpSource, list[httpx.Request]]:
    """A source whose transport records each request and answers like a small hub + CDN."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if answer is not None:
            return answer
        if request.url.host == "huggingface.co":
            return httpx.Response(302, headers={"Location": "https://cas-bridge.xethub.hf.co/f"})
        return body(200, BODY)

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return HttpSource(client, hf_token=TOKEN), seen


def test_the_hf_token_goes_to_huggingface_only_never_past_a_redirect(tmp_path: Path) -> None:
    source, seen = recording()
    url = "https://huggingface.co/Comfy-Org/x/resolve/main/a.safetensors"
    assert fetch_part(source, url, tmp_path / "a.part", len(BODY), lambda n: None) == (
        BODY_SHA256,
        len(BODY),
    )
    assert [r.url.host for r in seen] == ["huggingface.co", "cas-bridge.xethub.hf.co"]
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "Authorization" not in seen[1].headers

    fetch_part(source, "https://mirror.example/a.safetensors", tmp_path / "b.part", None, print)
    assert "Authorization" not in seen[-1].headers
    assert all(r.headers["Accept-Encoding"] == "identity" for r in seen)


def test_a_resumed_request_asks_for_the_rest_and_appends(tmp_path: Path) -> None:
    part = tmp_path / "a.part"
    part.write_bytes(BODY[:1000])
    rest = body(206, BODY[1000:], {"Content-Range": f"bytes 1000-{len(BODY) - 1}/{len(BODY)}"})
    source, seen = recording(rest)
    progress: list[int] = []
    digest, size = fetch_part(source, "https://mirror.example/a", part, len(BODY), progress.append)
    assert seen[0].headers["Range"] == "bytes=1000-"
    assert (digest, size, sum(progress)) == (BODY_SHA256, len(BODY), len(BODY))


def test_a_source_serving_another_size_is_refused_for_good(tmp_path: Path) -> None:
    source, _ = recording(body(200, BODY[:-1]))
    with pytest.raises(SourceError, match="serves 10239 bytes, the lockfile says 10240") as caught:
        fetch_part(source, "https://mirror.example/a", tmp_path / "a.part", len(BODY), print)
    assert caught.value.permanent


@pytest.mark.parametrize(
    ("status", "permanent"), [(404, True), (403, True), (429, False), (503, False)]
)
def test_client_errors_are_permanent_server_errors_are_not(
    tmp_path: Path, status: int, permanent: bool
) -> None:
    source, _ = recording(httpx.Response(status))
    with pytest.raises(SourceError, match=f"HTTP {status}") as caught:
        fetch_part(source, "https://mirror.example/a", tmp_path / "a.part", None, print)
    assert caught.value.permanent is permanent
