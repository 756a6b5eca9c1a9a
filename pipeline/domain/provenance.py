"""The C2PA manifest definition a session's outputs are signed with: pure, no I/O.

``manifest_definition(facts, title=, mime=)`` turns what made a file (``ProvenanceFacts``)
into the JSON manifest definition c2pa-python's ``Builder`` takes: ``claim_generator_info``,
``title``, ``format``, a ``c2pa.actions.v2`` assertion with one ``c2pa.created`` action whose
``digitalSourceType`` is IPTC's ``trainedAlgorithmicMedia`` (C2PA 2.1, "Actions": v2 is the
version claims of version 2 carry), the inputs as ``inputTo`` ingredients with their sha256,
and the project's own assertion ``RENDER_ASSERTION`` (preset, models, graphs, sampler
settings, ComfyUI, worker, device, and ``credential: development`` under the development
credential).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.domain.rendering import SegmentRender

RENDER_ASSERTION = "org.wan-pipeline.render"
"""The label of the project's own assertion (C2PA 2.1, "Labels": an entity-specific label
is a reverse domain name)."""
ACTIONS_ASSERTION = "c2pa.actions.v2"
CREATED_ACTION = "c2pa.created"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
"""IPTC's digital source type for media made by a trained model (IPTC NewsCodes
"digitalsourcetype"), the one C2PA requires for generative AI output."""
DEVELOPMENT = "development"
INGREDIENT_SHA256 = "org.wan-pipeline.sha256"
"""Where an ingredient's sha256 goes: its ``metadata`` (C2PA 2.1, "Assertion metadata"
takes entity-specific fields; c2pa-rs keeps no other field of a definition's ingredient)."""
INGREDIENT_ROLE = "org.wan-pipeline.role"

Credential = Literal["development", "configured"]


class _Fact(BaseModel):
    model_config = ConfigDict(frozen=True)


class ModelFile(_Fact):
    file: str = Field(description="``folder/name`` under the models directory.")
    sha256: str | None = Field(description="From ``deploy/models.lock``; None while unpinned.")


class InputFile(_Fact):
    role: str = Field(description="The input's role: image or audio.")
    title: str = Field(description="Its file name.")
    mime: str = Field(description="Its MIME type, e.g. image/png, audio/wav.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Lower-case hex of its bytes.")


class ProvenanceFacts(_Fact):
    """Everything a signed output says about how it was made."""

    generator: str = Field(description="The pipeline's name (the distribution's).")
    version: str = Field(description="The pipeline's version.")
    kind: str = Field(description="i2v, s2v or infinitetalk.")
    preset: str
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    renders: tuple[SegmentRender, ...] = Field(
        default=(), description="The kept renders: one per segment, the attempt kept."
    )
    models: tuple[ModelFile, ...] = ()
    inputs: tuple[InputFile, ...] = ()
    credential: Credential = "configured"


def kept_renders(renders: tuple[SegmentRender, ...]) -> tuple[SegmentRender, ...]:
    """Each segment's last attempt (the one the session kept: re-renders replace it), in
    segment order."""
    last: dict[int, SegmentRender] = {}
    for render in renders:
        if render.index not in last or render.attempt >= last[render.index].attempt:
            last[render.index] = render
    return tuple(last[index] for index in sorted(last))


def _first(renders: tuple[SegmentRender, ...], field: str) -> str | None:
    values = sorted({getattr(r.rendering, field) for r in renders if r.rendering is not None})
    return ", ".join(values) if values else None


def render_assertion(facts: ProvenanceFacts) -> dict[str, Any]:
    """The data of the ``RENDER_ASSERTION`` assertion. Where segments ran on several
    workers (or devices, ComfyUI versions) the values are joined with ``, ``."""
    renders = kept_renders(facts.renders)
    data: dict[str, Any] = {
        "kind": facts.kind,
        "preset": facts.preset,
        "models": [m.model_dump() for m in facts.models],
        "graphs": [
            {
                "segment": r.index,
                "attempt": r.attempt,
                "graph_sha256": r.rendering.graph_sha256 if r.rendering else None,
            }
            for r in renders
        ],
        "seed": facts.seed,
        "steps": facts.steps,
        "cfg": facts.cfg,
        "comfyui_version": _first(renders, "comfyui_version"),
        "worker": _first(renders, "worker"),
        "device": _first(renders, "device"),
    }
    if facts.credential == DEVELOPMENT:
        data["credential"] = DEVELOPMENT
    return data


def manifest_definition(facts: ProvenanceFacts, *, title: str, mime: str) -> dict[str, Any]:
    """The manifest definition for one output file ``title`` of type ``mime``
    (video/mp4, image/jpeg, image/png).

    Shape: c2pa-python's ``Builder`` JSON (c2pa-rs ``ManifestDefinition``).
    """
    agent = {"name": facts.generator, "version": facts.version}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": mime,
        "ingredients": [
            {
                "title": item.title,
                "format": item.mime,
                "relationship": "inputTo",
                "metadata": {INGREDIENT_SHA256: item.sha256, INGREDIENT_ROLE: item.role},
            }
            for item in facts.inputs
        ],
        "assertions": [
            {
                "label": ACTIONS_ASSERTION,
                "data": {
                    "actions": [
                        {
                            "action": CREATED_ACTION,
                            "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                            "softwareAgent": agent,
                        }
                    ]
                },
            },
            {"label": RENDER_ASSERTION, "data": render_assertion(facts)},
        ],
    }


class SignedObject(_Fact):
    key: str = Field(description="The object signed in place.")
    manifest: str = Field(description="Its active C2PA manifest's label, ``urn:c2pa:…``.")


class ProvenanceRecord(_Fact):
    """What ``result.json`` says of the outputs' Content Credentials."""

    assertion: str = Field(
        default=RENDER_ASSERTION, description="The label of the pipeline's own assertion."
    )
    signer: str = Field(description="The signing certificate's subject (RFC 4514).")
    development: bool = Field(
        description="Whether the development credential signed (the embedded stack's CA, "
        "trusted nowhere else)."
    )
    objects: dict[str, SignedObject] = Field(
        description="Output name (combined, segment_000, preview_poster…) → what was signed."
    )
