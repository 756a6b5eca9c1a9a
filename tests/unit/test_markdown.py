"""Text from outside is inert in the UI's Markdown (pipeline.domain.markdown), read back by an
independent CommonMark implementation (markdown-it-py, raw HTML on, as a permissive UI)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from pipeline.domain.controls import BIDI
from pipeline.domain.drop import DropRef
from pipeline.domain.manifest import Kind, Manifest
from pipeline.domain.markdown import code
from pipeline.ingest import summary

RENDERER = MarkdownIt("commonmark", {"html": True})
PHISH = "http://127.0.0.1:28999"
CASE_PROMPT = (
    f"a calm smile ![status]({PHISH}/pixel.png?from=details) "
    f'[Approve this render]({PHISH}/phish) <img src="{PHISH}/imgtag.png">'
)
"""Shared case 10's prompt."""

shown_text = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="".join(BIDI)
    ),
    min_size=1,
)
"""Text without line breaks or controls: what a code span shows as it is."""


def inline(markdown: str) -> list[tuple[str, str]]:
    """The inline tokens (type, content) CommonMark parses ``markdown`` into."""
    [paragraph] = [t for t in RENDERER.parse(markdown) if t.type == "inline"]
    return [(t.type, t.content) for t in paragraph.children or []]


@given(shown_text)
def test_any_text_is_one_code_span_showing_exactly_that_text(text: str) -> None:
    assert inline(code(text)) == [("code_inline", text)]


@given(st.text(min_size=1))
def test_no_text_renders_a_link_an_image_or_html(text: str) -> None:
    html = RENDERER.render(f"> {code(text)} after")
    assert "<a " not in html
    assert "<img" not in html
    assert "<code>" in html
    assert html.rstrip().endswith("after</p>\n</blockquote>")


def test_backticks_at_the_edges_and_inside_stay_inside_the_span() -> None:
    for text in ("`", "a`b", "``a``", "x```](http://e)`", " lead", "trail ", "  "):
        assert inline(code(text)) == [("code_inline", text)], code(text)


def test_line_breaks_and_controls_become_spaces_and_escapes() -> None:
    assert inline(code("a\n\n[b](http://e)\r\nc\td")) == [("code_inline", "a  [b](http://e) c d")]
    assert inline(code("red\x1b[31m")) == [("code_inline", "red\\u001b[31m")]
    assert inline(code("")) == [("code_inline", " ")]


def test_the_details_show_the_cases_prompt_as_text_and_link_nothing() -> None:
    drop = DropRef.of("bucket", "inbox/[x](http://e)/manifest.json", "etag")
    manifest = Manifest(kind=Kind.I2V, image="face.png", prompt=CASE_PROMPT)
    inputs = {"image": f"sessions/{drop.session_id}/inputs/face.png"}

    html = RENDERER.render(summary.details(drop, manifest, inputs))
    assert "<img" not in html
    assert "<a " not in html, html
    assert "Approve this render" in html  # shown, as text
    assert f"<code>{inputs['image']}</code>" in html
    assert f"<code>pipeline status {drop.session_id}</code>" in html
    assert "<a " not in RENDERER.render(summary.summary(drop, manifest))
