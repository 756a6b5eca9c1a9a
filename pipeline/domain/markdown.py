"""Markdown for the Temporal UI in which text from outside stays text. Pure.

The Temporal UI renders a workflow's static summary and details, its current details and an
activity's summary as Markdown (sdk-python ``start_workflow``: "can be in Temporal markdown
format"), so a manifest's prompt pasted in as it is draws its links, images and HTML beside
the pipeline's own (shared case 10, after gravitational/teleport#58510). The rule, for every
module that writes that Markdown:

- Text the pipeline did not write itself (a manifest's prompt and fields, media and folder
  names, object keys, messages that quote them, ``--set`` values) goes in through ``code``: a
  code span, inside which CommonMark parses nothing (spec 0.31 §6.1: no emphasis, link,
  image, raw HTML or entity; GFM §6.9 recognizes no literal autolink there either).
- The pipeline links nothing there: a presigned URL would die after ``PRESIGN_EXPIRY_S``
  and inputs are never public, so keys show as code beside ``pipeline status``.
"""

from __future__ import annotations

import re

from pipeline.domain.controls import LINE_BREAKS, printable

_BACKTICKS = re.compile(r"`+")
"""RFC 3986's reserved and unreserved characters, less the parentheses: what ``link`` leaves
in a URL as it is; everything else (spaces, ``()<>``, backslash, controls, non-ASCII) is
percent-encoded, so nothing in it can end the link destination early."""


def code(text: str) -> str:
    """``text`` as one inline code span: ``code("a [b](c)")`` is ``"`a [b](c)`"``.

    On one line (line breaks and tabs become spaces, other controls their ``\\uXXXX``,
    ``controls.printable``), between backtick fences one longer than any run of backticks in
    it. CommonMark (§6.1) strips one space from each side of a span's content that begins and
    ends with one, unless it is all spaces: the content gets a space each side where it would
    lose one, or where a backtick at its edge would join the fence, so the span shows
    exactly the flattened ``text``. The empty text is a span of one space.
    """
    flat = printable(LINE_BREAKS.sub(" ", text).replace("\t", " "), keep="") or " "
    fence = "`" * (max((len(run) for run in _BACKTICKS.findall(flat)), default=0) + 1)
    spaced = flat[0] == flat[-1] == " " and flat.strip(" ")
    pad = " " if spaced or "`" in (flat[0], flat[-1]) else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
